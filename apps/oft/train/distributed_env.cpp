#include "distributed_env.h"

#include <charconv>
#include <cstdlib>

#include "oft/errors.h"

namespace oft::app {
namespace {

int integer_variable(const EnvLookup& lookup, const std::string& name, int min, int max) {
  const auto text = lookup(name);
  if (!text) throw UsageError("environment variable " + name + " is not set (a data-parallel worker needs it)");
  int value = 0;
  const auto [end, error] = std::from_chars(text->data(), text->data() + text->size(), value);
  if (error != std::errc() || end != text->data() + text->size() || value < min || value > max)
    throw UsageError("environment variable " + name + "=\"" + *text + "\" must be an integer in [" +
                     std::to_string(min) + ", " + std::to_string(max) + "]");
  return value;
}

}  // namespace

WorkerPlace worker_place_from_environment(const EnvLookup& given) {
  const EnvLookup lookup = given ? given : [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    return value ? std::optional<std::string>(value) : std::nullopt;
  };
  WorkerPlace place;
  if (!lookup("WORLD_SIZE")) return place;
  place.world_size = integer_variable(lookup, "WORLD_SIZE", 1, 1 << 20);
  if (place.world_size == 1) return place;
  place.rank = integer_variable(lookup, "RANK", 0, place.world_size - 1);
  if (lookup("LOCAL_RANK")) place.local_rank = integer_variable(lookup, "LOCAL_RANK", 0, place.world_size - 1);
  const auto addr = lookup("MASTER_ADDR");
  if (!addr || addr->empty()) throw UsageError("environment variable MASTER_ADDR (the host of rank 0) is not set");
  place.master_addr = *addr;
  place.master_port = integer_variable(lookup, "MASTER_PORT", 1, 65535);
  return place;
}

std::string resolve_backend(const std::string& requested, bool cuda_device) {
  if (requested != "auto" && requested != "gloo" && requested != "nccl")
    throw UsageError("distributed backend must be \"auto\", \"gloo\" or \"nccl\", got \"" + requested + "\"");
  const std::string backend = requested == "auto" ? (cuda_device ? "nccl" : "gloo") : requested;
  if (backend == "nccl" && !cuda_device)
    throw UsageError(
        "the nccl backend needs CUDA tensors (one GPU per local rank) and a CUDA build of oft: train on a CUDA "
        "device, or on the CPU with the gloo backend");
  if (backend == "gloo" && cuda_device)
    throw UsageError("the gloo backend takes CPU tensors: train on the CPU, or use the nccl backend on CUDA");
  return backend;
}

ShareRange contiguous_share(int64_t count, int rank, int world_size) {
  const int64_t base = count / world_size, extra = count % world_size;
  const int64_t begin = rank * base + std::min<int64_t>(rank, extra);
  return {begin, begin + base + (rank < extra ? 1 : 0)};
}

}  // namespace oft::app
