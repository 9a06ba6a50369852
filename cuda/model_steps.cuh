// The element-wise and reduction steps of training and evaluation, written once as Thrust
// algorithms over small functors. model_steps_cpu.cc instantiates them with thrust::cpp::par
// (THRUST_DEVICE_SYSTEM_CPP, plain g++); cuda_slot.cu with thrust::cuda::par_nosync.on(stream).
// Internal header: include only from those translation units, never from public headers.
#pragma once

#include <thrust/binary_search.h>
#include <thrust/execution_policy.h>
#include <thrust/fill.h>
#include <thrust/for_each.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/reduce.h>
#include <thrust/sort.h>
#include <thrust/transform.h>
#include <thrust/transform_reduce.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "slot.h"

#ifdef __CUDACC__
#define CUSWEEP_HD __host__ __device__
#else
#define CUSWEEP_HD
#endif

namespace cusweep {
namespace steps {

using Index = int64_t;

// ---- Grids of element steps. A 2-D step is a functor f(r, c) run once per element of a
// [rows, cols] grid, plus, when it has one, f.row_once(r) once per row. How a system walks the
// grid is chosen here alone, by the slot's kGridOrder; the steps never loop themselves.
enum class GridOrder {
  // The CPU: a loop over rows with the columns in an inner loop: no division per element, and
  // the inner loop is contiguous so the compiler can vectorize it.
  kRowLoops,
  // CUDA: one thread per element, r = i / cols, c = i % cols, so consecutive threads touch
  // consecutive addresses (coalesced) and a 64-row batch still fills the device.
  kFlat,
};

template <class F, class = void>
struct HasRowOnce : std::false_type {};
template <class F>
struct HasRowOnce<F, std::void_t<decltype(&F::row_once)>> : std::true_type {};

template <class F>
struct RowOfElements {
  F f;
  Index cols;
  CUSWEEP_HD void operator()(Index r) const {
    if constexpr (HasRowOnce<F>::value) f.row_once(r);
    for (Index c = 0; c < cols; ++c)
      f(r, c);
  }
};

template <class F>
struct OneElement {
  F f;
  Index cols;
  CUSWEEP_HD void operator()(Index i) const {
    const Index r = i / cols, c = i - r * cols;
    if constexpr (HasRowOnce<F>::value) {
      if (c == 0) f.row_once(r);
    }
    f(r, c);
  }
};

template <GridOrder kOrder, class Policy, class F>
void for_each_2d(Policy policy, Index rows, Index cols, const F& f) {
  if (rows <= 0 || cols <= 0) return;
  const thrust::counting_iterator<Index> first(0);
  if constexpr (kOrder == GridOrder::kFlat) {
    thrust::for_each_n(policy, first, rows * cols, OneElement<F>{f, cols});
  } else {
    thrust::for_each_n(policy, first, rows, RowOfElements<F>{f, cols});
  }
}

// Trial t's part of a fused group's array.
template <class T>
CUSWEEP_HD T* part(Strided<T> s, Index t) {
  return s.data + t * s.stride;
}

// Rows of `orders` shuffled orders, one after another: grid row r is row r % rows of order
// r / rows.
struct GatherRows {
  const float* x;
  const int32_t* labels;
  Strided<const int32_t> idx;
  Index rows, cols;
  Strided<float> out;
  Strided<int32_t> labels_out;
  CUSWEEP_HD Index source_row(Index r) const { return part(idx, r / rows)[r % rows]; }
  CUSWEEP_HD void row_once(Index r) const {
    part(labels_out, r / rows)[r % rows] = labels[source_row(r)];
  }
  CUSWEEP_HD void operator()(Index r, Index c) const {
    part(out, r / rows)[(r % rows) * cols + c] = x[source_row(r) * cols + c];
  }
};

CUSWEEP_HD inline float activate(float z, Activation act) {
  switch (act) {
    case Activation::kRelu:
      return z > 0.f ? z : 0.f;
    case Activation::kTanh:
      return tanhf(z);
    case Activation::kGelu:
      return 0.5f * z * (1.f + erff(z * 0.70710678f));  // exact (erf) GELU
    case Activation::kIdentity:
      return z;
  }
  return z;
}

CUSWEEP_HD inline float activation_derivative(float z, float a, Activation act) {
  switch (act) {
    case Activation::kRelu:
      return z > 0.f ? 1.f : 0.f;
    case Activation::kTanh:
      return 1.f - a * a;
    case Activation::kGelu: {
      const float cdf = 0.5f * (1.f + erff(z * 0.70710678f));
      const float pdf = 0.39894228f * expf(-0.5f * z * z);
      return cdf + z * pdf;
    }
    case Activation::kIdentity:
      return 1.f;
  }
  return 1.f;
}

// The activation steps take the activation as a template argument: the switch of activate()
// folds away, so no element branches on it and the CPU's loops vectorize (the ReLU backward
// step, a branch per element on z > 0 that was mispredicted half the time, was 5.8% of the
// reference workload's time). ThrustSteps::with_activation picks the instance.
// Grid rows are the rows of every trial, one trial after another; the bias index is the column.
template <Activation kAct>
struct BiasActivation {
  Strided<float> z;
  Strided<const float> bias;
  Index rows, cols;
  Strided<float> a;
  CUSWEEP_HD void operator()(Index r, Index c) const {
    const Index t = r / rows, i = (r - t * rows) * cols + c;
    const float v = part(z, t)[i] + part(bias, t)[c];
    part(z, t)[i] = v;
    part(a, t)[i] = activate(v, kAct);
  }
};

// Grid rows are trials, columns their elements.
template <Activation kAct>
struct ActivationBackward {
  Strided<const float> da, z, a;
  Strided<float> dz;
  CUSWEEP_HD void operator()(Index t, Index i) const {
    part(dz, t)[i] = part(da, t)[i] * activation_derivative(part(z, t)[i], part(a, t)[i], kAct);
  }
};

// Numerically stable log-softmax of one row; returns the log-sum-exp and the argmax.
CUSWEEP_HD inline float row_logsumexp(const float* z, int classes, int* argmax) {
  float m = z[0];
  int best = 0;
  for (int c = 1; c < classes; ++c) {
    if (z[c] > m) {
      m = z[c];
      best = c;
    }
  }
  float s = 0.f;
  for (int c = 0; c < classes; ++c)
    s += expf(z[c] - m);
  *argmax = best;
  return m + logf(s);
}

// Grid rows are trials, columns their rows of logits (a per-row reduction over the classes).
struct SoftmaxCrossEntropy {
  Strided<const float> logits;  // [rows, classes] per trial
  Strided<const int32_t> labels;
  int classes;
  float grad_scale;
  Strided<float> grad;  // [rows, classes] per trial
  Strided<float> loss_rows;
  CUSWEEP_HD void operator()(Index t, Index row) const {
    const float* z = part(logits, t) + row * classes;
    int argmax = 0;
    const float lse = row_logsumexp(z, classes, &argmax);
    const int y = part(labels, t)[row];
    part(loss_rows, t)[row] = lse - z[y];
    float* g = part(grad, t) + row * classes;
    for (int c = 0; c < classes; ++c) {
      g[c] = (expf(z[c] - lse) - (c == y ? 1.f : 0.f)) * grad_scale;
    }
  }
};

// One trial per call: adds its batch's row losses to its accumulator in slot memory, so the
// training loop never waits for the host. In row order, as a trial alone would.
struct AccumulateSum {
  Strided<const float> x;
  Index n;
  float* acc;
  CUSWEEP_HD void operator()(Index t) const {
    const float* xt = part(x, t);
    float s = 0.f;
    for (Index i = 0; i < n; ++i)
      s += xt[i];
    acc[t] += s;
  }
};

// Grid rows are trials, columns their rows of logits.
struct Predict {
  Strided<const float> logits;
  Strided<const int32_t> labels;
  int classes;
  Strided<int32_t> predictions;
  Strided<float> loss_rows;
  CUSWEEP_HD void operator()(Index t, Index row) const {
    const float* z = part(logits, t) + row * classes;
    int argmax = 0;
    const float lse = row_logsumexp(z, classes, &argmax);
    part(predictions, t)[row] = argmax;
    part(loss_rows, t)[row] = lse - z[part(labels, t)[row]];
  }
};

// Per-trial optimizer steps travel by value, inside the functor. A kernel's arguments are
// copied when it is launched, so the host may fill in the next step's values at once: no device
// buffer, no extra copy on the stream, no wait. (A pinned host buffer and cudaMemcpyAsync would
// need a buffer per step in flight, since the host runs up to an epoch ahead of the stream, and
// an event before reusing one.) 64 AdamW steps are 1.8 KB, inside the 4 KB of parameters a
// kernel may take; 64 is also the largest fused_trials a config may ask for. Larger groups
// (possible through Trainer directly) run as several launches.
constexpr int kMaxTrialsPerLaunch = 64;

template <class Step>
struct StepTable {
  Step step[kMaxTrialsPerLaunch];
};

// AdamW as torch.optim.AdamW: decoupled decay p *= 1 - lr*wd, then the Adam step
// p -= (lr / bc1) m / (sqrt(v) / sqrt(bc2) + eps), with bc = 1 - beta^t. Rearranged, as Kingma
// and Ba (2015, end of section 2) suggest, to p -= (lr sqrt(bc2) / bc1) m / (sqrt(v) +
// eps sqrt(bc2)): the same value up to rounding, with one division per parameter instead of
// three (a division is the costly part of the update: on the CPU it took 53 us a step for the
// reference MLP's 101,770 parameters, 29 us rearranged, against 19 to 22 us for only moving
// the four arrays; measured 2026-12-04). The scalars come from the host, once per step.
struct AdamWScalars {
  float decay;  // 1 - lr * weight_decay
  float beta1, one_minus_beta1, beta2, one_minus_beta2;
  float step_size;  // lr * sqrt(bc2) / bc1
  float eps_hat;    // eps * sqrt(bc2)
};

inline AdamWScalars adamw_scalars(const AdamWStep& s) {
  const double root_bc2 = std::sqrt(static_cast<double>(s.bias_correction2));
  return {1.f - s.lr * s.weight_decay,
          s.beta1,
          1.f - s.beta1,
          s.beta2,
          1.f - s.beta2,
          static_cast<float>(s.lr * root_bc2 / s.bias_correction1),
          static_cast<float>(s.eps * root_bc2)};
}

// Grid rows are trials, columns their parameters; all four arrays have the trials `stride`
// apart.
struct AdamWUpdate {
  float* p;
  const float* g;
  float* m;
  float* v;
  Index stride;
  StepTable<AdamWScalars> steps;
  CUSWEEP_HD void operator()(Index t, Index j) const {
    const AdamWScalars& s = steps.step[t];
    const Index i = t * stride + j;
    const float gi = g[i];
    const float mi = s.beta1 * m[i] + s.one_minus_beta1 * gi;
    const float vi = s.beta2 * v[i] + s.one_minus_beta2 * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * s.decay - s.step_size * mi / (sqrtf(vi) + s.eps_hat);
  }
};

// SGD with momentum as torch.optim.SGD (dampening 0, coupled L2 weight decay).
struct SgdUpdate {
  float* p;
  const float* g;
  float* velocity;
  Index stride;
  StepTable<SgdStep> steps;
  CUSWEEP_HD void operator()(Index t, Index j) const {
    const SgdStep& s = steps.step[t];
    const Index i = t * stride + j;
    const float gi = g[i] + s.weight_decay * p[i];
    const float vi = s.momentum * velocity[i] + gi;
    velocity[i] = vi;
    p[i] -= s.lr * vi;
  }
};

// Gradient clipping by global norm, in three grids so that nothing waits for the host: the
// sums of squares of each trial's chunks, then each trial's scale, then the scaled gradients.
constexpr Index kNormChunk = Slot::kGradNormChunk;

inline Index norm_chunks(Index n) {
  return (n + kNormChunk - 1) / kNormChunk;
}

// Grid (trial, chunk): partials[t * chunks + c] = sum of g^2 over chunk c of trial t.
struct SquaresPartial {
  const float* g;
  Index stride, n, chunks;
  float* partials;
  CUSWEEP_HD void operator()(Index t, Index c) const {
    const float* x = g + t * stride;
    const Index end = (c + 1) * kNormChunk < n ? (c + 1) * kNormChunk : n;
    float s = 0.f;
    for (Index i = c * kNormChunk; i < end; ++i)
      s += x[i] * x[i];
    partials[t * chunks + c] = s;
  }
};

// Per trial: scale[t] = min(1, max_norm / (||g|| + 1e-6)), torch's clip_grad_norm_ formula. A
// max_norm <= 0 (clipping off for that trial) gives 1.
struct ClipScale {
  const float* partials;
  Index chunks;
  StepTable<float> max_norm;
  float* scale;
  CUSWEEP_HD void operator()(Index t) const {
    float s = 0.f;
    for (Index c = 0; c < chunks; ++c)
      s += partials[t * chunks + c];
    const float limit = max_norm.step[t];
    const float coef = limit / (sqrtf(s) + 1e-6f);
    scale[t] = limit > 0.f && coef < 1.f ? coef : 1.f;
  }
};

// Grid (trial, element): g *= scale[t].
struct ScaleGradients {
  float* g;
  Index stride;
  const float* scale;
  CUSWEEP_HD void operator()(Index t, Index j) const { g[t * stride + j] *= scale[t]; }
};

// Thrust wraps the functor with the grid's column count and its iterator: leave room for those.
static_assert(sizeof(AdamWUpdate) <= 4096 - 256 && sizeof(SgdUpdate) <= 4096 - 256,
              "a per-trial step table must fit in a kernel's 4 KB of parameters");

struct ToDouble {
  CUSWEEP_HD double operator()(float v) const { return static_cast<double>(v); }
};

struct ConfusionKey {
  const int32_t* labels;
  const int32_t* predictions;
  int classes;
  CUSWEEP_HD int32_t operator()(Index i) const { return labels[i] * classes + predictions[i]; }
};

// Implements the step half of Slot for any Thrust execution policy. `Derived` provides
// policy() (the one place its policy and stream are made), kGridOrder (how it walks a grid of
// element steps) and the memory/GEMM half. It may overload for_2d for a step type, to compile
// that step's loop differently (CpuSlot: once per instruction set).
template <class Derived>
class ThrustSteps : public Slot {
 public:
  void fill(float* x, int64_t n, float value) override { thrust::fill_n(policy(), x, n, value); }

