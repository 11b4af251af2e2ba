#pragma once
// Reading and writing the safetensors format (PEFT's adapter_model.safetensors, Hugging Face
// checkpoints, our golden data). The reader validates the header completely before touching any
// data; the writer is atomic (temporary file + rename).
#include <filesystem>
#include <map>
#include <string>

#include <ATen/core/Tensor.h>

#include "oft/export.h"

namespace oft::safetensors {

using TensorMap = std::map<std::string, at::Tensor>;
using Metadata = std::map<std::string, std::string>;

struct Contents {
  TensorMap tensors;  // CPU tensors owning their memory
  Metadata metadata;  // the "__metadata__" string map (may be empty)
};

// Throws FormatError naming the file and the problem: header length out of bounds, header not a
// JSON object, unknown dtype, bad shape, offsets outside the data or overlapping or leaving gaps,
// or a byte count that does not match dtype x shape.
OFT_CORE_API Contents load(const std::filesystem::path& path);

// Writes CPU copies of the tensors (made contiguous). Throws UsageError for an undefined tensor or
// a dtype the format has no name for.
OFT_CORE_API void save(const std::filesystem::path& path, const TensorMap& tensors, const Metadata& metadata = {});

}  // namespace oft::safetensors
