// Backend selection and the CPU backend (host arrays used in place, one slot per thread).
#include "backend.h"

#include <cblas.h>
#include <malloc.h>

#include <algorithm>

#include <fmt/format.h>

#include "blas_kernels.h"
#include "cpu_gemm.h"
#include "cusweep/error.h"
#include "cusweep/log.h"
#ifdef CUSWEEP_HAVE_CUDA
#include "cuda_backend.h"
#endif

namespace cusweep {
namespace {

// Which OpenBLAS kernels run matters (blas_kernels.h), so --version, `devices` and the run log
// say which, and who chose them.
std::string blas_description() {
  // openblas_get_config() is "OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH ...": keep name and version.
  std::string config = openblas_get_config();
  const size_t second_space = config.find(' ', config.find(' ') + 1);
  if (second_space != std::string::npos) config.resize(second_space);
  const std::string choice = blas_kernel_choice();
  const std::string gemm = cpu_gemm_description();
  return fmt::format("{}, {} kernels{}{}, 1 thread per trial, {} training at once", config,
                     openblas_get_corename(), choice.empty() ? "" : " (" + choice + ")",
                     gemm.empty() ? "" : ", " + gemm,
                     cpu_work_turns_at_once(*process_cpu_work_turns()));
}

class CpuBackend final : public Backend {
 public:
  CpuBackend() {
    // Trials run concurrently, one per thread: a multi-threaded BLAS inside each would
    // oversubscribe the cores and make results depend on the thread count.
    openblas_set_num_threads(1);
    // glibc gives each new thread a heap ("arena") of its own, up to 8 per core, and a heap
    // keeps what was freed in it: every slot thread held on to the packing blocks of its
    // GEMMs and its epochs' host buffers, though only as many threads compute at once as there
    // are turns (cores). With as many heaps as turns, what one trial frees the next one reuses.
    mallopt(M_ARENA_MAX, std::max(2, cpu_work_turns_at_once(*process_cpu_work_turns())));
  }
  std::string name() const override { return "cpu"; }
  std::string description() const override { return "cpu (" + blas_description() + ")"; }

  DataView share_data(const DataSplit& data) override {
    return DataView{view_of(data.train), view_of(data.eval)};
  }

  std::unique_ptr<Slot> make_slot(int index) override { return make_cpu_slot(index); }

 private:
  static SplitView view_of(const Dataset& d) {
    return SplitView{d.features.data(), d.labels.data(), d.rows, d.cols, d.num_classes};
  }
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend() {
  cpu_gemm();  // a bad CUSWEEP_CPU_GEMM is refused here, before any trial
  return std::make_unique<CpuBackend>();
}

BackendProbe probe_backends() {
  BackendProbe probe;
  probe.blas = blas_description();
#ifdef CUSWEEP_HAVE_CUDA
  probe.cuda_compiled = true;
  const int count = cuda_device_count(&probe.cuda_reason, &probe.devices);
  probe.cuda_usable = count > 0;
#else
  probe.cuda_reason =
      "this build has no CUDA backend (configured without nvcc or CUSWEEP_CUDA=OFF)";
#endif
  return probe;
}

std::unique_ptr<Backend> make_backend(const std::string& requested, const std::string& named_by) {
  if (requested == "cpu") return make_cpu_backend();
  if (requested != "auto" && requested != "cuda") {
    throw UserError(fmt::format("unknown backend '{}'; allowed: auto, cpu, cuda", requested));
  }
  const BackendProbe probe = probe_backends();
#ifdef CUSWEEP_HAVE_CUDA
  if (probe.cuda_usable) return make_cuda_backend(0);
#endif
  if (requested == "cuda") {
    throw UserError(named_by + " cuda: no usable CUDA device: " + probe.cuda_reason,
                    named_by == "--backend"
                        ? "use --backend cpu or --backend auto"
                        : "set \"backend\" to \"auto\" or \"cpu\", or run with --backend cpu");
  }
  log_info(fmt::format("no usable CUDA device ({}); running on the CPU", probe.cuda_reason));
  return make_cpu_backend();
}

}  // namespace cusweep
