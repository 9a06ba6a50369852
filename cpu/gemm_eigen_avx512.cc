// Single-precision GEMM by Eigen, compiled for AVX-512 (this file alone: CMakeLists.txt). The
// CPU slot calls it only on a CPU with AVX-512 (cpu_gemm.h), so no AVX-512 instruction from
// here runs anywhere else. Nothing else in cusweep includes Eigen, so the Eigen functions
// instantiated here are the only ones the linker sees (a test checks that every weak symbol of
// this object is Eigen's).
// Eigen puts its packing blocks of up to 128 KB on the stack by default: each slot thread would
// keep those pages. From the heap they are reused (the CPU backend limits glibc's arenas).
#define EIGEN_STACK_ALLOCATION_LIMIT 0
#include <Eigen/Core>

#include "cpu_gemm.h"

namespace cusweep {

void eigen_avx512_sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha,
                        const float* a, int lda, const float* b, int ldb, float beta, float* c,
                        int ldc) {
  using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Stride = Eigen::OuterStride<>;
  using In = Eigen::Map<const Matrix, 0, Stride>;
  // op(A) is m x k: A is stored k x m when transposed.
  const In ma(a, trans_a ? k : m, trans_a ? m : k, Stride(lda));
  const In mb(b, trans_b ? n : k, trans_b ? k : n, Stride(ldb));
  Eigen::Map<Matrix, 0, Stride> out(c, m, n, Stride(ldc));
  const auto run = [&](const auto& product) {
    if (beta == 0.f) {  // C is not read (it may hold anything, NaN included), as BLAS specifies
      out.noalias() = alpha * product;
      return;
    }
    if (beta != 1.f) out *= beta;
    out.noalias() += alpha * product;
  };
  if (trans_a && trans_b) {
    run(ma.transpose() * mb.transpose());
  } else if (trans_a) {
    run(ma.transpose() * mb);
  } else if (trans_b) {
    run(ma * mb.transpose());
  } else {
    run(ma * mb);
  }
}

}  // namespace cusweep
