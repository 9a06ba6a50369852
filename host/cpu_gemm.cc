// The CPU GEMM choice (cpu_gemm.h).
#include "cpu_gemm.h"

#include <cstdlib>
#include <stdexcept>

#include <fmt/format.h>

#include "cusweep/error.h"

namespace cusweep {

CpuGemm choose_cpu_gemm(bool eigen_built, const CpuVectorSupport& cpu,
                        const std::string& openblas_core, const std::string& asked,
                        std::string* why) {
  std::string reason;
  CpuGemm choice = CpuGemm::kOpenBlas;
  if (asked == "openblas") {
    reason = "CUSWEEP_CPU_GEMM=openblas";
  } else if (asked == "eigen") {
    if (!eigen_built) {
      throw UserError("CUSWEEP_CPU_GEMM=eigen: this cusweep was built without Eigen",
                      "install libeigen3-dev and build again, or unset CUSWEEP_CPU_GEMM");
    }
    if (!cpu.avx512) {
      throw UserError("CUSWEEP_CPU_GEMM=eigen: Eigen is built for AVX-512, which this CPU lacks",
                      "unset CUSWEEP_CPU_GEMM (OpenBLAS then runs the GEMMs)");
    }
    choice = CpuGemm::kEigenAvx512;
    reason = "CUSWEEP_CPU_GEMM=eigen";
  } else if (asked.empty() || asked == "auto") {
    if (eigen_built && cpu.avx512 && openblas_core_level(openblas_core) < 3) {
      choice = CpuGemm::kEigenAvx512;
      reason = fmt::format("OpenBLAS is held to {} kernels", openblas_core);
    }
  } else {
    throw UserError(
        fmt::format("CUSWEEP_CPU_GEMM={}: not a choice; allowed: auto, openblas, eigen", asked),
        "unset it to let cusweep choose");
  }
  if (why != nullptr) *why = reason;
  return choice;
}

namespace {

struct Choice {
  CpuGemm gemm;
  std::string why;
};

Choice make_choice() {
  Choice c{};
  const char* asked = std::getenv("CUSWEEP_CPU_GEMM");
  c.gemm = choose_cpu_gemm(eigen_avx512_built(), detect_cpu_vector_support(), blas_kernel_running(),
                           asked == nullptr ? "" : asked, &c.why);
  return c;
}

const Choice& choice() {
  static const Choice c = make_choice();
  return c;
}

}  // namespace

CpuGemm cpu_gemm() {
  return choice().gemm;
}

std::string cpu_gemm_description() {
  Choice c;
  try {
    c = choice();
  } catch (const UserError& e) {  // --version and `devices` still answer; a run is refused
    return std::string("GEMMs: ") + e.what();
  }
  if (c.gemm == CpuGemm::kOpenBlas) return "";
  return fmt::format("GEMMs by Eigen {} for AVX-512 ({})", CUSWEEP_EIGEN_VERSION, c.why);
}

// Decided here, by the build, and not in the AVX-512 file: whatever runs before the choice
// must run on any CPU.
#ifdef CUSWEEP_EIGEN_VERSION
bool eigen_avx512_built() {
  return true;
}
#else
bool eigen_avx512_built() {
  return false;
}
void eigen_avx512_sgemm(bool, bool, int, int, int, float, const float*, int, const float*, int,
                        float, float*, int, float*, size_t) {
  throw std::logic_error("eigen_avx512_sgemm: this cusweep was built without Eigen");
}
size_t eigen_avx512_sgemm_scratch_floats(int, int, int) {
  throw std::logic_error("eigen_avx512_sgemm_scratch_floats: this cusweep was built without Eigen");
}
#endif

}  // namespace cusweep