  void gather_batch_group(int orders, const float* x, const int32_t* labels,
                          Strided<const int32_t> idx, int64_t rows, int64_t cols,
                          Strided<float> out, Strided<int32_t> labels_out) override {
    self().for_2d(orders * rows, cols, GatherRows{x, labels, idx, rows, cols, out, labels_out});
  }

  void bias_activation_group(int trials, Strided<float> z, Strided<const float> bias, int64_t rows,
                             int64_t cols, Activation act, Strided<float> a) override {
    with_activation(act, [&](auto kind) {
      self().for_2d(trials * rows, cols, BiasActivation<kind()>{z, bias, rows, cols, a});
    });
  }

  void activation_backward_group(int trials, Strided<const float> da, Strided<const float> z,
                                 Strided<const float> a, int64_t n, Activation act,
                                 Strided<float> dz) override {
    with_activation(act, [&](auto kind) {
      self().for_2d(trials, n, ActivationBackward<kind()>{da, z, a, dz});
    });
  }

  void softmax_cross_entropy_group(int trials, Strided<const float> logits,
                                   Strided<const int32_t> labels, int64_t rows, int classes,
                                   float grad_scale, Strided<float> grad, Strided<float> loss_rows,
                                   float* loss_sum) override {
    self().for_2d(trials, rows,
                  SoftmaxCrossEntropy{logits, labels, classes, grad_scale, grad, loss_rows});
    for_rows(trials, AccumulateSum{{loss_rows.data, loss_rows.stride}, rows, loss_sum});
  }

