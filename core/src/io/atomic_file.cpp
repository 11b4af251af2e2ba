#include "oft/io/atomic_file.h"

#include <atomic>
#include <fstream>
#include <string>

#include <unistd.h>

#include "oft/errors.h"

namespace oft {

void write_atomically(const std::filesystem::path& path, const std::function<void(std::ostream&)>& write) {
  // Unique per process and per call, so concurrent writers never share a temporary file.
  static std::atomic<uint64_t> counter{0};
  const std::filesystem::path tmp =
      path.string() + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  try {
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      if (!out) throw FormatError("cannot write " + path.string() + ": cannot create " + tmp.string());
      write(out);
      out.flush();
      if (!out) throw FormatError("cannot write " + path.string() + ": write failed (disk full?)");
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec)
      throw FormatError("cannot write " + path.string() + ": rename from " + tmp.string() + " failed: " + ec.message());
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw;
  }
}

}  // namespace oft
