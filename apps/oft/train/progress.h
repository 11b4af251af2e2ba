#pragma once
// A one-line progress bar for training on stderr: step, loss, examples per second and time left.
// On a terminal it redraws in place; otherwise (logs, CI) it prints a line every tenth of the run.
#include <chrono>
#include <cstdint>
#include <string>

namespace oft::app {

class Progress {
 public:
  Progress(std::string label, int64_t first_step, int64_t last_step);
  void update(int64_t step, double loss, int64_t examples);  // `step` just finished (1-based)
  void finish();

 private:
  std::string label_;
  int64_t first_step_, last_step_;
  int64_t examples_ = 0;
  double smoothed_loss_ = -1;
  bool terminal_;
  std::chrono::steady_clock::time_point start_;
};

}  // namespace oft::app
