// The CUDA backend: one copy of the data per device, and slots that each own a non-blocking
// stream and a cuBLAS handle bound to it. Every Thrust step runs with par_nosync.on(stream),
// made in CudaSlot::policy() alone, so nothing runs on the default stream.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <new>

#include <thrust/system/cuda/execution_policy.h>

#include <fmt/format.h>

#include "cuda_backend.h"
#include "cusweep/error.h"
#include "model_steps.cuh"

namespace cusweep {
namespace {

void check_cuda(cudaError_t status, const char* call, const char* file, int line) {
  if (status != cudaSuccess) {
    // A failed call (out of memory, say) stays the thread's "last error", and Thrust's launches
    // report that: clear it, or every later step on this slot would fail with it too.
    cudaGetLastError();
    throw DeviceError(fmt::format("{}:{}: {} failed: {} ({})", file, line, call,
                                  cudaGetErrorString(status), static_cast<int>(status)));
  }
}

void check_cublas(cublasStatus_t status, const char* call, const char* file, int line) {
  if (status != CUBLAS_STATUS_SUCCESS) {
    cudaGetLastError();  // a CUDA error under the failed call would fail the next launch too
    throw DeviceError(fmt::format("{}:{}: {} failed: {} ({})", file, line, call,
                                  cublasGetStatusString(status), static_cast<int>(status)));
  }
}

#define CUSWEEP_CUDA_CHECK(call) check_cuda((call), #call, __FILE__, __LINE__)
#define CUSWEEP_CUBLAS_CHECK(call) check_cublas((call), #call, __FILE__, __LINE__)

// Slots allocate with cudaMallocAsync, from the device's memory pool; some virtualized GPUs
// have none.
bool memory_pools_supported(int device) {
  int supported = 0;
  if (cudaDeviceGetAttribute(&supported, cudaDevAttrMemoryPoolsSupported, device) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return supported != 0;
}

std::string no_memory_pools(int device) {
  return fmt::format(
      "cuda:{} has no stream-ordered memory pool (cudaMallocAsync), which cusweep's CUDA "
      "backend allocates from",
      device);
}

// Releasing memory must not throw: it runs in destructors, also while a DeviceError unwinds.
void free_async_noexcept(void* p, cudaStream_t stream) noexcept {
  const cudaError_t status = cudaFreeAsync(p, stream);
  if (status != cudaSuccess) cudaGetLastError();  // the original error is already reported
}

// cudaMallocAsync on `stream`, with running out of device memory as std::bad_alloc: the runner
// then waits for other trials to end and tries again, where any other failure fails the trial.
void* malloc_async(size_t bytes, cudaStream_t stream) {
  void* p = nullptr;
  const cudaError_t status = cudaMallocAsync(&p, bytes, stream);
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // consumed here, not left for the next launch to report
    throw std::bad_alloc();
  }
  CUSWEEP_CUDA_CHECK(status);
  return p;
}

// A grid of element steps, one thread per element, for the steps whose functor carries a table
// of per-trial values (the optimizer steps: 1.8 KB for 64 AdamW trials). Thrust's for_each
// hands its functor to CUB, which copies it into every thread's local memory before the table
// can be indexed by trial: ptxas gave the AdamW kernel an 1856-byte stack frame, 1.8 KB written
// per parameter where the step itself moves 20 bytes. A __grid_constant__ parameter is read in
// place (sm_70 and later): no copy, no stack frame.
template <class F>
__global__ void flat_grid_kernel(const __grid_constant__ F f, steps::Index rows,
                                 steps::Index cols) {
  const steps::Index n = rows * cols;
  const steps::Index step = static_cast<steps::Index>(gridDim.x) * blockDim.x;
  for (steps::Index i = static_cast<steps::Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < n;
       i += step) {
    const steps::Index r = i / cols;
    f(r, i - r * cols);
  }
}

// Thrust's temporary storage (sort, reduce) through the slot's stream-ordered pool: the default
// allocator's cudaFree synchronizes the whole device, which would stall every other slot
// whenever one slot evaluates.
class StreamAllocator {
 public:
  using value_type = char;
  explicit StreamAllocator(cudaStream_t stream) : stream_(stream) {}
  char* allocate(std::ptrdiff_t bytes) {
    return static_cast<char*>(malloc_async(static_cast<size_t>(bytes), stream_));
  }
  void deallocate(char* p, size_t) noexcept { free_async_noexcept(p, stream_); }

