#include "compute_options.h"

#include "host.h"
#include "oft/device/device.h"
#include "oft/errors.h"
#include "oft/log.h"

namespace oft::app {

void add_compute_options(CLI::App& cmd, ComputeFlags& flags, bool eval_flag) {
  cmd.add_option("--device", flags.device, "cpu, cuda or cuda:N (default: the host config's \"device\", else cpu)");
  cmd.add_option("--dtype", flags.dtype,
                 "fp32, bf16 or fp16: the model's weights (adapters stay fp32); default: the host config's "
                 "\"dtype\", else the checkpoint's");
  if (eval_flag)
    cmd.add_flag("--no-eval-weight-cache", flags.no_eval_weight_cache,
                 "do not keep a rotated copy of each adapted weight for eval forwards (saves that memory)");
}

ComputeSettings resolve_compute(const Host& host, const ComputeFlags& flags,
                                const std::optional<std::string>& device_key,
                                const std::optional<std::string>& dtype_key) {
  ComputeSettings s;
  if (!flags.device.empty())
    s.device = parse_device(flags.device, "--device");
  else if (device_key)
    s.device = parse_device(*device_key, "TRAIN.json 'device'");
  else if (host.device())
    s.device = *host.device();
  if (!flags.dtype.empty())
    s.dtype = parse_dtype(flags.dtype, "--dtype");
  else if (dtype_key)
    s.dtype = parse_dtype(*dtype_key, "TRAIN.json 'dtype'");
  else
    s.dtype = host.dtype();
  s.eval_weight_cache = !flags.no_eval_weight_cache && host.eval_weight_cache();
  try {
    prepare_device(s.device);
  } catch (const UsageError& e) {
    throw UsageError("cannot compute on " + s.device.str() + ": " + e.what());
  }
  logger()->debug("computing on {} in {}{}", s.device.str(), s.dtype ? dtype_name(*s.dtype) : "the checkpoint's dtype",
                  s.eval_weight_cache ? "" : ", no eval weight cache");
  return s;
}

void warn_output_dtype_from_host(const Host& host, const ComputeFlags& flags, const std::string& output) {
  if (flags.dtype.empty() && host.dtype())
    logger()->warn("{} is written in {}, the host config's \"dtype\" (--dtype chooses another)", output,
                   dtype_name(*host.dtype()));
}

}  // namespace oft::app
