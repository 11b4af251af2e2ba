// sdk::weight_buffer: reused memory inside a TransientWeightScope, never memory another tensor still holds, and
// fresh memory outside a scope and for a weight that DequantizedWeightCache keeps.
#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "oft/sdk/dequantized_weight_cache.h"
#include "oft/sdk/transient_weight_buffer.h"

namespace oft::sdk {
namespace {

TEST(TransientWeightBuffer, OutsideAScopeItIsFreshMemory) {
  const void* reused = nullptr;
  {
    const TransientWeightScope scope;
    reused = weight_buffer({16, 8}, at::kFloat).data_ptr();
  }
  const at::Tensor w = weight_buffer({16, 8}, at::kFloat);
  EXPECT_NE(w.data_ptr(), reused) << "the reused memory is handed out only inside a scope";
  EXPECT_EQ(w.sizes(), at::IntArrayRef({16, 8}));
  EXPECT_EQ(w.scalar_type(), at::kFloat);
  EXPECT_EQ(w.storage().use_count(), 1) << "nothing but w holds its memory";
}

TEST(TransientWeightBuffer, InsideAScopeReleasedMemoryIsReused) {
  const TransientWeightScope scope;
  at::Tensor first = weight_buffer({64, 32}, at::kFloat);
  const void* memory = first.data_ptr();
  first = at::Tensor();
  const at::Tensor second = weight_buffer({16, 8}, at::kHalf);
  EXPECT_EQ(second.data_ptr(), memory);
  EXPECT_TRUE(second.is_contiguous());
  EXPECT_EQ(second.scalar_type(), at::kHalf);
  EXPECT_EQ(second.sizes(), at::IntArrayRef({16, 8}));
}

TEST(TransientWeightBuffer, MemoryStillHeldIsNeverHandedOutAgain) {
  const TransientWeightScope scope;
  const at::Tensor held = weight_buffer({32, 32}, at::kFloat).fill_(1.0f);
  const at::Tensor next = weight_buffer({32, 32}, at::kFloat).fill_(2.0f);
  EXPECT_NE(next.data_ptr(), held.data_ptr());
  EXPECT_TRUE(at::equal(held, at::ones({32, 32})));
}

TEST(TransientWeightBuffer, AKeptWeightGetsFreshMemory) {
  const TransientWeightScope scope;
  at::Tensor transient = weight_buffer({32, 32}, at::kFloat);
  const void* reused = transient.data_ptr();
  transient = at::Tensor();
  {
    const KeptWeightScope kept;
    const at::Tensor w = weight_buffer({32, 32}, at::kFloat);
    EXPECT_NE(w.data_ptr(), reused);
    EXPECT_EQ(w.storage().use_count(), 1);
  }
  EXPECT_EQ(weight_buffer({32, 32}, at::kFloat).data_ptr(), reused) << "the scope is back after the kept weight";

  DequantizedWeightCache cache;
  cache.set_enabled(true);
  const at::Tensor source = at::zeros({4});
  const at::Tensor cached = cache.get({&source}, [] { return weight_buffer({32, 32}, at::kFloat).fill_(3.0f); });
  EXPECT_NE(cached.data_ptr(), reused) << "the cache must not keep the reused memory";
  weight_buffer({32, 32}, at::kFloat).fill_(4.0f);
  EXPECT_TRUE(at::equal(cached, at::full({32, 32}, 3.0f)));
}

}  // namespace
}  // namespace oft::sdk