 private:
  cudaStream_t stream_;
};

class CudaSlot final : public steps::ThrustSteps<CudaSlot> {
 public:
  CudaSlot(int device, int index) : device_(device) {
    CUSWEEP_CUDA_CHECK(cudaSetDevice(device_));
    CUSWEEP_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    try {
      CUSWEEP_CUBLAS_CHECK(cublasCreate(&handle_));
      CUSWEEP_CUBLAS_CHECK(cublasSetStream(handle_, stream_));
      allocator_ = std::make_unique<StreamAllocator>(stream_);
      location_ = fmt::format("cuda:{}/s{}", device_, index);
    } catch (...) {  // no destructor runs for a half-built slot
      if (handle_ != nullptr) cublasDestroy(handle_);
      cudaStreamDestroy(stream_);
      throw;
    }
  }

  ~CudaSlot() override {
    if (epoch_work_ != nullptr) free_async_noexcept(epoch_work_, stream_);
    cublasDestroy(handle_);
    cudaStreamDestroy(stream_);
  }

  // The one place a CUDA slot's Thrust policy is made: its stream, its allocator, no syncs.
  auto policy() { return thrust::cuda::par_nosync(*allocator_).on(stream_); }
  // Element steps one thread per element, so a warp reads consecutive addresses.
  static constexpr steps::GridOrder kGridOrder = steps::GridOrder::kFlat;

  // The steps with a per-trial table launch through flat_grid_kernel; the rest through Thrust.
  using ThrustSteps::for_2d;
  void for_2d(int64_t rows, int64_t cols, const steps::AdamWUpdate& f) {
    launch_flat(rows, cols, f);
  }
  void for_2d(int64_t rows, int64_t cols, const steps::SgdUpdate& f) { launch_flat(rows, cols, f); }

  void* allocate(size_t bytes) override {
    CUSWEEP_CUDA_CHECK(cudaSetDevice(device_));
    return malloc_async(bytes, stream_);
  }
  void deallocate(void* ptr) noexcept override { free_async_noexcept(ptr, stream_); }

