// The CPU slot: the Thrust steps of model_steps.cuh through Thrust's CPP system (plain loops on
// the calling thread) and GEMMs through single-threaded OpenBLAS. Built with
// THRUST_DEVICE_SYSTEM=THRUST_DEVICE_SYSTEM_CPP (CMakeLists.txt), so no CUDA header is pulled in.
#include <cblas.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>
#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#endif

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

#include <thrust/system/cpp/execution_policy.h>

#include "backend.h"
#include "cpu_gemm.h"

// GELU, tanh and softmax call erff, tanhf and expf per element. glibc's libmvec (2.35 and
// later) has vector versions of all three, but its math.h announces them only under
// -ffast-math; declared here, the element loops of the steps below call the 16-, 8- or 4-lane
// versions of the instruction set each clone is compiled for (GELU's erff and expf were 21% of
// the example sweep's time when called one element at a time). Each element's result depends
// only on its place in its row, so fused and unfused trials, and a continued trial, still
// agree bit for bit.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__GLIBC__) && \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 35))
extern "C" {
__attribute__((simd("notinbranch"))) float erff(float) noexcept;
__attribute__((simd("notinbranch"))) float expf(float) noexcept;
__attribute__((simd("notinbranch"))) float tanhf(float) noexcept;
}
#endif

#include "model_steps.cuh"

