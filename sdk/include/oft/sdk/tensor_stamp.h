#pragma once
// TensorStamp: which values of a tensor a cache (OFTLayer's folded weight, OFTRotation's blocks, a plugin's
// DequantizedWeightCache) was built from.
// In-place changes bump the version; Module::to swaps in a new storage (set_data, no version bump), so the storage is
// compared too. It is held weakly: the StorageImpl object then outlives its data and no later storage can take its
// address, which a raw pointer would allow after a to(bf16)->to(fp32) round trip.
#include <cstdint>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <c10/core/ScalarType.h>
#include <c10/core/StorageImpl.h>
#include <c10/util/intrusive_ptr.h>

// Header-only, not part of the plugin ABI (tests/abi leaves it out): each user compiles its own copy.
namespace oft::sdk {

class TensorStamp {
 public:
  // Inference tensors have no version counter: callers do not cache what is built from them.
  static bool trackable(const at::Tensor& t) { return !t.is_inference(); }

  explicit TensorStamp(const at::Tensor& t)
      : storage_(t.storage().getWeakStorageImpl()),
        data_(t.const_data_ptr()),
        version_(t._version()),
        dtype_(t.scalar_type()),
        device_(t.device()) {}

  bool matches(const at::Tensor& t) const {
    return storage_._unsafe_get_target() == t.storage().unsafeGetStorageImpl() && data_ == t.const_data_ptr() &&
           version_ == t._version() && dtype_ == t.scalar_type() && device_ == t.device();
  }

 private:
  c10::weak_intrusive_ptr<c10::StorageImpl> storage_;
  const void* data_;
  int64_t version_;
  c10::ScalarType dtype_;
  c10::Device device_;
};

}  // namespace oft::sdk
