#pragma once
// The few command-line options the GPU bench programs take ("--name value" and bare "--flag"),
// torch-free. Unknown options are a UsageError naming them, so a typo in scripts/gpu-check.sh fails loudly.
#include <cstdint>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "oft/errors.h"

namespace oft::bench {

class Args {
 public:
  // `flags` take no value; every other option in `options` takes one.
  Args(int argc, char** argv, const std::set<std::string>& options, const std::set<std::string>& flags) {
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      if (flags.count(arg)) {
        values_[arg] = "1";
      } else if (options.count(arg)) {
        if (i + 1 >= argc) throw UsageError(arg + ": expected a value");
        values_[arg] = argv[++i];
      } else {
        throw UsageError("unknown argument '" + arg + "'");
      }
    }
  }
  bool has(const std::string& name) const { return values_.count(name) > 0; }
  std::string get(const std::string& name, const std::string& fallback) const {
    const auto it = values_.find(name);
    return it == values_.end() ? fallback : it->second;
  }
  double number(const std::string& name, double fallback) const {
    const std::string text = get(name, "");
    if (text.empty()) return fallback;
    try {
      return std::stod(text);
    } catch (const std::exception&) {
      throw UsageError(name + ": expected a number, got '" + text + "'");
    }
  }
  // "8192,2048" -> {8192, 2048}
  std::vector<int64_t> integers(const std::string& name, const std::string& fallback) const {
    std::vector<int64_t> out;
    std::stringstream list(get(name, fallback));
    for (std::string item; std::getline(list, item, ',');) {
      try {
        out.push_back(std::stoll(item));
      } catch (const std::exception&) {
        throw UsageError(name + ": expected comma-separated integers, got '" + item + "'");
      }
    }
    return out;
  }

 private:
  std::map<std::string, std::string> values_;
};

}  // namespace oft::bench