namespace cusweep {
namespace {

// The optimizer update touches every parameter every step: at small batches it costs as much as
// the GEMMs. GCC compiles these functions once per instruction set and picks the clone the CPU
// supports when the program loads (an ifunc), so AVX-512 machines get 16 lanes and every
// x86-64 still runs. The loops are the same Thrust calls over the same functors; only the
// instruction set changes.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CUSWEEP_CPU_CLONES \
  __attribute__((flatten, target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CUSWEEP_CPU_CLONES
#endif

constexpr steps::GridOrder kCpuGridOrder = steps::GridOrder::kRowLoops;

// The optimizer state of a weight whose input is rarely non-zero (a border pixel) decays
// geometrically between its gradients: AdamW's m by beta1 = 0.9 a step, SGD's velocity by the
// momentum, so it spends hundreds of steps below 1.2e-38, in float's subnormal range. Intel
// cores compute on subnormals through a microcode assist costing ~100 cycles per vector: on
// the project's Xeon the AdamW step was half of all training time (3.2 ns per parameter in
// place of 0.5). The optimizer steps therefore run with subnormals flushed to zero (MXCSR FTZ
// and DAZ, restored after): a state below 1.2e-38 counts as 0, which moves no parameter by a
// measurable amount (the update is lr * m / (sqrt(v) + eps)). GPUs compute subnormals at full
// speed and keep them; other CPUs run the steps unchanged.
class FlushSubnormals {
 public:
#if defined(__SSE__) || defined(__x86_64__)
  FlushSubnormals() : saved_(_mm_getcsr()) {
    _mm_setcsr(saved_ | kFtz | kDaz);
  }
  ~FlushSubnormals() {
    _mm_setcsr(saved_);
  }

 private:
  static constexpr unsigned int kFtz = 0x8000;  // results below the normal range become 0
  static constexpr unsigned int kDaz = 0x0040;  // subnormal inputs read as 0
  unsigned int saved_;
#endif
};

CUSWEEP_CPU_CLONES void adamw_cpu(int64_t rows, int64_t cols, const steps::AdamWUpdate& f) {
  const FlushSubnormals flush;
  steps::for_each_2d<kCpuGridOrder>(thrust::cpp::par, rows, cols, f);
}

CUSWEEP_CPU_CLONES void sgd_cpu(int64_t rows, int64_t cols, const steps::SgdUpdate& f) {
  const FlushSubnormals flush;
  steps::for_each_2d<kCpuGridOrder>(thrust::cpp::par, rows, cols, f);
}

template <Activation kAct>
CUSWEEP_CPU_CLONES void activation_backward_cpu(int64_t rows, int64_t cols,
                                                const steps::ActivationBackward<kAct>& f) {
  steps::for_each_2d<kCpuGridOrder>(thrust::cpp::par, rows, cols, f);
}

template <Activation kAct>
CUSWEEP_CPU_CLONES void bias_activation_cpu(int64_t rows, int64_t cols,
                                            const steps::BiasActivation<kAct>& f) {
  steps::for_each_2d<kCpuGridOrder>(thrust::cpp::par, rows, cols, f);
}

// A batch's rows are scattered over the training set (188 MB for Fashion-MNIST), so each row
// starts with a cache miss that the hardware prefetcher only hides once the row is under way.
// The row copied kGatherAhead rows later is requested while this one is copied (1.8% of the
// reference workload's samples/s on the project's Xeon; distances 1-4 measured alike).
constexpr int64_t kGatherAhead = 2;

CUSWEEP_CPU_CLONES void gather_rows_cpu(int64_t rows, int64_t cols, const steps::GatherRows& f) {
  constexpr int64_t kLine = 64;
  for (int64_t r = 0; r < rows; ++r) {
    if (r + kGatherAhead < rows) {
      const char* next = reinterpret_cast<const char*>(f.x + f.source_row(r + kGatherAhead) * cols);
      for (int64_t byte = 0; byte < cols * static_cast<int64_t>(sizeof(float)); byte += kLine)
        __builtin_prefetch(next + byte, 0, 3);
    }
    f.row_once(r);
    for (int64_t c = 0; c < cols; ++c)
      f(r, c);
  }
}

}  // namespace

// A ticket queue: each begin() takes the next ticket and waits until it is served and a turn
// is free, so epochs compute in the order they asked, however the threads are woken.
class CpuWorkTurns {
 public:
  explicit CpuWorkTurns(int at_once) : free_(std::max(1, at_once)), spaces_(free_) {}
  ~CpuWorkTurns() {
    for (const Workspace& w : spaces_) {
      if (w.ptr != nullptr) munmap(w.ptr, w.bytes);
      if (w.gemm != nullptr) munmap(w.gemm, w.gemm_floats * sizeof(float));
    }
  }
  CpuWorkTurns(const CpuWorkTurns&) = delete;
  CpuWorkTurns& operator=(const CpuWorkTurns&) = delete;

  int at_once() const { return static_cast<int>(spaces_.size()); }
  int waiting() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return static_cast<int>(next_ticket_ - serving_);
  }

  // Waits for a turn; returns its workspace's index, with at least `bytes` at *ptr.
  size_t begin(size_t bytes, void** ptr) {
    std::unique_lock<std::mutex> lock(mutex_);
    const uint64_t ticket = next_ticket_++;
    turn_.wait(lock, [&] { return serving_ == ticket && free_ > 0; });
    ++serving_;
    --free_;
    size_t i = 0;
    while (spaces_[i].busy)
      ++i;
    spaces_[i].busy = true;
    lock.unlock();
    turn_.notify_all();  // the next ticket may find a turn free too
    // The holder alone touches its workspace's mapping. One much larger than asked for (a wide
    // model's, earlier) is given back rather than kept.
    Workspace& w = spaces_[i];
    const size_t want = std::max<size_t>(bytes, 1);
    if (w.bytes < want || w.bytes > 4 * want + (size_t{1} << 20)) {
      if (w.ptr != nullptr) munmap(w.ptr, w.bytes);
      w.ptr = mmap(nullptr, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      w.bytes = want;
      if (w.ptr == MAP_FAILED) {
        w.ptr = nullptr;
        w.bytes = 0;
        end(i);
        throw std::bad_alloc();
      }
    }
    *ptr = w.ptr;
    return i;
  }

  // Turn i's scratch for the Eigen GEMM's packing blocks, at least `floats` long: made once and
  // grown when a larger GEMM asks, so a training step allocates nothing. Only turn i's holder
  // calls this.
  float* gemm_scratch(size_t i, size_t floats) {
    Workspace& w = spaces_[i];
    if (w.gemm_floats < floats) {
      if (w.gemm != nullptr) munmap(w.gemm, w.gemm_floats * sizeof(float));
      void* p = mmap(nullptr, floats * sizeof(float), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      w.gemm = p == MAP_FAILED ? nullptr : static_cast<float*>(p);
      w.gemm_floats = p == MAP_FAILED ? 0 : floats;
    }
    return w.gemm;  // null when the system refused: Eigen then allocates its own
  }

  void end(size_t i) noexcept {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      spaces_[i].busy = false;
      ++free_;
    }
    turn_.notify_all();
  }

 private:
  struct Workspace {
    void* ptr = nullptr;
    size_t bytes = 0;
    bool busy = false;
    float* gemm = nullptr;  // page-aligned, so 64-byte aligned
    size_t gemm_floats = 0;
  };
  mutable std::mutex mutex_;
  std::condition_variable turn_;
  uint64_t next_ticket_ = 0, serving_ = 0;
  int free_;
  std::vector<Workspace> spaces_;
};

namespace {

class CpuSlot final : public steps::ThrustSteps<CpuSlot> {
 public:
  CpuSlot(int index, std::shared_ptr<CpuWorkTurns> turns)
      : location_("cpu:" + std::to_string(index)), turns_(std::move(turns)) {}
  ~CpuSlot() override { end_epoch_work(); }  // a trial that threw mid-epoch gives its turn back

  auto policy() { return thrust::cpp::par; }

  // A trial's arrays of 64 KB and more (its parameters, optimizer state, activations, order)
  // get mappings of their own, returned to the system when the trial ends. From the C
  // library's heap they were not: glibc raises its mmap threshold to the largest block freed,
  // so later trials' arrays came from per-thread heaps that only grew (peak memory 422 MB
  // after 32 trials of the reference model, 961 MB after 512; now flat).
  void* allocate(size_t bytes) override {
    if (bytes >= kOwnMappingBytes) {
      void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) throw std::bad_alloc();
      try {
        mapped_.emplace(p, bytes);
      } catch (...) {
        munmap(p, bytes);
        throw;
      }
      return p;
    }
    // 64-byte alignment for the BLAS kernels' vector loads.
    void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (p == nullptr && bytes != 0) throw std::bad_alloc();
    return p;
  }
  void deallocate(void* ptr) noexcept override {
    const auto it = mapped_.find(ptr);
    if (it == mapped_.end()) {
      std::free(ptr);
      return;
    }
    munmap(it->first, it->second);
    mapped_.erase(it);
  }
  // Half the host's RAM, or of the process's address-space or data limit (ulimit -v, -d)
  // where one is lower: the rest is the data, the other slots and everything else.
  double memory_budget_bytes() override {
    double bytes =
        static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGE_SIZE));
    for (const int resource : {RLIMIT_AS, RLIMIT_DATA}) {
      rlimit limit{};
      if (getrlimit(resource, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
        bytes = std::min(bytes, static_cast<double>(limit.rlim_cur));
      }
    }
    return 0.5 * bytes;
  }
  void copy_to_device(void* dst, const void* src, size_t bytes) override {
    std::memcpy(dst, src, bytes);
  }
  void copy_to_host(void* dst, const void* src, size_t bytes) override {
    std::memcpy(dst, src, bytes);
  }
  void synchronize() override {}

  void* begin_epoch_work(size_t bytes) override {
    void* p = nullptr;
    turn_ = turns_->begin(bytes, &p);
    return p;
  }
  void end_epoch_work() noexcept override {
    if (turn_ == kNoTurn) return;
    turns_->end(turn_);
    turn_ = kNoTurn;
  }

  void gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
            const float* b, int ldb, float beta, float* c, int ldc) override {
    if (gemm_ == CpuGemm::kEigenAvx512) {
      // Inside an epoch the packing blocks go in the turn's scratch; a GEMM outside one (the
      // tests') lets Eigen allocate them.
      const size_t floats = turn_ == kNoTurn ? 0 : eigen_avx512_sgemm_scratch_floats(m, n, k);
      float* scratch = floats > 0 ? turns_->gemm_scratch(turn_, floats) : nullptr;
      eigen_avx512_sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, scratch,
                         scratch == nullptr ? 0 : floats);
      return;
    }
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }

