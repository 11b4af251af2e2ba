#pragma once
// Shared by the GPU benchmark programs (bench/gpu/): device timing, medians, peak memory and the one
// JSON object each program prints. Timing on CUDA uses CUDA events through c10's device-generic
// interface (c10::Event, VirtualGuardImpl), so the programs link only liboft_core and reach LibTorch's
// CUDA backend through oft::prepare_device, as `oft` does. On the CPU (the --small smoke runs) it is
// the wall clock.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <iostream>
#include <malloc.h>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <ATen/ops/empty_like.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/randn.h>
#include <c10/core/CachingDeviceAllocator.h>
#include <c10/core/Device.h>
#include <c10/core/Event.h>
#include <c10/core/impl/VirtualGuardImpl.h>
#include <nlohmann/json.hpp>
#include <torch/version.h>

namespace oft::bench {

struct TimingOptions {
  int warmup = 3;         // untimed calls first (kernel selection, caches, allocator)
  int min_samples = 10;   // then at least this many timed calls ...
  double budget_s = 1.0;  // ... and keep sampling until this much wall time passed
  int max_samples = 200;
};

struct Timing {
  double median_ms = 0;
  int samples = 0;
};

// "cuda" means "cuda:0": events and memory statistics need an index.
inline c10::Device with_index(const c10::Device& device) {
  return device.is_cuda() && !device.has_index() ? c10::Device(c10::kCUDA, 0) : device;
}

inline void synchronize(const c10::Device& device) {
  if (device.is_cuda()) c10::impl::VirtualGuardImpl(device.type()).synchronizeDevice(device.index());
}

// One call of fn in milliseconds: between two CUDA events on the current stream (the GPU's time, as
// torch.cuda.Event measures it in the Python peers), or the wall clock on the CPU.
inline double time_once(const c10::Device& device, const std::function<void()>& fn) {
  if (device.is_cuda()) {
    c10::impl::VirtualGuardImpl impl(device.type());
    const c10::Stream stream = impl.getStream(device);
    c10::Event begin(device.type(), c10::EventFlag::BACKEND_DEFAULT);
    c10::Event end(device.type(), c10::EventFlag::BACKEND_DEFAULT);
    begin.record(stream);
    fn();
    end.record(stream);
    end.synchronize();
    return begin.elapsedTime(end);
  }
  const auto t0 = std::chrono::steady_clock::now();
  fn();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

inline double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const size_t n = values.size();
  return n % 2 ? values[n / 2] : 0.5 * (values[n / 2 - 1] + values[n / 2]);
}

// fn's GPU time per call when the calls come faster than the GPU runs them (a decode loop whose host runs ahead,
// or CUDA graphs): `calls` calls are enqueued behind held-up work, so the GPU reaches the first only after the host
// has enqueued the last, and two events bracket the calls back to back. time_once's single call starts on an idle
// GPU instead, so its time includes the host's work before the first launch, which for a kernel of a few µs can be
// most of it. The hold is products of 8192² bf16 matrices (about 1 ms each on an H200: few launches, since CUDA
// blocks the host once about a thousand wait), as many as cover hold_ms_, which doubles whenever the GPU still
// caught up (begin complete once everything up to `end` was enqueued). On the CPU: the wall time per call.
class QueuedTimer {
 public:
  static constexpr int kDefaultCalls = 20;  // per sample: enough that the two events' own cost is a small part

  explicit QueuedTimer(const c10::Device& device, int calls = kDefaultCalls) : device_(device), calls_(calls) {
    if (calls < 1) throw std::invalid_argument("QueuedTimer: calls must be at least 1");
    if (device.is_cuda()) {
      hold_a_ = at::randn({8192, 8192}, at::TensorOptions().device(device).dtype(at::kBFloat16));
      hold_out_ = at::empty_like(hold_a_);
      hold();  // cuBLAS's first call sets itself up
      product_ms_ = time_once(device, [this] { hold(); });
    }
  }

  double operator()(const std::function<void()>& fn) {
    if (!device_.is_cuda()) return time_once(device_, [&] { run(fn); }) / calls_;
    c10::impl::VirtualGuardImpl impl(device_.type());
    const c10::Stream stream = impl.getStream(device_);
    for (;;) {
      const auto products = static_cast<int>(std::ceil(hold_ms_ / std::max(product_ms_, 1e-3)));
      for (int i = 0; i < products; ++i) hold();
      c10::Event begin(device_.type(), c10::EventFlag::BACKEND_DEFAULT);
      c10::Event end(device_.type(), c10::EventFlag::BACKEND_DEFAULT);
      begin.record(stream);
      run(fn);
      end.record(stream);
      const bool caught_up = begin.query();  // the GPU reached the calls before all were enqueued: gaps may be timed
      end.synchronize();
      if (!caught_up) return begin.elapsedTime(end) / calls_;
      if (hold_ms_ >= kMaxHoldMs)
        throw std::runtime_error("queued timing: the GPU caught up with the host behind " + std::to_string(hold_ms_) +
                                 " ms of held-up work (does the timed call wait for the GPU, or launch so many kernels "
                                 "that CUDA's launch queue fills?)");
      hold_ms_ *= 2;
    }
  }