  void predict_group(int trials, Strided<const float> logits, Strided<const int32_t> labels,
                     int64_t rows, int classes, Strided<int32_t> predictions,
                     Strided<float> loss_rows) override {
    self().for_2d(trials, rows, Predict{logits, labels, classes, predictions, loss_rows});
  }

  void adamw_update_group(int trials, int64_t stride, float* params, const float* grads, float* m,
                          float* v, int64_t n, const AdamWStep* steps) override {
    for_trial_chunks(trials, steps, adamw_scalars,
                     [&](int first, int count, const StepTable<AdamWScalars>& table) {
                       const int64_t at = first * stride;
                       self().for_2d(
                           count, n,
                           AdamWUpdate{params + at, grads + at, m + at, v + at, stride, table});
                     });
  }

  void sgd_update_group(int trials, int64_t stride, float* params, const float* grads,
                        float* velocity, int64_t n, const SgdStep* steps) override {
    for_trial_chunks(trials, steps, [&](int first, int count, const StepTable<SgdStep>& table) {
      const int64_t at = first * stride;
      self().for_2d(count, n, SgdUpdate{params + at, grads + at, velocity + at, stride, table});
    });
  }

  void clip_grad_norm_group(int trials, int64_t stride, float* grads, int64_t n,
                            const float* max_norms, float* scratch) override {
    const Index chunks = norm_chunks(n);
    float* partials = scratch;
    float* scales = scratch + static_cast<int64_t>(trials) * chunks;
    self().for_2d(trials, chunks, SquaresPartial{grads, stride, n, chunks, partials});
    for_trial_chunks(trials, max_norms, [&](int first, int count, const StepTable<float>& t) {
      for_rows(count, ClipScale{partials + first * chunks, chunks, t, scales + first});
    });
    self().for_2d(trials, n, ScaleGradients{grads, stride, scales});
  }

