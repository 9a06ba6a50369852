// The CPU slot: the Thrust steps of model_steps.cuh through Thrust's CPP system (plain loops on
// the calling thread) and GEMMs through single-threaded OpenBLAS. Built with
// THRUST_DEVICE_SYSTEM=THRUST_DEVICE_SYSTEM_CPP (CMakeLists.txt), so no CUDA header is pulled in.
#include <cblas.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include <thrust/system/cpp/execution_policy.h>

#include "backend.h"
#include "model_steps.cuh"

namespace cusweep {
namespace {

class CpuSlot final : public steps::ThrustSteps<CpuSlot> {
 public:
  explicit CpuSlot(int index) : location_("cpu:" + std::to_string(index)) {}

  auto policy() { return thrust::cpp::par; }

  void* allocate(size_t bytes) override {
    // 64-byte alignment for the BLAS kernels' vector loads.
    void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (p == nullptr && bytes != 0) throw std::bad_alloc();
    return p;
  }
  void deallocate(void* ptr) override { std::free(ptr); }
  void copy_to_device(void* dst, const void* src, size_t bytes) override {
    std::memcpy(dst, src, bytes);
  }
  void copy_to_host(void* dst, const void* src, size_t bytes) override {
    std::memcpy(dst, src, bytes);
  }
  void synchronize() override {}

  void gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
            const float* b, int ldb, float beta, float* c, int ldc) override {
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }

  const char* location() const override { return location_.c_str(); }

 private:
  std::string location_;
};

}  // namespace

std::unique_ptr<Slot> make_cpu_slot(int index) {
  return std::make_unique<CpuSlot>(index);
}

}  // namespace cusweep
