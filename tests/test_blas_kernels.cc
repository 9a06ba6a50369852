// The OpenBLAS kernel choice: never weaker than what OpenBLAS picked, never beyond the CPU.
#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "blas_kernels.h"
#include "cpu_gemm.h"
#include "cusweep/error.h"

namespace cusweep {
namespace {

std::string lower_case(std::string s) {
  for (char& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

CpuVectorSupport support(int level, bool bf16 = false) {
  CpuVectorSupport cpu;
  cpu.avx = level >= 1;
  cpu.avx2_fma = level >= 2;
  cpu.avx512 = level >= 3;
  cpu.avx512_bf16 = level >= 3 && bf16;
  return cpu;
}

TEST(BlasKernelsTest, CoreLevelsFollowTheWidestInstructionSetOfTheKernels) {
  EXPECT_EQ(openblas_core_level("Prescott"), 0);
  EXPECT_EQ(openblas_core_level("Nehalem"), 0);
  EXPECT_EQ(openblas_core_level("Unknown"), 0);
  EXPECT_EQ(openblas_core_level(""), 0);
  EXPECT_EQ(openblas_core_level("Sandybridge"), 1);
  EXPECT_EQ(openblas_core_level("Haswell"), 2);
  EXPECT_EQ(openblas_core_level("Zen"), 2);
  EXPECT_EQ(openblas_core_level("SkylakeX"), 3);
  EXPECT_EQ(openblas_core_level("skylakex"), 3);
  EXPECT_EQ(openblas_core_level("Cooperlake"), 3);
  EXPECT_EQ(openblas_core_level("SapphireRapids"), 3);
}

TEST(BlasKernelsTest, AnUnknownCpuGetsTheWidestKernelsItRuns) {
  // OpenBLAS 0.3.21 on an Emerald Rapids Xeon: Prescott (measured: sgemm 4x slower).
  EXPECT_EQ(better_openblas_core(support(3, true), "Prescott"), "Cooperlake");
  EXPECT_EQ(better_openblas_core(support(3), "Prescott"), "SkylakeX");
  EXPECT_EQ(better_openblas_core(support(3), "Haswell"), "SkylakeX");
  EXPECT_EQ(better_openblas_core(support(2), "Prescott"), "Haswell");
  EXPECT_EQ(better_openblas_core(support(2), "Sandybridge"), "Haswell");
  EXPECT_EQ(better_openblas_core(support(1), "Core2"), "SandyBridge");
}

TEST(BlasKernelsTest, AGoodOrUnimprovableChoiceIsLeftAlone) {
  EXPECT_EQ(better_openblas_core(support(3, true), "Cooperlake"), "");
  EXPECT_EQ(better_openblas_core(support(3), "SkylakeX"), "");
  EXPECT_EQ(better_openblas_core(support(3), "SapphireRapids"), "");
  EXPECT_EQ(better_openblas_core(support(2), "Zen"), "");
  EXPECT_EQ(better_openblas_core(support(2), "Haswell"), "");
  // Never a kernel the CPU cannot run, even when OpenBLAS's pick is odd.
  EXPECT_EQ(better_openblas_core(support(2), "SkylakeX"), "");
  EXPECT_EQ(better_openblas_core(support(0), "Prescott"), "");
  EXPECT_EQ(better_openblas_core(support(0), "Unknown"), "");
}

TEST(BlasKernelsTest, ThisProcessRunsTheWidestKernelsThisCpuSupports) {
  // The test binary's main chooses like cusweep's: here the choice has been made, unless the
  // environment chose (some machines set OPENBLAS_CORETYPE for every program): then OpenBLAS
  // runs what it asked for, and CliTest checks cusweep's own choice in a process without it.
  const char* asked = std::getenv("OPENBLAS_CORETYPE");
  if (asked != nullptr && std::getenv("CUSWEEP_OPENBLAS_PICKED") == nullptr) {
    if (openblas_core_level(asked) > 0) {
      EXPECT_EQ(lower_case(blas_kernel_running()), lower_case(asked));
    }
    EXPECT_EQ(blas_kernel_choice().rfind("set by OPENBLAS_CORETYPE", 0) == 0 ||
                  blas_kernel_choice().find(" asked; OpenBLAS chose these") != std::string::npos,
              true)
        << blas_kernel_choice();
    GTEST_SKIP() << "OPENBLAS_CORETYPE=" << asked
                 << " is set in this environment and obeyed; cusweep chose nothing here";
  }
  const CpuVectorSupport cpu = detect_cpu_vector_support();
  EXPECT_EQ(better_openblas_core(cpu, blas_kernel_running()), "")
      << "OpenBLAS runs " << blas_kernel_running() << " kernels; " << blas_kernel_choice();
}

// Eigen's AVX-512 GEMM runs where OpenBLAS is held below AVX-512 on an AVX-512 CPU, and never
// on a CPU without AVX-512, whatever is asked.
TEST(CpuGemmTest, EigenWhereOpenblasIsHeldBelowTheCpuAndNeverBeyondIt) {
  std::string why;
  EXPECT_EQ(choose_cpu_gemm(true, support(3), "Haswell", "", &why), CpuGemm::kEigenAvx512);
  EXPECT_EQ(why, "OpenBLAS is held to Haswell kernels");
  EXPECT_EQ(choose_cpu_gemm(true, support(3), "Prescott", "auto", &why), CpuGemm::kEigenAvx512);
  EXPECT_EQ(choose_cpu_gemm(true, support(3), "SkylakeX", "", &why), CpuGemm::kOpenBlas);
  EXPECT_EQ(choose_cpu_gemm(true, support(3, true), "Cooperlake", "", &why), CpuGemm::kOpenBlas);
  EXPECT_EQ(choose_cpu_gemm(true, support(2), "Haswell", "", &why), CpuGemm::kOpenBlas);
  EXPECT_EQ(choose_cpu_gemm(true, support(2), "Prescott", "", &why), CpuGemm::kOpenBlas);
  EXPECT_EQ(choose_cpu_gemm(false, support(3), "Haswell", "", &why), CpuGemm::kOpenBlas);
  // Asked for by CUSWEEP_CPU_GEMM: obeyed where it can run, refused by name where not.
  EXPECT_EQ(choose_cpu_gemm(true, support(3), "Haswell", "openblas", &why), CpuGemm::kOpenBlas);
  EXPECT_EQ(why, "CUSWEEP_CPU_GEMM=openblas");
  EXPECT_EQ(choose_cpu_gemm(true, support(3), "SkylakeX", "eigen", &why), CpuGemm::kEigenAvx512);
  EXPECT_THROW(choose_cpu_gemm(true, support(2), "Haswell", "eigen", &why), UserError);
  EXPECT_THROW(choose_cpu_gemm(false, support(3), "Haswell", "eigen", &why), UserError);
  try {
    choose_cpu_gemm(true, support(3), "Haswell", "mkl", &why);
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_EQ(std::string(e.what()),
              "CUSWEEP_CPU_GEMM=mkl: not a choice; allowed: auto, openblas, eigen");
  }
}

// Eigen's GEMM as cblas_sgemm: every transpose, alpha and beta, strided operands, and beta = 0
// never reading C.
TEST(CpuGemmTest, EigenGemmMatchesAPlainLoopForEveryTransposeAndScale) {
  if (!eigen_avx512_built()) GTEST_SKIP() << "built without Eigen";
  if (!detect_cpu_vector_support().avx512) GTEST_SKIP() << "this CPU lacks AVX-512";
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  const int m = 37, n = 19, k = 53, pad = 3;
  for (const bool ta : {false, true}) {
    for (const bool tb : {false, true}) {
      for (const float beta : {0.f, 1.f, 0.5f}) {
        const int lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
        std::vector<float> a(static_cast<size_t>((ta ? k : m) * lda));
        std::vector<float> b(static_cast<size_t>((tb ? n : k) * ldb));
        std::vector<float> c(static_cast<size_t>(m * ldc));
        for (float& x : a)
          x = u(rng);
        for (float& x : b)
          x = u(rng);
        for (float& x : c)
          x = beta == 0.f ? std::numeric_limits<float>::quiet_NaN() : u(rng);
        const std::vector<float> before = c;
        std::vector<float> expected = c;
        const float alpha = 0.75f;
        for (int i = 0; i < m; ++i) {
          for (int j = 0; j < n; ++j) {
            double sum = 0;
            for (int p = 0; p < k; ++p) {
              sum += static_cast<double>(ta ? a[p * lda + i] : a[i * lda + p]) *
                     (tb ? b[j * ldb + p] : b[p * ldb + j]);
            }
            float& e = expected[i * ldc + j];
            e = static_cast<float>(alpha * sum + (beta == 0.f ? 0.0 : beta * e));
          }
        }
        eigen_avx512_sgemm(ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, c.data(),
                           ldc);
        for (int i = 0; i < m; ++i) {
          for (int j = 0; j < n; ++j) {
            EXPECT_NEAR(c[i * ldc + j], expected[i * ldc + j], 1e-4f)
                << "ta " << ta << " tb " << tb << " beta " << beta << " at " << i << "," << j;
          }
          for (int j = n; j < ldc; ++j) {  // the padding is not written
            EXPECT_EQ(std::isnan(c[i * ldc + j]), std::isnan(before[i * ldc + j]));
            if (beta != 0.f) EXPECT_EQ(c[i * ldc + j], before[i * ldc + j]);
          }
        }
      }
    }
  }
}

// The CPU slots give the Eigen GEMM its packing blocks; the result must be the one Eigen gives
// with blocks of its own, bit for bit (fused and resumed trials are compared bit for bit).
TEST(CpuGemmTest, EigenGemmInGivenScratchEqualsEigenAloneBitForBit) {
  if (!eigen_avx512_built()) GTEST_SKIP() << "built without Eigen";
  if (!detect_cpu_vector_support().avx512) GTEST_SKIP() << "this CPU lacks AVX-512";
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  // The reference workload's layer shapes (batch 256, 784-128-10), forward and backward, and
  // sizes past one block in every direction.
  const int shapes[][3] = {{256, 128, 784}, {784, 128, 256},  {256, 10, 128},
                           {128, 10, 256},  {1000, 700, 900}, {37, 19, 53}};
  for (const auto& shape : shapes) {
    const int m = shape[0], n = shape[1], k = shape[2];
    const size_t floats = eigen_avx512_sgemm_scratch_floats(m, n, k);
    ASSERT_GT(floats, 0u) << m << "x" << n << "x" << k;
    std::vector<float> scratch(floats + 16);
    float* aligned =
        scratch.data() + (16 - reinterpret_cast<uintptr_t>(scratch.data()) / 4 % 16) % 16;
    for (const bool ta : {false, true}) {
      for (const bool tb : {false, true}) {
        for (const float beta : {0.f, 0.5f}) {
          const int lda = ta ? m : k, ldb = tb ? k : n;
          std::vector<float> a(static_cast<size_t>(m) * k), b(static_cast<size_t>(k) * n),
              c(static_cast<size_t>(m) * n);
          for (float& x : a)
            x = u(rng);
          for (float& x : b)
            x = u(rng);
          for (float& x : c)
            x = u(rng);
          std::vector<float> given = c;
          eigen_avx512_sgemm(ta, tb, m, n, k, 0.75f, a.data(), lda, b.data(), ldb, beta, c.data(),
                             n);
          eigen_avx512_sgemm(ta, tb, m, n, k, 0.75f, a.data(), lda, b.data(), ldb, beta,
                             given.data(), n, aligned, floats);
          EXPECT_EQ(std::memcmp(c.data(), given.data(), c.size() * sizeof(float)), 0)
              << m << "x" << n << "x" << k << " ta " << ta << " tb " << tb << " beta " << beta;
        }
      }
    }
  }
  // A row or column result, or a tiny product, takes none (Eigen runs no blocked GEMM there).
  EXPECT_EQ(eigen_avx512_sgemm_scratch_floats(128, 1, 256), 0u);
  EXPECT_EQ(eigen_avx512_sgemm_scratch_floats(1, 128, 256), 0u);
  EXPECT_EQ(eigen_avx512_sgemm_scratch_floats(4, 4, 4), 0u);
}

}  // namespace
}  // namespace cusweep