  // The one place a grid of element steps meets the system's iteration order.
  template <class F>
  void for_2d(int64_t rows, int64_t cols, const F& f) {
    for_each_2d<Derived::kGridOrder>(policy(), rows, cols, f);
  }

  double sum(const float* x, int64_t n) override {
    // Accumulate in double: eval sets of 10^4..10^5 rows lose digits in float.
    return thrust::transform_reduce(policy(), x, x + n, ToDouble{}, 0.0, thrust::plus<double>());
  }

  // Dense histogram by sorting: keys t*C+p sorted, then the upper bound of each key value.
  std::vector<int64_t> confusion_matrix(const int32_t* labels, const int32_t* predictions,
                                        int64_t n, int classes, int32_t* scratch) override {
    const int64_t cells = static_cast<int64_t>(classes) * classes;
    thrust::counting_iterator<Index> first(0);
    thrust::transform(policy(), first, first + n, scratch,
                      ConfusionKey{labels, predictions, classes});
    thrust::sort(policy(), scratch, scratch + n);

    std::vector<int64_t> ends(static_cast<size_t>(cells));
    struct Held {  // given back also when a step throws
      Derived& slot;
      int64_t* p;
      ~Held() { slot.deallocate(p); }
    } ends_dev{self(), static_cast<int64_t*>(self().allocate(cells * sizeof(int64_t)))};
    thrust::counting_iterator<int32_t> keys(0);
    thrust::upper_bound(policy(), scratch, scratch + n, keys, keys + cells, ends_dev.p);
    self().copy_to_host(ends.data(), ends_dev.p, cells * sizeof(int64_t));

    std::vector<int64_t> counts(ends.size());
    for (size_t i = 0; i < ends.size(); ++i)
      counts[i] = ends[i] - (i ? ends[i - 1] : 0);
    return counts;
  }