 private:
  static constexpr double kMaxHoldMs = 512;
  void hold() { at::mm_out(hold_out_, hold_a_, hold_a_); }
  void run(const std::function<void()>& fn) const {
    for (int i = 0; i < calls_; ++i) fn();
  }
  c10::Device device_;
  int calls_;
  double hold_ms_ = 2;  // held-up GPU time before the calls
  double product_ms_ = 1;
  at::Tensor hold_a_, hold_out_;
};

// Each of `fns` timed by `sample` (default: time_once) in turns (a, b, a, b, ...) until each has min_samples and
// fns.size() * budget_s passed: the variants a ratio compares see the same GPU clocks and temperature, which drift
// over seconds of load (one after the other, the later one would pay for the earlier one's heat).
using Sampler = std::function<double(const std::function<void()>&)>;
inline std::vector<Timing> measure_interleaved(const c10::Device& device, const std::vector<std::function<void()>>& fns,
                                               const TimingOptions& options, Sampler sample = {}) {
  if (!sample) sample = [&device](const std::function<void()>& fn) { return time_once(device, fn); };
  for (const auto& fn : fns)
    for (int i = 0; i < options.warmup; ++i) fn();
  synchronize(device);
  std::vector<std::vector<double>> samples(fns.size());
  const double budget_s = options.budget_s * static_cast<double>(fns.size());
  const auto start = std::chrono::steady_clock::now();
  while (static_cast<int>(samples[0].size()) < options.max_samples) {
    for (size_t i = 0; i < fns.size(); ++i) samples[i].push_back(sample(fns[i]));
    const double spent = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (static_cast<int>(samples[0].size()) >= options.min_samples && spent >= budget_s) break;
  }
  std::vector<Timing> timings;
  for (const auto& s : samples) timings.push_back({median(s), static_cast<int>(s.size())});
  return timings;
}

inline Timing measure(const c10::Device& device, const std::function<void()>& fn, const TimingOptions& options) {
  return measure_interleaved(device, {fn}, options)[0];
}

// Peak bytes held by LibTorch's caching allocator since the last reset (CUDA only; the device-generic
// allocator interface these use exists from torch 2.9 on). Never throws: a torch whose CUDA allocator is not
// a c10::DeviceAllocator gives no number rather than losing the timing.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 9)
inline void reset_peak_memory(const c10::Device& device) {
  try {
    if (device.is_cuda()) c10::getDeviceAllocator(device.type())->resetPeakStats(device.index());
  } catch (const std::exception&) {  // reported as a missing number by peak_memory_gib
  }
}
inline std::optional<double> peak_memory_gib(const c10::Device& device) {
  if (!device.is_cuda()) return std::nullopt;
  try {
    const auto stats = c10::getDeviceAllocator(device.type())->getDeviceStats(device.index());
    return static_cast<double>(stats.allocated_bytes[0].peak) / (1024.0 * 1024.0 * 1024.0);  // [0]: all pools
  } catch (const std::exception&) {
    return std::nullopt;
  }
}
#else
inline void reset_peak_memory(const c10::Device&) {}
inline std::optional<double> peak_memory_gib(const c10::Device&) { return std::nullopt; }
#endif

// Bytes of the C heap in use (glibc's mallinfo2: small blocks plus mmapped ones). LibTorch's CPU allocator takes
// tensors' memory from malloc without caching it, so the difference across a forward is what that forward keeps
// alive (the CPU's stand-in for the CUDA allocator's peak; bench/gpu/bench_timing.py reads the same counters).
inline double heap_in_use_gib() {
  const struct mallinfo2 info = mallinfo2();
  return static_cast<double>(info.uordblks + info.hblkhd) / (1024.0 * 1024.0 * 1024.0);
}

// One measurement as every GPU bench program and Python peer reports it.
inline nlohmann::json measurement(const std::string& name, double value, const std::string& unit, int samples = 0) {
  nlohmann::json m = {{"name", name}, {"value", value}, {"unit", unit}};
  if (samples > 0) m["samples"] = samples;
  return m;
}

// Prints the report so far as one JSON line: after each section, so that a run cut short keeps it.
inline void print_report(const nlohmann::json& out) { std::cout << out.dump() << std::endl; }

// A bench program's whole run: `body` fills the report {"bench", "impl": "oft", "measurements", "errors"}
// (printed at the end); an exception out of it is reported in "errors" and exits 1.
inline int run_report(const std::string& bench, const std::function<void(nlohmann::json& out)>& body) {
  nlohmann::json out = {{"bench", bench},
                        {"impl", "oft"},
                        {"measurements", nlohmann::json::array()},
                        {"errors", nlohmann::json::array()}};
  try {
    body(out);
  } catch (const std::exception& e) {
    out["errors"].push_back(e.what());
    print_report(out);
    return 1;
  }
  print_report(out);
  return 0;
}

}  // namespace oft::bench