  static constexpr steps::GridOrder kGridOrder = kCpuGridOrder;
  // The hot element steps go through the per-instruction-set clones above; the rest through
  // ThrustSteps::for_2d.
  using ThrustSteps::for_2d;
  void for_2d(int64_t rows, int64_t cols, const steps::AdamWUpdate& f) { adamw_cpu(rows, cols, f); }
  void for_2d(int64_t rows, int64_t cols, const steps::SgdUpdate& f) { sgd_cpu(rows, cols, f); }
  template <Activation kAct>
  void for_2d(int64_t rows, int64_t cols, const steps::ActivationBackward<kAct>& f) {
    activation_backward_cpu(rows, cols, f);
  }
  template <Activation kAct>
  void for_2d(int64_t rows, int64_t cols, const steps::BiasActivation<kAct>& f) {
    bias_activation_cpu(rows, cols, f);
  }
  void for_2d(int64_t rows, int64_t cols, const steps::GatherRows& f) {
    gather_rows_cpu(rows, cols, f);
  }

  // The same call per trial: each fused trial's GEMM is bit-identical to its unfused one.
  void gemm_strided_batched(bool trans_a, bool trans_b, int m, int n, int k, float alpha,
                            const float* a, int lda, int64_t stride_a, const float* b, int ldb,
                            int64_t stride_b, float beta, float* c, int ldc, int64_t stride_c,
                            int count) override {
    for (int i = 0; i < count; ++i) {
      gemm(trans_a, trans_b, m, n, k, alpha, a + i * stride_a, lda, b + i * stride_b, ldb, beta,
           c + i * stride_c, ldc);
    }
  }

