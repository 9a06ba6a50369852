// The element-wise and reduction steps of training and evaluation, written once as Thrust
// algorithms over small functors. cpu_slot_cpu.cc instantiates them with thrust::cpp::par
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

#include <cmath>
#include <cstdint>
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

struct GatherRows {
  const float* x;
  const int32_t* labels;
  const int32_t* idx;
  Index cols;
  float* out;
  int32_t* labels_out;
  CUSWEEP_HD void operator()(Index r) const {
    const float* src = x + static_cast<Index>(idx[r]) * cols;
    float* dst = out + r * cols;
    for (Index c = 0; c < cols; ++c)
      dst[c] = src[c];
    labels_out[r] = labels[idx[r]];
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

// One row per call: the bias index is the column, so no division per element.
struct BiasActivation {
  float* z;
  const float* bias;
  Index cols;
  Activation act;
  float* a;
  CUSWEEP_HD void operator()(Index r) const {
    float* zr = z + r * cols;
    float* ar = a + r * cols;
    for (Index c = 0; c < cols; ++c) {
      const float v = zr[c] + bias[c];
      zr[c] = v;
      ar[c] = activate(v, act);
    }
  }
};

struct ActivationBackward {
  const float* da;
  const float* z;
  const float* a;
  Activation act;
  float* dz;
  CUSWEEP_HD void operator()(Index i) const {
    dz[i] = da[i] * activation_derivative(z[i], a[i], act);
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

struct SoftmaxCrossEntropy {
  const float* logits;  // [rows, classes]
  const int32_t* labels;
  int classes;
  float grad_scale;
  float* grad;  // [rows, classes]
  float* loss_rows;
  CUSWEEP_HD void operator()(Index r) const {
    const float* z = logits + r * classes;
    int argmax = 0;
    const float lse = row_logsumexp(z, classes, &argmax);
    const int y = labels[r];
    loss_rows[r] = lse - z[y];
    float* g = grad + r * classes;
    for (int c = 0; c < classes; ++c) {
      g[c] = (expf(z[c] - lse) - (c == y ? 1.f : 0.f)) * grad_scale;
    }
  }
};

// Runs as a single element: adds a small batch's row losses to an accumulator in slot memory,
// so the training loop never waits for the host.
struct AccumulateSum {
  const float* x;
  Index n;
  float* acc;
  CUSWEEP_HD void operator()(Index) const {
    float s = 0.f;
    for (Index i = 0; i < n; ++i)
      s += x[i];
    acc[0] += s;
  }
};

struct Predict {
  const float* logits;
  const int32_t* labels;
  int classes;
  int32_t* predictions;
  float* loss_rows;
  CUSWEEP_HD void operator()(Index r) const {
    const float* z = logits + r * classes;
    int argmax = 0;
    const float lse = row_logsumexp(z, classes, &argmax);
    predictions[r] = argmax;
    loss_rows[r] = lse - z[labels[r]];
  }
};

// AdamW as torch.optim.AdamW: decoupled decay p -= lr*wd*p, then the Adam step.
struct AdamWUpdate {
  float* p;
  const float* g;
  float* m;
  float* v;
  AdamWStep s;
  CUSWEEP_HD void operator()(Index i) const {
    const float gi = g[i];
    float pi = p[i] * (1.f - s.lr * s.weight_decay);
    const float mi = s.beta1 * m[i] + (1.f - s.beta1) * gi;
    const float vi = s.beta2 * v[i] + (1.f - s.beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    const float denom = sqrtf(vi / s.bias_correction2) + s.eps;
    pi -= s.lr * (mi / s.bias_correction1) / denom;
    p[i] = pi;
  }
};

// SGD with momentum as torch.optim.SGD (dampening 0, coupled L2 weight decay).
struct SgdUpdate {
  float* p;
  const float* g;
  float* velocity;
  SgdStep s;
  CUSWEEP_HD void operator()(Index i) const {
    const float gi = g[i] + s.weight_decay * p[i];
    const float vi = s.momentum * velocity[i] + gi;
    velocity[i] = vi;
    p[i] -= s.lr * vi;
  }
};

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
// policy() (the one place its policy and stream are made) and the memory/GEMM half.
template <class Derived>
class ThrustSteps : public Slot {
 public:
  void fill(float* x, int64_t n, float value) override { thrust::fill_n(policy(), x, n, value); }

  void gather_batch(const float* x, const int32_t* labels, const int32_t* idx, int64_t rows,
                    int64_t cols, float* out, int32_t* labels_out) override {
    for_rows(rows, GatherRows{x, labels, idx, cols, out, labels_out});
  }

  void bias_activation(float* z, const float* bias, int64_t rows, int64_t cols, Activation act,
                       float* a) override {
    for_rows(rows, BiasActivation{z, bias, cols, act, a});
  }

  void activation_backward(const float* da, const float* z, const float* a, int64_t n,
                           Activation act, float* dz) override {
    for_rows(n, ActivationBackward{da, z, a, act, dz});
  }

  void softmax_cross_entropy(const float* logits, const int32_t* labels, int64_t rows, int classes,
                             float grad_scale, float* grad, float* loss_rows,
                             float* loss_sum) override {
    for_rows(rows, SoftmaxCrossEntropy{logits, labels, classes, grad_scale, grad, loss_rows});
    for_rows(1, AccumulateSum{loss_rows, rows, loss_sum});
  }

  void predict(const float* logits, const int32_t* labels, int64_t rows, int classes,
               int32_t* predictions, float* loss_rows) override {
    for_rows(rows, Predict{logits, labels, classes, predictions, loss_rows});
  }

  void adamw_update(float* params, const float* grads, float* m, float* v, int64_t n,
                    const AdamWStep& step) override {
    for_rows(n, AdamWUpdate{params, grads, m, v, step});
  }

  void sgd_update(float* params, const float* grads, float* velocity, int64_t n,
                  const SgdStep& step) override {
    for_rows(n, SgdUpdate{params, grads, velocity, step});
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
    int64_t* ends_dev = static_cast<int64_t*>(self().allocate(cells * sizeof(int64_t)));
    thrust::counting_iterator<int32_t> keys(0);
    thrust::upper_bound(policy(), scratch, scratch + n, keys, keys + cells, ends_dev);
    self().copy_to_host(ends.data(), ends_dev, cells * sizeof(int64_t));
    self().deallocate(ends_dev);

    std::vector<int64_t> counts(ends.size());
    for (size_t i = 0; i < ends.size(); ++i)
      counts[i] = ends[i] - (i ? ends[i - 1] : 0);
    return counts;
  }

 private:
  Derived& self() { return static_cast<Derived&>(*this); }
  auto policy() { return self().policy(); }

  template <class F>
  void for_rows(int64_t n, F f) {
    thrust::for_each_n(policy(), thrust::counting_iterator<Index>(0), n, f);
  }
};

}  // namespace steps
}  // namespace cusweep
