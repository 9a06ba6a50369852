// A worker slot: where one trial's steps run. On CUDA a slot owns a stream and a cuBLAS handle
// bound to it; on the CPU it is the calling thread with single-threaded BLAS. The trainer is
// written once against this interface; pointers it hands over are slot (device) memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace cusweep {

enum class Activation { kRelu = 0, kTanh = 1, kGelu = 2, kIdentity = 3 };

// Per-step optimizer hyperparameters, computed on the host (schedule, bias correction) so the
// device update needs no synchronization.
struct AdamWStep {
  float lr, beta1, beta2, eps, weight_decay;
  float bias_correction1, bias_correction2;  // 1 - beta^t
};

struct SgdStep {
  float lr, momentum, weight_decay;
};

// One array of a fused group of trials in slot memory: trial t's part starts at
// data + t * stride; a stride of 0 shares one part between all trials.
template <class T>
struct Strided {
  T* data = nullptr;
  int64_t stride = 0;
};

class Slot {
 public:
  virtual ~Slot() = default;

  // ---- memory (slot memory; asynchronous on the slot's stream where the device has one)
  virtual void* allocate(size_t bytes) = 0;
  virtual void deallocate(void* ptr) noexcept = 0;  // runs in destructors: never throws
  // Bytes a trial group may take on this slot's device (host RAM for the CPU slot).
  virtual double memory_budget_bytes() = 0;
  // All the memory of the slot's device: a trial group that needs more never fits, where one
  // that needs more than memory_budget_bytes() (what is free now, on a GPU) fits once other
  // trials end. The budget where that is fixed (the CPU's).
  virtual double memory_capacity_bytes() { return memory_budget_bytes(); }
  // `src` must stay valid until the next synchronize().
  virtual void copy_to_device(void* dst, const void* src, size_t bytes) = 0;
  // Returns when the data is on the host.
  virtual void copy_to_host(void* dst, const void* src, size_t bytes) = 0;
  virtual void synchronize() = 0;

  // ---- the epoch's workspace: slot memory for what lives only while an epoch trains and
  // evaluates (gradients, activations, the gathered batch, the epoch's order), valid from
  // begin_epoch_work until end_epoch_work; one at a time per slot. On the CPU this is also
  // where an epoch waits its turn: no more epochs compute at once than the process has cores,
  // first come first served, and their workspaces are reused, so a concurrent trial beyond the
  // cores holds only its model and optimizer state. Elsewhere it is an allocation.
  virtual void* begin_epoch_work(size_t bytes) {
    work_ = allocate(bytes);
    return work_;
  }
  virtual void end_epoch_work() noexcept {
    deallocate(work_);
    work_ = nullptr;
  }

