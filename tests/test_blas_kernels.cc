// The OpenBLAS kernel choice: never weaker than what OpenBLAS picked, never beyond the CPU.
#include <gtest/gtest.h>

#include <cctype>
#include <cstdlib>
#include <string>

#include "blas_kernels.h"

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

}  // namespace
}  // namespace cusweep
