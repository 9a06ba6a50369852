// Single-precision GEMM by Eigen, compiled for AVX-512 (this file alone: CMakeLists.txt). The
// CPU slot calls it only on a CPU with AVX-512 (cpu_gemm.h), so no AVX-512 instruction from
// here runs anywhere else. Nothing else in cusweep includes Eigen, so the Eigen functions
// instantiated here are the only ones the linker sees (a test checks that every weak symbol of
// this object is Eigen's).
// Eigen puts its packing blocks of up to 128 KB on the stack by default: each slot thread would
// keep those pages. The CPU slots give them scratch of their turn at a core instead (see
// GivenBlocks); called without one, Eigen takes them from the heap.
#define EIGEN_STACK_ALLOCATION_LIMIT 0
#include <Eigen/Core>

#include "cpu_gemm.h"

namespace cusweep {
namespace {

using Eigen::Index;
using Eigen::internal::general_matrix_matrix_product;

// Eigen's own blocking for a row-major float result (what its product expressions use), with
// the packing blocks at `scratch` instead of allocated per call: the blocks are hundreds of KB,
// and a GEMM runs several times per training step.
class GivenBlocks
    : public Eigen::internal::gemm_blocking_space<Eigen::RowMajor, float, float, Eigen::Dynamic,
                                                  Eigen::Dynamic, Eigen::Dynamic> {
 public:
  GivenBlocks(Index m, Index n, Index k) : gemm_blocking_space(m, n, k, 1, true) {}
  ~GivenBlocks() { m_blockA = m_blockB = nullptr; }  // not the base's to free
  GivenBlocks(const GivenBlocks&) = delete;
  GivenBlocks& operator=(const GivenBlocks&) = delete;

  // Floats of scratch the blocks take, each part 64-byte aligned for AVX-512's aligned stores.
  size_t a_floats() const { return round_up(static_cast<size_t>(kc() * mc())); }
  size_t floats() const { return a_floats() + round_up(static_cast<size_t>(kc() * nc())); }
  void place(float* scratch) {
    m_blockA = scratch;
    m_blockB = scratch + a_floats();
  }

 private:
  static size_t round_up(size_t n) { return (n + 15) / 16 * 16; }
};

// Eigen's product expressions go to its GEMM except for a result of one row or column (GEMV)
// and tiny products (coefficient by coefficient); the scratch is for the GEMM.
bool takes_scratch(int m, int n, int k) {
  return m > 1 && n > 1 && k > 0 && m + n + k >= EIGEN_GEMM_TO_COEFFBASED_THRESHOLD;
}

template <int kLhsOrder, int kRhsOrder>
void gemm_in_scratch(int m, int n, int k, float alpha, const float* a, int lda, const float* b,
                     int ldb, float* c, int ldc, GivenBlocks& blocks) {
  general_matrix_matrix_product<Index, float, kLhsOrder, false, float, kRhsOrder, false,
                                Eigen::RowMajor, 1>::run(m, n, k, a, lda, b, ldb, c, 1, ldc, alpha,
                                                         blocks);
}

}  // namespace

size_t eigen_avx512_sgemm_scratch_floats(int m, int n, int k) {
  return takes_scratch(m, n, k) ? GivenBlocks(m, n, k).floats() : 0;
}

void eigen_avx512_sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha,
                        const float* a, int lda, const float* b, int ldb, float beta, float* c,
                        int ldc, float* scratch, size_t scratch_floats) {
  using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Stride = Eigen::OuterStride<>;
  using In = Eigen::Map<const Matrix, 0, Stride>;
  Eigen::Map<Matrix, 0, Stride> out(c, m, n, Stride(ldc));
  if (scratch != nullptr && takes_scratch(m, n, k)) {
    GivenBlocks blocks(m, n, k);
    if (blocks.floats() <= scratch_floats) {
      // What Eigen's `out = alpha * op(A) op(B)` and `out += ...` do for these sizes, with the
      // same blocking, so the result is the same bit for bit: C is zeroed (beta 0: never
      // read, NaN included, as BLAS specifies) or scaled, then the GEMM adds to it.
      if (beta == 0.f) {
        out.setZero();
      } else if (beta != 1.f) {
        out *= beta;
      }
      blocks.place(scratch);
      constexpr int kRow = Eigen::RowMajor, kCol = Eigen::ColMajor;
      if (trans_a && trans_b) {
        gemm_in_scratch<kCol, kCol>(m, n, k, alpha, a, lda, b, ldb, c, ldc, blocks);
      } else if (trans_a) {
        gemm_in_scratch<kCol, kRow>(m, n, k, alpha, a, lda, b, ldb, c, ldc, blocks);
      } else if (trans_b) {
        gemm_in_scratch<kRow, kCol>(m, n, k, alpha, a, lda, b, ldb, c, ldc, blocks);
      } else {
        gemm_in_scratch<kRow, kRow>(m, n, k, alpha, a, lda, b, ldb, c, ldc, blocks);
      }
      return;
    }
  }
  // op(A) is m x k: A is stored k x m when transposed.
  const In ma(a, trans_a ? k : m, trans_a ? m : k, Stride(lda));
  const In mb(b, trans_b ? n : k, trans_b ? k : n, Stride(ldb));
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