  // ---- GEMM, row-major: C[m,n] = alpha * op(A)[m,k] * op(B)[k,n] + beta * C.
  virtual void gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a,
                    int lda, const float* b, int ldb, float beta, float* c, int ldc) = 0;

  // `count` independent GEMMs of the same shape, the i-th on a + i*stride_a, b + i*stride_b,
  // c + i*stride_c (a stride of 0 shares that operand): the layers of fused trials.
  virtual void gemm_strided_batched(bool trans_a, bool trans_b, int m, int n, int k, float alpha,
                                    const float* a, int lda, int64_t stride_a, const float* b,
                                    int ldb, int64_t stride_b, float beta, float* c, int ldc,
                                    int64_t stride_c, int count) = 0;

  // ---- element-wise and reduction steps (Thrust functors, model_steps.cuh)
  // The steps a training step runs once per trial take a fused group: `trials` trials of one
  // shape, one launch for all of them, trial t's part of each array at data + t * stride.
  // On the CPU every trial's results are bit-identical to the same step run on it alone.
  virtual void fill(float* x, int64_t n, float value) = 0;
  // out[r, :] = x[idx[r], :] for r < rows; labels_out[r] = labels[idx[r]], for each of `orders`
  // shuffled orders (x and labels are shared).  out: [orders][rows, cols] at out.stride
  virtual void gather_batch_group(int orders, const float* x, const int32_t* labels,
                                  Strided<const int32_t> idx, int64_t rows, int64_t cols,
                                  Strided<float> out, Strided<int32_t> labels_out) = 0;
  // z[r, c] += bias[c]; a[r, c] = act(z[r, c]).  z, a: [rows, cols] per trial; a may be z.
  virtual void bias_activation_group(int trials, Strided<float> z, Strided<const float> bias,
                                     int64_t rows, int64_t cols, Activation act,
                                     Strided<float> a) = 0;
  // dz = da * act'(z) over n elements per trial (a = act(z) is passed for activations whose
  // derivative uses it); dz may be da.
  virtual void activation_backward_group(int trials, Strided<const float> da,
                                         Strided<const float> z, Strided<const float> a, int64_t n,
                                         Activation act, Strided<float> dz) = 0;
  // Per row of each trial's logits [rows, classes]: loss_rows[r] = cross-entropy; grad =
  // (softmax - onehot) * grad_scale. Then loss_sum[t] += sum(loss_rows) (slot memory, no host
  // round trip). Trials that train on one shared batch pass labels with stride 0.
  virtual void softmax_cross_entropy_group(int trials, Strided<const float> logits,
                                           Strided<const int32_t> labels, int64_t rows, int classes,
                                           float grad_scale, Strided<float> grad,
                                           Strided<float> loss_rows, float* loss_sum) = 0;
  // Per row: predictions[r] = argmax, loss_rows[r] = cross-entropy.
  virtual void predict_group(int trials, Strided<const float> logits, Strided<const int32_t> labels,
                             int64_t rows, int classes, Strided<int32_t> predictions,
                             Strided<float> loss_rows) = 0;
  // n parameters per trial; params, grads and the optimizer state share `stride`. steps[t] is
  // trial t's step (host memory, read before the call returns).
  virtual void adamw_update_group(int trials, int64_t stride, float* params, const float* grads,
                                  float* m, float* v, int64_t n, const AdamWStep* steps) = 0;
  virtual void sgd_update_group(int trials, int64_t stride, float* params, const float* grads,
                                float* velocity, int64_t n, const SgdStep* steps) = 0;
  // Gradient clipping by global norm (torch.nn.utils.clip_grad_norm_, HF's max_grad_norm): each
  // trial's n gradients are scaled by min(1, max_norms[t] / (||g|| + 1e-6)); a max_norms[t] <= 0
  // leaves that trial's as they are. max_norms: host memory, read before the call returns.
  // `scratch`: clip_scratch_floats(trials, n) floats of slot memory.
  virtual void clip_grad_norm_group(int trials, int64_t stride, float* grads, int64_t n,
                                    const float* max_norms, float* scratch) = 0;
  static constexpr int64_t kGradNormChunk = 1024;  // elements per partial sum of squares
  static int64_t clip_scratch_floats(int trials, int64_t n) {
    return static_cast<int64_t>(trials) * ((n + kGradNormChunk - 1) / kGradNormChunk + 1);
  }

  // The same steps for one trial (a group of one).
  void gather_batch(const float* x, const int32_t* labels, const int32_t* idx, int64_t rows,
                    int64_t cols, float* out, int32_t* labels_out) {
    gather_batch_group(1, x, labels, {idx, 0}, rows, cols, {out, 0}, {labels_out, 0});
  }
  void bias_activation(float* z, const float* bias, int64_t rows, int64_t cols, Activation act,
                       float* a) {
    bias_activation_group(1, {z, 0}, {bias, 0}, rows, cols, act, {a, 0});
  }
  void activation_backward(const float* da, const float* z, const float* a, int64_t n,
                           Activation act, float* dz) {
    activation_backward_group(1, {da, 0}, {z, 0}, {a, 0}, n, act, {dz, 0});
  }
  void softmax_cross_entropy(const float* logits, const int32_t* labels, int64_t rows, int classes,
                             float grad_scale, float* grad, float* loss_rows, float* loss_sum) {
    softmax_cross_entropy_group(1, {logits, 0}, {labels, 0}, rows, classes, grad_scale, {grad, 0},
                                {loss_rows, 0}, loss_sum);
  }
  void predict(const float* logits, const int32_t* labels, int64_t rows, int classes,
               int32_t* predictions, float* loss_rows) {
    predict_group(1, {logits, 0}, {labels, 0}, rows, classes, {predictions, 0}, {loss_rows, 0});
  }
  void adamw_update(float* params, const float* grads, float* m, float* v, int64_t n,
                    const AdamWStep& step) {
    adamw_update_group(1, 0, params, grads, m, v, n, &step);
  }
  void sgd_update(float* params, const float* grads, float* velocity, int64_t n,
                  const SgdStep& step) {
    sgd_update_group(1, 0, params, grads, velocity, n, &step);
  }

  // Sum of x[0..n) returned to the host (synchronizes).
  virtual double sum(const float* x, int64_t n) = 0;
  // counts[t * classes + p] over the n (label, prediction) pairs, returned to the host.
  // `scratch` holds n int32 of slot memory.
  virtual std::vector<int64_t> confusion_matrix(const int32_t* labels, const int32_t* predictions,
                                                int64_t n, int classes, int32_t* scratch) = 0;

  // Human-readable location, e.g. "cpu:1" or "cuda:0/s3", for the trial table's loc column.
  virtual const char* location() const = 0;

 private:
  void* work_ = nullptr;
};

}  // namespace cusweep
