// Which OpenBLAS kernels run. A DYNAMIC_ARCH OpenBLAS picks its kernels once, when it is
// loaded, from the CPU model; OpenBLAS 0.3.21 (Debian 12) does not know recent models (Intel
// Sapphire and Emerald Rapids, among others) and falls back to its SSE3 "Prescott" kernels,
// a quarter of the speed the CPU can give. It reads OPENBLAS_CORETYPE before that choice, so
// cusweep sets it, from the instruction sets the CPU and the OS support, and starts itself
// again, before any work is done; see choose_blas_kernels.
#pragma once

#include <string>

namespace cusweep {

// What the CPU can run, as the compiler's runtime checks see it (they include the operating
// system's support for the wider registers).
struct CpuVectorSupport {
  bool avx = false;
  bool avx2_fma = false;     // AVX2 and FMA3
  bool avx512 = false;       // AVX-512 F, CD, BW, DQ and VL (what OpenBLAS's SkylakeX kernels use)
  bool avx512_bf16 = false;  // with AVX512_BF16 (Cooper Lake and later)
};

CpuVectorSupport detect_cpu_vector_support();

// The widest vector instruction set an OpenBLAS core's kernels use: 3 AVX-512, 2 AVX2,
// 1 AVX, 0 anything older or unknown. `core` as openblas_get_corename() spells it.
int openblas_core_level(const std::string& core);

// The OPENBLAS_CORETYPE to set on a CPU with `cpu`, when OpenBLAS picked `picked`: the best
// kernels the CPU can run, when they are wider than the picked ones; "" to leave the choice
// alone (it is as good, or the CPU supports nothing better). Never a kernel the CPU cannot run.
std::string better_openblas_core(const CpuVectorSupport& cpu, const std::string& picked);

// Called first in main(): when OpenBLAS picked weaker kernels than this CPU runs and the user
// has not set OPENBLAS_CORETYPE, sets it (and CUSWEEP_OPENBLAS_PICKED, to say what OpenBLAS
// had picked) and replaces the process with itself (same pid, arguments, descriptors). Does
// nothing when OPENBLAS_CORETYPE is set, so it happens at most once; when the program
// cannot be started again, it runs on with the picked kernels.
void choose_blas_kernels(char** argv);

// The OpenBLAS core whose kernels run in this process, e.g. "SkylakeX".
std::string blas_kernel_running();

// For --version, `devices` and the run log: who chose the kernels now running, e.g.
// "chosen by cusweep; OpenBLAS picked Prescott", "set by OPENBLAS_CORETYPE", or "" when
// OpenBLAS chose them itself.
std::string blas_kernel_choice();

}  // namespace cusweep