  const char* location() const override { return location_.c_str(); }

 private:
  static constexpr size_t kOwnMappingBytes = size_t{64} << 10;
  static constexpr size_t kNoTurn = ~size_t{0};
  std::string location_;
  std::shared_ptr<CpuWorkTurns> turns_;
  const CpuGemm gemm_ = cpu_gemm();
  size_t turn_ = kNoTurn;  // the workspace held between begin_epoch_work and end_epoch_work
  std::unordered_map<void*, size_t> mapped_;  // this slot's own mappings and their sizes
};

}  // namespace

std::shared_ptr<CpuWorkTurns> make_cpu_work_turns(int at_once) {
  return std::make_shared<CpuWorkTurns>(at_once);
}

std::shared_ptr<CpuWorkTurns> process_cpu_work_turns() {
  static const std::shared_ptr<CpuWorkTurns> turns = [] {
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    int n = sched_getaffinity(0, sizeof(cpus), &cpus) == 0 ? CPU_COUNT(&cpus) : 0;
    if (n <= 0) n = static_cast<int>(std::max(1L, sysconf(_SC_NPROCESSORS_ONLN)));
    return make_cpu_work_turns(n);
  }();
  return turns;
}

int cpu_work_turns_at_once(const CpuWorkTurns& turns) {
  return turns.at_once();
}

int cpu_work_turns_waiting(const CpuWorkTurns& turns) {
  return turns.waiting();
}

std::unique_ptr<Slot> make_cpu_slot(int index, std::shared_ptr<CpuWorkTurns> turns) {
  return std::make_unique<CpuSlot>(index, std::move(turns));
}

}  // namespace cusweep