 private:
  Derived& self() { return static_cast<Derived&>(*this); }
  auto policy() { return self().policy(); }

  // launch(kind), kind() being `act` as a constant expression.
  template <class Launch>
  static void with_activation(Activation act, Launch launch) {
    using A = Activation;
    switch (act) {
      case A::kRelu:
        return launch(std::integral_constant<A, A::kRelu>{});
      case A::kTanh:
        return launch(std::integral_constant<A, A::kTanh>{});
      case A::kGelu:
        return launch(std::integral_constant<A, A::kGelu>{});
      case A::kIdentity:
        return launch(std::integral_constant<A, A::kIdentity>{});
    }
  }

  template <class F>
  void for_rows(int64_t n, F f) {
    if (n > 0) thrust::for_each_n(policy(), thrust::counting_iterator<Index>(0), n, f);
  }

  // Calls launch(first, count, table) for trials [first, first + count), at most
  // kMaxTrialsPerLaunch at a time, with convert(step) of each in the table (on the host, by
  // value: nothing is allocated).
  template <class Step, class Convert, class Launch>
  static void for_trial_chunks(int trials, const Step* steps, Convert convert, Launch launch) {
    for (int first = 0; first < trials; first += kMaxTrialsPerLaunch) {
      const int count = std::min(kMaxTrialsPerLaunch, trials - first);
      StepTable<decltype(convert(*steps))> table{};
      std::transform(steps + first, steps + first + count, table.step, convert);
      launch(first, count, table);
    }
  }
  template <class Step, class Launch>
  static void for_trial_chunks(int trials, const Step* steps, Launch launch) {
    for_trial_chunks(
        trials, steps, [](const Step& s) { return s; }, launch);
  }
};

}  // namespace steps
}  // namespace cusweep
