#pragma once
// For plugin fuzz targets (plugins/<name>/fuzz/): runs a reader on fuzzed input, letting only the
// std::invalid_argument a format may throw (the format registry reports it with module and plugin) pass;
// any other exception escaping, a crash or a sanitizer report is a finding.
#include <stdexcept>

namespace oft::fuzz {

template <typename Read>
void expect_invalid_argument_at_most(Read&& read) {
  try {
    read();
  } catch (const std::invalid_argument&) {
  }
}

}  // namespace oft::fuzz
