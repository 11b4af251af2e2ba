#include "progress.h"

#include <cstdio>

#include <unistd.h>

#include "oft/log.h"

namespace oft::app {

Progress::Progress(std::string label, int64_t first_step, int64_t last_step)
    : label_(std::move(label)),
      first_step_(first_step),
      last_step_(last_step),
      terminal_(isatty(fileno(stderr)) != 0),
      start_(std::chrono::steady_clock::now()) {}

void Progress::update(int64_t step, double loss, int64_t examples) {
  examples_ += examples;
  smoothed_loss_ = smoothed_loss_ < 0 ? loss : 0.9 * smoothed_loss_ + 0.1 * loss;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const int64_t done = step - first_step_, total = last_step_ - first_step_;
  const double per_step = done > 0 ? seconds / static_cast<double>(done) : 0;
  const double eta = per_step * static_cast<double>(last_step_ - step);
  const double rate = seconds > 0 ? static_cast<double>(examples_) / seconds : 0;
  if (terminal_) {
    const int width = 24;
    const int filled = total > 0 ? static_cast<int>(width * done / total) : width;
    std::fprintf(stderr, "\r%s [%s%s] %lld/%lld  loss %.4f  %.1f ex/s  %.0fs left ", label_.c_str(),
                 std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(),
                 static_cast<long long>(step), static_cast<long long>(last_step_), smoothed_loss_, rate, eta);
    std::fflush(stderr);
  } else if (total > 0 && (done * 10 / total != (done - 1) * 10 / total || step == last_step_)) {
    logger()->info("{} step {}/{}  loss {:.4f}  {:.1f} ex/s  {:.0f}s left", label_, step, last_step_, smoothed_loss_,
                   rate, eta);
  }
}

void Progress::finish() {
  if (terminal_) std::fprintf(stderr, "\n");
}

}  // namespace oft::app
