// liboft_nccl on a GPU (label gpu; built only with CUDA): loads the library as `oft train` does,
// creates c10d's ProcessGroupNCCL for a 1-rank run (one GPU is enough), and all-reduces and barriers
// through it. Skipped where no CUDA device is visible. Two ranks need two GPUs: see
// docs/distributed-training.md for the multi-GPU check.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <chrono>

#include <ATen/ATen.h>
#include <ATen/Context.h>
#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "distributed_nccl.h"
#include "distributed_supervisor.h"

namespace {

class NcclBackend : public ::testing::Test {
 protected:
  void SetUp() override {
    void* library = dlopen(OFT_NCCL_LIBRARY, RTLD_NOW | RTLD_GLOBAL);  // brings torch_cuda, as in `oft train`
    ASSERT_NE(library, nullptr) << dlerror();
    if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA device is visible: liboft_nccl is checked on a GPU machine";
    create_ = reinterpret_cast<decltype(oft_nccl_backend)*>(dlsym(library, "oft_nccl_backend"));
    ASSERT_NE(create_, nullptr);
    c10d::TCPStoreOptions options;
    options.port = static_cast<uint16_t>(oft::app::free_local_port());
    options.isServer = true;
    options.numWorkers = 1;
    options.timeout = std::chrono::seconds(30);
    store_ = c10::make_intrusive<c10d::TCPStore>("127.0.0.1", options);
  }

  // A 1-rank group on GPU `device`; 0 on success, else the message is in message_.
  int create(int device) { return create_(&store_, 0, 1, device, 30000, &backend_, message_, sizeof message_); }

  decltype(oft_nccl_backend)* create_ = nullptr;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<c10d::Backend> backend_;
  char message_[1024] = {};
};

TEST_F(NcclBackend, OneRankAllReducesACudaTensorAndBarriers) {
  ASSERT_EQ(create(0), 0) << message_;
  ASSERT_TRUE(backend_);
  at::Tensor values = at::arange(6, at::TensorOptions().dtype(at::kFloat).device(at::kCUDA, 0));
  std::vector<at::Tensor> tensors{values};
  backend_->allreduce(tensors)->wait();
  EXPECT_TRUE(values.cpu().equal(at::arange(6, at::kFloat)));  // the sum over one rank: itself
  backend_->barrier()->wait();
}

TEST_F(NcclBackend, ReportsABadDeviceAsText) {
  EXPECT_NE(create(100), 0);  // no GPU 100
  EXPECT_GT(std::string(message_).size(), 0u);
  EXPECT_FALSE(backend_);
}

}  // namespace
