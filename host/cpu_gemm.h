// Which code runs the CPU slots' GEMMs: OpenBLAS, or Eigen compiled for AVX-512 where OpenBLAS
// is held below what the CPU runs. Some machines set OPENBLAS_CORETYPE for every program
// (older OpenBLAS builds misbehave on their CPUs), and cusweep obeys it; on an AMD EPYC with
// AVX-512 held to OpenBLAS's Haswell kernels that is 201 GFLOP/s at the reference workload's
// shapes, where Eigen's AVX-512 GEMM gives 342 (scripts/bench.sh, README).
#pragma once

#include <cstddef>
#include <string>

#include "blas_kernels.h"

namespace cusweep {

enum class CpuGemm { kOpenBlas, kEigenAvx512 };

// The choice: `asked` is CUSWEEP_CPU_GEMM ("" or "auto", "openblas", "eigen"). auto takes
// Eigen when it was built, the CPU runs AVX-512 and OpenBLAS's kernels (`openblas_core`) are
// narrower; else OpenBLAS. Never Eigen on a CPU without AVX-512: asking for it there, or for
// anything else, is a UserError naming the variable. `why` (may be null): the reason, for
// `devices` and the run log.
CpuGemm choose_cpu_gemm(bool eigen_built, const CpuVectorSupport& cpu,
                        const std::string& openblas_core, const std::string& asked,
                        std::string* why);

// This process's choice, made once (throws the UserError above on the first call, and again
// on each later one).
CpuGemm cpu_gemm();
// "" when OpenBLAS runs the GEMMs; else e.g. "GEMMs by Eigen 3.4.0 for AVX-512 (OpenBLAS is
// held to Haswell kernels)".
std::string cpu_gemm_description();

bool eigen_avx512_built();
// Row-major C[m,n] = alpha * op(A) op(B) + beta * C, as cblas_sgemm; only on AVX-512 CPUs.
// Eigen packs blocks of A and B first: in `scratch` (64-byte aligned) when it holds at least
// eigen_avx512_sgemm_scratch_floats(m, n, k) floats, else in memory Eigen allocates and frees
// on every call. The result is the same either way, bit for bit.
void eigen_avx512_sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha,
                        const float* a, int lda, const float* b, int ldb, float beta, float* c,
                        int ldc, float* scratch = nullptr, size_t scratch_floats = 0);
// 0 for sizes whose product takes no packing blocks (a row or column result, tiny products).
size_t eigen_avx512_sgemm_scratch_floats(int m, int n, int k);

}  // namespace cusweep