  void copy_to_device(void* dst, const void* src, size_t bytes) override {
    CUSWEEP_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_));
  }
  void copy_to_host(void* dst, const void* src, size_t bytes) override {
    CUSWEEP_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_));
    synchronize();
  }
  // What the device has free now, with what the memory pool holds unused (CudaBackend keeps
  // it): fused groups and models are checked against it.
  double memory_budget_bytes() override {
    size_t free_bytes = 0, total_bytes = 0;
    CUSWEEP_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    cudaMemPool_t pool = nullptr;
    CUSWEEP_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device_));
    uint64_t reserved = 0, used = 0;
    CUSWEEP_CUDA_CHECK(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReservedMemCurrent, &reserved));
    CUSWEEP_CUDA_CHECK(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemCurrent, &used));
    return static_cast<double>(free_bytes) +
           static_cast<double>(reserved - std::min(used, reserved));
  }

  // All the device's memory: a trial that needs more never fits, where one that needs more than
  // memory_budget_bytes() fits once other trials end.
  double memory_capacity_bytes() override {
    size_t free_bytes = 0, total_bytes = 0;
    CUSWEEP_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
    return static_cast<double>(total_bytes);
  }

  // The epoch workspace stays with the slot from epoch to epoch and trial to trial, grown when
  // a trial needs more. Given back after each epoch, it could be taken by another slot in
  // between, and the next epoch of a trial that has recorded evaluations would then fail for
  // memory it had; the first epoch's allocation fails before anything is recorded, and the
  // runner waits for memory then.
  void* begin_epoch_work(size_t bytes) override {
    if (bytes > epoch_work_bytes_) {
      if (epoch_work_ != nullptr) free_async_noexcept(epoch_work_, stream_);
      epoch_work_ = nullptr;
      epoch_work_bytes_ = 0;
      epoch_work_ = malloc_async(bytes, stream_);
      epoch_work_bytes_ = bytes;
    }
    return epoch_work_;
  }
  void end_epoch_work() noexcept override {}

  void synchronize() override { CUSWEEP_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

  template <class F>
  void launch_flat(int64_t rows, int64_t cols, const F& f) {
    static_assert(!steps::HasRowOnce<F>::value, "flat_grid_kernel runs no row_once");
    if (rows <= 0 || cols <= 0) return;
    constexpr int kThreads = 256;
    // Enough blocks for one element a thread, up to a bound past which each thread loops.
    const int64_t blocks = std::min<int64_t>((rows * cols + kThreads - 1) / kThreads, 1 << 20);
    flat_grid_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream_>>>(f, rows, cols);
    CUSWEEP_CUDA_CHECK(cudaGetLastError());
  }

  // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands.
  void gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
            const float* b, int ldb, float beta, float* c, int ldc) override {
    CUSWEEP_CUBLAS_CHECK(cublasSgemm(handle_, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                                     trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &alpha, b, ldb,
                                     a, lda, &beta, c, ldc));
  }

  void gemm_strided_batched(bool trans_a, bool trans_b, int m, int n, int k, float alpha,
                            const float* a, int lda, int64_t stride_a, const float* b, int ldb,
                            int64_t stride_b, float beta, float* c, int ldc, int64_t stride_c,
                            int count) override {
    CUSWEEP_CUBLAS_CHECK(cublasSgemmStridedBatched(
        handle_, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k,
        &alpha, b, ldb, stride_b, a, lda, stride_a, &beta, c, ldc, stride_c, count));
  }

  const char* location() const override { return location_.c_str(); }

 private:
  int device_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t handle_ = nullptr;
  std::unique_ptr<StreamAllocator> allocator_;
  std::string location_;
  void* epoch_work_ = nullptr;  // the epoch workspace, kept (begin_epoch_work)
  size_t epoch_work_bytes_ = 0;
};

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(int device) : device_(device) {
    CUSWEEP_CUDA_CHECK(cudaSetDevice(device_));
    if (!memory_pools_supported(device_)) throw DeviceError(no_memory_pools(device_));
    cudaDeviceProp prop{};
    CUSWEEP_CUDA_CHECK(cudaGetDeviceProperties(&prop, device_));
    description_ = fmt::format("cuda:{} {} (sm_{}{})", device_, prop.name, prop.major, prop.minor);
    // Slots allocate through the device's default pool (cudaMallocAsync). Its release
    // threshold is 0 by default: whatever is unused goes back to the driver at every
    // synchronization and is mapped again by the next allocation, each trial's buffers and
    // each evaluation's temporaries. The pool keeps what it has instead.
    cudaMemPool_t pool = nullptr;
    CUSWEEP_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device_));
    uint64_t keep = std::numeric_limits<uint64_t>::max();
    CUSWEEP_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep));
    CUSWEEP_CUDA_CHECK(cudaStreamCreateWithFlags(&upload_stream_, cudaStreamNonBlocking));
  }

  ~CudaBackend() override {
    for (void* p : owned_)
      cudaFree(p);
    cudaStreamDestroy(upload_stream_);
  }

  std::string name() const override { return "cuda"; }
  std::string description() const override { return description_; }

  // One upload per device; every slot reads these buffers.
  DataView share_data(const DataSplit& data) override {
    return DataView{upload(data.train), upload(data.eval)};
  }

  std::unique_ptr<Slot> make_slot(int index) override {
    return std::make_unique<CudaSlot>(device_, index);
  }

 private:
  template <class T, class Allocator>
  T* upload_array(const std::vector<T, Allocator>& host) {
    void* p = nullptr;
    CUSWEEP_CUDA_CHECK(cudaMalloc(&p, host.size() * sizeof(T)));
    owned_.push_back(p);
    // On a stream of its own, not the default stream; done before any slot reads it.
    CUSWEEP_CUDA_CHECK(cudaMemcpyAsync(p, host.data(), host.size() * sizeof(T),
                                       cudaMemcpyHostToDevice, upload_stream_));
    CUSWEEP_CUDA_CHECK(cudaStreamSynchronize(upload_stream_));
    return static_cast<T*>(p);
  }

  SplitView upload(const Dataset& d) {
    return SplitView{upload_array(d.features), upload_array(d.labels), d.rows, d.cols,
                     d.num_classes};
  }

  int device_;
  std::string description_;
  cudaStream_t upload_stream_ = nullptr;
  std::vector<void*> owned_;
};

}  // namespace

int cuda_device_count(std::string* reason, std::vector<std::string>* descriptions) {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    *reason = fmt::format("{} ({})", cudaGetErrorString(status), static_cast<int>(status));
    cudaGetLastError();  // clear the sticky error so later calls are not poisoned by it
    return 0;
  }
  if (count == 0) *reason = "no CUDA device found";
  if (count > 0 && !memory_pools_supported(0)) {  // the backend runs on device 0
    *reason = no_memory_pools(0);
    return 0;
  }
  for (int d = 0; d < count; ++d) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, d) != cudaSuccess) continue;
    descriptions->push_back(fmt::format("cuda:{} {} (sm_{}{}, {:.0f} GiB)", d, prop.name,
                                        prop.major, prop.minor,
                                        prop.totalGlobalMem / 1073741824.0));
  }
  return count;
}

std::unique_ptr<Backend> make_cuda_backend(int device) {
  return std::make_unique<CudaBackend>(device);
}

}  // namespace cusweep
