// The OpenBLAS kernel choice (blas_kernels.h). Depends on OpenBLAS and the C library only, so
// the BLAS benchmark (bench/blas_compare.cc) measures the kernels cusweep itself runs.
#include "blas_kernels.h"

#include <cblas.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace cusweep {
namespace {

constexpr const char* kCoreTypeVar = "OPENBLAS_CORETYPE";
constexpr const char* kPickedVar = "CUSWEEP_OPENBLAS_PICKED";

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

CpuVectorSupport detect_cpu_vector_support() {
  CpuVectorSupport cpu;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  cpu.avx = __builtin_cpu_supports("avx");
  cpu.avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  cpu.avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512vl");
  cpu.avx512_bf16 = cpu.avx512 && __builtin_cpu_supports("avx512bf16");
#endif
  return cpu;
}

int openblas_core_level(const std::string& core) {
  const std::string c = lower(core);
  if (c == "skylakex" || c == "cooperlake" || c == "sapphirerapids") return 3;
  if (c == "haswell" || c == "zen" || c == "excavator") return 2;
  if (c == "sandybridge" || c == "bulldozer" || c == "piledriver" || c == "steamroller") return 1;
  return 0;
}

std::string better_openblas_core(const CpuVectorSupport& cpu, const std::string& picked) {
  std::string best;
  if (cpu.avx512_bf16) {
    best = "Cooperlake";
  } else if (cpu.avx512) {
    best = "SkylakeX";
  } else if (cpu.avx2_fma) {
    best = "Haswell";
  } else if (cpu.avx) {
    best = "SandyBridge";
  } else {
    return "";
  }
  return openblas_core_level(best) > openblas_core_level(picked) ? best : "";
}

void choose_blas_kernels(char** argv) {
  if (std::getenv(kCoreTypeVar) != nullptr) return;  // the user's choice, or ours, made already
  const std::string picked = openblas_get_corename();
  const std::string better = better_openblas_core(detect_cpu_vector_support(), picked);
  if (better.empty()) return;
  if (::setenv(kCoreTypeVar, better.c_str(), 1) != 0 ||
      ::setenv(kPickedVar, picked.c_str(), 1) != 0) {
    return;
  }
  ::execv("/proc/self/exe", argv);
  // Not started again (no /proc): run on with the kernels OpenBLAS picked, and say so.
  ::unsetenv(kCoreTypeVar);
  ::unsetenv(kPickedVar);
}

std::string blas_kernel_running() {
  return openblas_get_corename();
}

std::string blas_kernel_choice() {
  if (std::getenv(kCoreTypeVar) == nullptr) {
    const std::string picked = openblas_get_corename();
    const std::string better = better_openblas_core(detect_cpu_vector_support(), picked);
    return better.empty() ? std::string()
                          : "picked by OpenBLAS; this CPU runs " + better +
                                " kernels, but cusweep could not start itself again with them";
  }
  const char* picked = std::getenv(kPickedVar);
  if (picked != nullptr) {
    return std::string("chosen by cusweep; OpenBLAS picked ") + picked;
  }
  const std::string asked = std::getenv(kCoreTypeVar);
  if (lower(asked) != lower(openblas_get_corename())) {  // unknown to it, or mapped to another
    return std::string(kCoreTypeVar) + "=" + asked + " asked; OpenBLAS chose these";
  }
  return std::string("set by ") + kCoreTypeVar;
}

}  // namespace cusweep
