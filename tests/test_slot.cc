// Every Slot step against a plain C++ reference, on each backend this machine can run: the CPU
// always; CUDA when a device answers (else the CUDA cases skip with the reason).
#include <gtest/gtest.h>

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <numeric>
#include <thread>
#include <vector>

#include "backend.h"
#include "cuda_required.h"
#include "cusweep/search_space.h"
#include "trainer.h"
#ifdef CUSWEEP_HAVE_CUDA
#include "cuda_backend.h"
#endif

namespace cusweep {
namespace {

std::unique_ptr<Backend> backend_or_skip(const std::string& name, std::string* reason) {
  if (name == "cpu") return make_cpu_backend();
  const BackendProbe probe = probe_backends();
  if (!probe.cuda_compiled || !probe.cuda_usable) {
    *reason = "no usable CUDA device: " + probe.cuda_reason;
    return nullptr;
  }
#ifdef CUSWEEP_HAVE_CUDA
  return make_cuda_backend(0);
#else
  return nullptr;
#endif
}

class SlotTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::string reason;
    backend_ = backend_or_skip(GetParam(), &reason);
    if (!backend_) CUSWEEP_SKIP_WITHOUT_CUDA(reason);
    slot_ = backend_->make_slot(0);
  }

  template <class T>
  T* upload(const std::vector<T>& host) {
    T* p = static_cast<T*>(slot_->allocate(std::max<size_t>(host.size(), 1) * sizeof(T)));
    slot_->copy_to_device(p, host.data(), host.size() * sizeof(T));
    slot_->synchronize();
    owned_.push_back(p);
    return p;
  }

  template <class T>
  std::vector<T> download(const T* p, size_t n) {
    std::vector<T> host(n);
    slot_->copy_to_host(host.data(), p, n * sizeof(T));
    return host;
  }

  void TearDown() override {
    for (void* p : owned_)
      slot_->deallocate(p);
    if (slot_) slot_->synchronize();
  }

  static std::vector<float> random_floats(size_t n, uint64_t seed) {
    Rng rng(seed);
    std::vector<float> v(n);
    for (auto& x : v)
      x = static_cast<float>(2 * rng.uniform() - 1);
    return v;
  }

  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Slot> slot_;
  std::vector<void*> owned_;
};

// Row-major reference GEMM.
std::vector<float> reference_gemm(bool ta, bool tb, int m, int n, int k,
                                  const std::vector<float>& a, int lda, const std::vector<float>& b,
                                  int ldb) {
  std::vector<float> c(static_cast<size_t>(m) * n, 0.f);
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      double s = 0;
      for (int p = 0; p < k; ++p) {
        const float av = ta ? a[p * lda + i] : a[i * lda + p];
        const float bv = tb ? b[j * ldb + p] : b[p * ldb + j];
        s += static_cast<double>(av) * bv;
      }
      c[i * n + j] = static_cast<float>(s);
    }
  }
  return c;
}

TEST_P(SlotTest, GemmMatchesReferenceForEveryTransposeCombination) {
  const int m = 7, n = 5, k = 9;
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      const std::vector<float> a = random_floats(m * k, 1), b = random_floats(k * n, 2);
      const int lda = ta ? m : k, ldb = tb ? k : n;
      float* c = upload(std::vector<float>(m * n, 0.f));
      slot_->gemm(ta, tb, m, n, k, 1.f, upload(a), lda, upload(b), ldb, 0.f, c, n);
      const std::vector<float> got = download(c, m * n);
      const std::vector<float> want = reference_gemm(ta, tb, m, n, k, a, lda, b, ldb);
      for (int i = 0; i < m * n; ++i) {
        EXPECT_NEAR(got[i], want[i], 1e-4f) << "ta=" << ta << " tb=" << tb << " i=" << i;
      }
    }
  }
}

TEST_P(SlotTest, GatherBatchCopiesRowsAndLabelsInPermutationOrder) {
  const std::vector<float> x = {0, 1, 10, 11, 20, 21, 30, 31};  // [4, 2]
  const std::vector<int32_t> labels = {0, 1, 2, 3};
  const std::vector<int32_t> idx = {2, 0, 3};
  float* out = upload(std::vector<float>(6));
  int32_t* lab = upload(std::vector<int32_t>(3));
  slot_->gather_batch(upload(x), upload(labels), upload(idx), 3, 2, out, lab);
  EXPECT_EQ(download(out, 6), (std::vector<float>{20, 21, 0, 1, 30, 31}));
  EXPECT_EQ(download(lab, 3), (std::vector<int32_t>{2, 0, 3}));
}

TEST_P(SlotTest, BiasActivationAndBackwardMatchFormulas) {
  const std::vector<float> z0 = {-1.5f, 0.f, 0.5f, 2.f, -0.25f, 1.f};  // [2, 3]
  const std::vector<float> bias = {0.5f, -0.5f, 0.f};
  const Activation acts[] = {Activation::kRelu, Activation::kTanh, Activation::kGelu};
  for (Activation act : acts) {
    float* z = upload(z0);
    float* a = upload(std::vector<float>(6));
    slot_->bias_activation(z, upload(bias), 2, 3, act, a);
    const std::vector<float> zs = download(z, 6), as = download(a, 6);
    float* dz = upload(std::vector<float>(6));
    slot_->activation_backward(upload(std::vector<float>(6, 1.f)), z, a, 6, act, dz);
    const std::vector<float> ds = download(dz, 6);
    for (int i = 0; i < 6; ++i) {
      const double v = z0[i] + bias[i % 3];
      EXPECT_FLOAT_EQ(zs[i], static_cast<float>(v));
      double want_a = 0, want_d = 0;
      if (act == Activation::kRelu) {
        want_a = v > 0 ? v : 0;
        want_d = v > 0 ? 1 : 0;
      } else if (act == Activation::kTanh) {
        want_a = std::tanh(v);
        want_d = 1 - want_a * want_a;
      } else {
        const double cdf = 0.5 * (1 + std::erf(v / std::sqrt(2.0)));
        want_a = v * cdf;
        want_d = cdf + v * std::exp(-0.5 * v * v) / std::sqrt(2 * M_PI);
      }
      EXPECT_NEAR(as[i], want_a, 1e-5) << "act " << static_cast<int>(act) << " i " << i;
      EXPECT_NEAR(ds[i], want_d, 1e-5) << "act " << static_cast<int>(act) << " i " << i;
    }
  }
}

TEST_P(SlotTest, SoftmaxCrossEntropyLossGradientAndAccumulator) {
  const std::vector<float> logits = {1.f, 2.f, 3.f, 1000.f, 0.f, -1000.f};  // [2, 3]
  const std::vector<int32_t> labels = {2, 1};
  float* grad = upload(std::vector<float>(6));
  float* loss = upload(std::vector<float>(2));
  float* acc = upload(std::vector<float>{0.5f});
  slot_->softmax_cross_entropy(upload(logits), upload(labels), 2, 3, 0.5f, grad, loss, acc);
  const std::vector<float> g = download(grad, 6), l = download(loss, 2), s = download(acc, 1);
  // Row 0: log-sum-exp(1,2,3) = 3.40760596; loss = lse - 3.
  const double lse = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0));
  EXPECT_NEAR(l[0], lse - 3.0, 1e-5);
  EXPECT_NEAR(g[0], 0.5 * std::exp(1.0 - lse), 1e-6);
  EXPECT_NEAR(g[2], 0.5 * (std::exp(3.0 - lse) - 1.0), 1e-6);
  // Row 1 is extreme but finite: loss = 1000 for label 1, gradient -0.5 on the label.
  EXPECT_NEAR(l[1], 1000.0, 1e-3);
  EXPECT_NEAR(g[3], 0.5, 1e-6);
  EXPECT_NEAR(g[4], -0.5, 1e-6);
  EXPECT_NEAR(s[0], 0.5 + l[0] + l[1], 1e-3);
}

TEST_P(SlotTest, PredictGivesArgmaxAndLoss) {
  const std::vector<float> logits = {0.f, 5.f, 1.f, 3.f, 2.f, 1.f};
  int32_t* pred = upload(std::vector<int32_t>(2));
  float* loss = upload(std::vector<float>(2));
  slot_->predict(upload(logits), upload(std::vector<int32_t>{1, 2}), 2, 3, pred, loss);
  EXPECT_EQ(download(pred, 2), (std::vector<int32_t>{1, 0}));
  const double lse1 = std::log(std::exp(3.0) + std::exp(2.0) + std::exp(1.0));
  EXPECT_NEAR(download(loss, 2)[1], lse1 - 1.0, 1e-5);
}

TEST_P(SlotTest, AdamWMatchesTorchFormula) {
  const std::vector<float> p0 = {1.f, -2.f}, g = {0.5f, -0.25f};
  const AdamWStep s{0.1f, 0.9f, 0.999f, 1e-8f, 0.01f, 1 - 0.9f, 1 - 0.999f};
  float* p = upload(p0);
  float* m = upload(std::vector<float>(2, 0.f));
  float* v = upload(std::vector<float>(2, 0.f));
  slot_->adamw_update(p, upload(g), m, v, 2, s);
  const std::vector<float> got = download(p, 2);
  for (int i = 0; i < 2; ++i) {
    // First step: m_hat = g, v_hat = g^2, so the step is lr * sign(g) (up to eps).
    const double decayed = p0[i] * (1 - 0.1 * 0.01);
    const double want = decayed - 0.1 * g[i] / (std::fabs(g[i]) + 1e-8);
    EXPECT_NEAR(got[i], want, 1e-6);
  }
}

// On the CPU the optimizer steps flush subnormal states to zero (a state decaying between rare
// gradients otherwise costs a microcode assist per vector on Intel cores), and only there: the
// caller's floating-point mode is as it was. On CUDA subnormals are kept.
TEST_P(SlotTest, OptimizerStepsFlushSubnormalStatesOnTheCpuOnly) {
  const float tiny = 1e-39f;  // subnormal: below 1.18e-38
  ASSERT_TRUE(std::fpclassify(tiny) == FP_SUBNORMAL);
  const AdamWStep s{0.1f, 0.9f, 0.999f, 1e-8f, 0.f, 1 - 0.9f, 1 - 0.999f};
  float* p = upload(std::vector<float>{1.f, 1.f});
  float* m = upload(std::vector<float>{tiny, 0.5f});
  float* v = upload(std::vector<float>{1e-6f, 1e-6f});
  volatile float before = tiny;  // host arithmetic on subnormals, before and after the step
  slot_->adamw_update(p, upload(std::vector<float>{0.f, 0.f}), m, v, 2, s);
  const std::vector<float> m_after = download(m, 2);
  EXPECT_EQ(m_after[1], 0.9f * 0.5f);  // normal states follow the formula
  if (GetParam() == "cpu") {
    EXPECT_EQ(m_after[0], 0.f);
  } else {
    EXPECT_EQ(m_after[0], 0.9f * tiny);
  }
  volatile float half = before * 0.5f;
  EXPECT_GT(half, 0.f) << "the step left subnormals flushed in the calling thread";

  float* velocity = upload(std::vector<float>{tiny});
  slot_->sgd_update(upload(std::vector<float>{1.f}), upload(std::vector<float>{0.f}), velocity, 1,
                    SgdStep{0.1f, 0.9f, 0.f});
  EXPECT_EQ(download(velocity, 1)[0], GetParam() == "cpu" ? 0.f : 0.9f * tiny);
}

TEST_P(SlotTest, SgdMomentumMatchesTorchFormula) {
  float* p = upload(std::vector<float>{1.f});
  float* vel = upload(std::vector<float>{0.2f});
  slot_->sgd_update(p, upload(std::vector<float>{0.5f}), vel, 1, SgdStep{0.1f, 0.9f, 0.1f});
  const double g = 0.5 + 0.1 * 1.0, v = 0.9 * 0.2 + g;
  EXPECT_NEAR(download(vel, 1)[0], v, 1e-6);
  EXPECT_NEAR(download(p, 1)[0], 1.0 - 0.1 * v, 1e-6);
}

TEST_P(SlotTest, ClipGradNormScalesEachTrialToItsMaxNorm) {
  // Three trials of 2,500 gradients (three partial sums each), 16 apart: trial 0 is clipped to
  // norm 1, trial 1's norm is under its limit, trial 2 has clipping off (max_norm 0).
  const int64_t n = 2500, stride = n + 16;
  std::vector<float> g0 = random_floats(static_cast<size_t>(3 * stride), 5);
  for (int64_t j = 0; j < n; ++j)
    g0[static_cast<size_t>(stride + j)] *= 1e-3f;  // trial 1: norm about 0.03
  float* g = upload(g0);
  const std::vector<float> max_norms = {1.f, 0.5f, 0.f};
  float* scratch = upload(std::vector<float>(Slot::clip_scratch_floats(3, n)));
  slot_->clip_grad_norm_group(3, stride, g, n, max_norms.data(), scratch);
  const std::vector<float> out = download(g, g0.size());
  for (int t = 0; t < 3; ++t) {
    double norm = 0;
    for (int64_t j = 0; j < n; ++j)
      norm += static_cast<double>(g0[t * stride + j]) * g0[t * stride + j];
    norm = std::sqrt(norm);
    const double scale = max_norms[t] > 0 ? std::min(1.0, max_norms[t] / (norm + 1e-6)) : 1.0;
    if (t == 0) ASSERT_LT(scale, 0.2) << "trial 0 must be clipped";
    if (t == 1) ASSERT_EQ(scale, 1.0) << "trial 1 is under its limit";
    for (int64_t j = 0; j < n; ++j) {
      const size_t i = static_cast<size_t>(t * stride + j);
      ASSERT_NEAR(out[i], g0[i] * scale, 1e-5 * std::fabs(g0[i]) + 1e-9) << t << " " << j;
    }
    for (int64_t j = n; j < stride && t < 2; ++j) {
      const size_t i = static_cast<size_t>(t * stride + j);
      ASSERT_EQ(out[i], g0[i]) << "padding between trials is left alone";
    }
  }
}

TEST_P(SlotTest, SumAndConfusionMatrixAreExact) {
  std::vector<float> x(10000);
  std::iota(x.begin(), x.end(), 0.f);
  EXPECT_DOUBLE_EQ(slot_->sum(upload(x), 10000), 49995000.0);

  const std::vector<int32_t> labels = {0, 0, 1, 2, 2, 2, 1};
  const std::vector<int32_t> preds = {0, 1, 1, 2, 0, 2, 1};
  int32_t* scratch = upload(std::vector<int32_t>(labels.size()));
  const std::vector<int64_t> cm =
      slot_->confusion_matrix(upload(labels), upload(preds), 7, 3, scratch);
  EXPECT_EQ(cm, (std::vector<int64_t>{1, 1, 0, 0, 2, 0, 1, 0, 2}));
}

// ---- Fused groups: each step over a group of trials must give every trial exactly what the
// same step gives it alone (bit for bit: the same functor, only the indexing differs). Trial
// parts are padded apart (stride > what a trial uses) so a step that writes past its part or
// reads the wrong one shows up.
constexpr int kGroup = 3;

TEST_P(SlotTest, GatherBatchGroupMatchesEachOrderAlone) {
  const int64_t rows = 3, cols = 5, train_rows = 7;
  const std::vector<float> x = random_floats(train_rows * cols, 11);
  const std::vector<int32_t> labels = {6, 5, 4, 3, 2, 1, 0};
  const std::vector<int32_t> idx = {2, 0, 6, 9, 9, 9, 1, 4, 5, 9, 9, 9};  // 2 orders, stride 6
  const float* xs = upload(x);
  const int32_t *ls = upload(labels), *is = upload(idx);
  const int64_t out_stride = rows * cols + 2;
  float* together = upload(std::vector<float>(2 * out_stride, -1.f));
  float* alone = upload(std::vector<float>(2 * out_stride, -1.f));
  int32_t* lab_together = upload(std::vector<int32_t>(8, -1));
  int32_t* lab_alone = upload(std::vector<int32_t>(8, -1));
  slot_->gather_batch_group(2, xs, ls, {is, 6}, rows, cols, {together, out_stride},
                            {lab_together, 4});
  for (int o = 0; o < 2; ++o) {
    slot_->gather_batch(xs, ls, is + 6 * o, rows, cols, alone + o * out_stride, lab_alone + 4 * o);
  }
  EXPECT_EQ(download(together, 2 * out_stride), download(alone, 2 * out_stride));
  EXPECT_EQ(download(lab_together, 8), download(lab_alone, 8));
  EXPECT_EQ(download(lab_together, 8), (std::vector<int32_t>{4, 6, 0, -1, 5, 2, 1, -1}));
}

TEST_P(SlotTest, BiasActivationAndBackwardGroupsMatchEachTrialAlone) {
  const int64_t rows = 4, cols = 6, stride = rows * cols + 5, bias_stride = cols + 3;
  const int64_t d_stride = rows * cols + 1;
  const std::vector<float> z0 = random_floats(kGroup * stride, 21);
  const std::vector<float> bias = random_floats(kGroup * bias_stride, 22);
  const std::vector<float> da = random_floats(kGroup * d_stride, 23);
  for (Activation act : {Activation::kRelu, Activation::kTanh, Activation::kGelu}) {
    float *z_together = upload(z0), *z_alone = upload(z0);
    float* a_together = upload(std::vector<float>(z0.size(), 7.f));
    float* a_alone = upload(std::vector<float>(z0.size(), 7.f));
    float *d_together = upload(da), *d_alone = upload(da);  // backward in place, as training
    const float* b = upload(bias);
    slot_->bias_activation_group(kGroup, {z_together, stride}, {b, bias_stride}, rows, cols, act,
                                 {a_together, stride});
    slot_->activation_backward_group(kGroup, {d_together, d_stride}, {z_together, stride},
                                     {a_together, stride}, rows * cols, act,
                                     {d_together, d_stride});
    for (int t = 0; t < kGroup; ++t) {
      float *z = z_alone + t * stride, *a = a_alone + t * stride, *d = d_alone + t * d_stride;
      slot_->bias_activation(z, b + t * bias_stride, rows, cols, act, a);
      slot_->activation_backward(d, z, a, rows * cols, act, d);
    }
    const std::string what = "act " + std::to_string(static_cast<int>(act));
    EXPECT_EQ(download(z_together, z0.size()), download(z_alone, z0.size())) << what;
    EXPECT_EQ(download(a_together, z0.size()), download(a_alone, z0.size())) << what;
    EXPECT_EQ(download(d_together, da.size()), download(d_alone, da.size())) << what;
  }
}

TEST_P(SlotTest, SoftmaxCrossEntropyAndPredictGroupsMatchEachTrialAlone) {
  const int64_t rows = 5, classes = 4, stride = rows * classes + 3, loss_stride = rows + 2;
  const std::vector<float> logits = random_floats(kGroup * stride, 31);
  const std::vector<int32_t> labels = {0, 3, 1, 2, 2, 9, 1, 1, 0, 3, 3, 9, 2, 0, 1, 1, 3, 9};
  const float* zs = upload(logits);
  const int32_t* ls = upload(labels);
  for (int64_t label_stride : {int64_t{0}, int64_t{6}}) {  // a shared batch, or one per trial
    float* grad_together = upload(std::vector<float>(kGroup * stride, 5.f));
    float* grad_alone = upload(std::vector<float>(kGroup * stride, 5.f));
    float* loss_together = upload(std::vector<float>(kGroup * loss_stride, 5.f));
    float* loss_alone = upload(std::vector<float>(kGroup * loss_stride, 5.f));
    float* sum_together = upload(std::vector<float>{0.5f, 1.5f, 2.5f});
    float* sum_alone = upload(std::vector<float>{0.5f, 1.5f, 2.5f});
    slot_->softmax_cross_entropy_group(kGroup, {zs, stride}, {ls, label_stride}, rows, classes,
                                       0.25f, {grad_together, stride}, {loss_together, loss_stride},
                                       sum_together);
    for (int t = 0; t < kGroup; ++t) {
      slot_->softmax_cross_entropy(zs + t * stride, ls + t * label_stride, rows, classes, 0.25f,
                                   grad_alone + t * stride, loss_alone + t * loss_stride,
                                   sum_alone + t);
    }
    const std::string what = "label stride " + std::to_string(label_stride);
    EXPECT_EQ(download(grad_together, kGroup * stride), download(grad_alone, kGroup * stride))
        << what;
    EXPECT_EQ(download(loss_together, kGroup * loss_stride),
              download(loss_alone, kGroup * loss_stride))
        << what;
    EXPECT_EQ(download(sum_together, kGroup), download(sum_alone, kGroup)) << what;

    int32_t* pred_together = upload(std::vector<int32_t>(kGroup * loss_stride, -1));
    int32_t* pred_alone = upload(std::vector<int32_t>(kGroup * loss_stride, -1));
    slot_->predict_group(kGroup, {zs, stride}, {ls, label_stride}, rows, classes,
                         {pred_together, loss_stride}, {loss_together, loss_stride});
    for (int t = 0; t < kGroup; ++t) {
      slot_->predict(zs + t * stride, ls + t * label_stride, rows, classes,
                     pred_alone + t * loss_stride, loss_alone + t * loss_stride);
    }
    EXPECT_EQ(download(pred_together, kGroup * loss_stride),
              download(pred_alone, kGroup * loss_stride))
        << what;
    EXPECT_EQ(download(loss_together, kGroup * loss_stride),
              download(loss_alone, kGroup * loss_stride))
        << what;
  }
}

// More trials than one launch takes (steps::kMaxTrialsPerLaunch = 64), each with its own
// learning rate, decay and bias corrections.
TEST_P(SlotTest, OptimizerGroupsMatchEachTrialAloneWithPerTrialSteps) {
  const int trials = 70;
  const int64_t n = 37, stride = n + 3;
  const size_t size = static_cast<size_t>(trials * stride);
  const std::vector<float> p0 = random_floats(size, 41), g = random_floats(size, 42);
  const std::vector<float> m0 = random_floats(size, 43);
  std::vector<float> v0 = random_floats(size, 44);
  for (float& x : v0)
    x = std::fabs(x);
  std::vector<AdamWStep> adamw(trials);
  std::vector<SgdStep> sgd(trials);
  for (int t = 0; t < trials; ++t) {
    const float lr = 1e-3f * static_cast<float>(t + 1);
    adamw[t] = {lr, 0.9f, 0.99f - 1e-4f * t, 1e-8f, 0.01f * t, 0.1f + 0.01f * t, 0.02f + 1e-3f * t};
    sgd[t] = {lr, 0.5f + 0.005f * t, 1e-3f * t};
  }
  const float* gs = upload(g);
  float *p_together = upload(p0), *m_together = upload(m0), *v_together = upload(v0);
  float *p_alone = upload(p0), *m_alone = upload(m0), *v_alone = upload(v0);
  slot_->adamw_update_group(trials, stride, p_together, gs, m_together, v_together, n,
                            adamw.data());
  slot_->sgd_update_group(trials, stride, p_together, gs, m_together, n, sgd.data());
  for (int t = 0; t < trials; ++t) {
    const int64_t at = t * stride;
    slot_->adamw_update(p_alone + at, gs + at, m_alone + at, v_alone + at, n, adamw[t]);
    slot_->sgd_update(p_alone + at, gs + at, m_alone + at, n, sgd[t]);
  }
  EXPECT_EQ(download(p_together, size), download(p_alone, size));
  EXPECT_EQ(download(m_together, size), download(m_alone, size));
  EXPECT_EQ(download(v_together, size), download(v_alone, size));
  EXPECT_NE(download(p_together, size), p0);  // the steps did something
}

INSTANTIATE_TEST_SUITE_P(Backends, SlotTest, ::testing::Values("cpu", "cuda"),
                         [](const auto& info) { return info.param; });

// A trial's large arrays go back to the system when it ends, every time: from the C library's
// heap they did not after the first (its mmap threshold rises to the largest block freed), and
// a sweep's peak memory grew with every trial it ran.
// Checked in a forked child, which has this thread alone: in the test process another thread
// (OpenBLAS's, making its heap as it starts) may map memory at the address just returned, and
// the page then looked still mapped (5 runs in 200 under load).
TEST(CpuSlotTest, LargeArraysAreReturnedToTheSystemEachTime) {
  GTEST_FLAG_SET(death_test_style, "fast");  // fork without exec: the child has one thread
  EXPECT_EXIT(
      {
        const std::unique_ptr<Slot> slot = make_cpu_slot(0);
        const size_t bytes = size_t{1} << 20;
        for (int round = 0; round < 3; ++round) {
          auto* p = static_cast<float*>(slot->allocate(bytes));
          std::fill(p, p + bytes / sizeof(float), 1.f);
          void* const page =
              reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(p) & ~uintptr_t{4095});
          if (msync(page, 4096, MS_ASYNC) != 0) {
            std::fprintf(stderr, "round %d: not mapped while allocated\n", round);
            std::_Exit(1);
          }
          slot->deallocate(p);
          errno = 0;
          if (msync(page, 4096, MS_ASYNC) != -1 || errno != ENOMEM) {
            std::fprintf(stderr, "round %d: still mapped after deallocate\n", round);
            std::_Exit(1);
          }
        }
        void* small = slot->allocate(100);  // small arrays come from the heap, 64-byte aligned
        if (reinterpret_cast<uintptr_t>(small) % 64 != 0) {
          std::fprintf(stderr, "a small array is not 64-byte aligned\n");
          std::_Exit(1);
        }
        slot->deallocate(small);
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(0), "");
}

// No more epochs compute at once than there are turns (one per core in a sweep), so a
// concurrent trial beyond the cores costs its model and optimizer state, not a workspace.
TEST(CpuSlotTest, EpochsTakeTurnsAndShareTheirWorkspaces) {
  const auto turns = make_cpu_work_turns(2);
  EXPECT_EQ(cpu_work_turns_at_once(*turns), 2);
  constexpr size_t kBytes = size_t{256} << 10;
  std::atomic<int> holders{0}, most{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 6; ++i) {
    threads.emplace_back([&, i] {
      const std::unique_ptr<Slot> slot = make_cpu_slot(i, turns);
      for (int round = 0; round < 20; ++round) {
        auto* work = static_cast<char*>(slot->begin_epoch_work(kBytes));
        const int now = ++holders;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        std::fill(work, work + kBytes, static_cast<char>(i));  // its own while it holds it
        std::this_thread::yield();
        EXPECT_EQ(std::count(work, work + kBytes, static_cast<char>(i)),
                  static_cast<std::ptrdiff_t>(kBytes));
        --holders;
        slot->end_epoch_work();
      }
    });
  }
  for (std::thread& t : threads)
    t.join();
  EXPECT_LE(most.load(), 2);
  EXPECT_GE(most.load(), 1);

  // Workspaces are reused from slot to slot: two slots, one after the other, get the same one.
  const auto one = make_cpu_work_turns(1);
  const std::unique_ptr<Slot> a = make_cpu_slot(0, one), b = make_cpu_slot(1, one);
  void* first = a->begin_epoch_work(1 << 20);
  a->end_epoch_work();
  EXPECT_EQ(b->begin_epoch_work(1 << 20), first);
  b->end_epoch_work();
}

TEST(CpuSlotTest, TurnsAreGivenInTheOrderAsked) {
  const auto turns = make_cpu_work_turns(1);
  const std::unique_ptr<Slot> holder = make_cpu_slot(0, turns);
  holder->begin_epoch_work(4096);
  std::mutex mutex;
  std::vector<int> order;
  std::vector<std::thread> threads;
  for (int i = 1; i <= 4; ++i) {
    threads.emplace_back([&, i] {
      const std::unique_ptr<Slot> slot = make_cpu_slot(i, turns);
      slot->begin_epoch_work(4096);
      {
        std::lock_guard<std::mutex> lock(mutex);
        order.push_back(i);
      }
      slot->end_epoch_work();
    });
    while (cpu_work_turns_waiting(*turns) < i)  // thread i is in line before thread i+1 starts
      std::this_thread::yield();
  }
  holder->end_epoch_work();
  for (std::thread& t : threads)
    t.join();
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3, 4}));
  EXPECT_EQ(cpu_work_turns_waiting(*turns), 0);
}

// A slot destroyed while it holds a turn (a trial that threw mid-epoch) gives the turn back.
TEST(CpuSlotTest, ADestroyedSlotGivesItsTurnBack) {
  const auto turns = make_cpu_work_turns(1);
  make_cpu_slot(0, turns)->begin_epoch_work(4096);
  const std::unique_ptr<Slot> next = make_cpu_slot(1, turns);
  EXPECT_NE(next->begin_epoch_work(4096), nullptr);  // would wait forever otherwise
  next->end_epoch_work();
}

// What does not fit now but fits the device (a GPU whose other trials hold the rest) waits for
// memory (std::bad_alloc, on which the runner waits for other trials to end); what exceeds the
// device fails with the figure; a group that does not fit while its trials do trains apart.
TEST(TrainerMemoryTest, TooLargeForNowWaitsTooLargeForTheDeviceFails) {
  constexpr double kMiB = 1048576;
  const double per_trial = kMiB / 4, per_order = 0;  // 1 MiB a trial
  EXPECT_NO_THROW(Trainer::check_memory(8 * kMiB, 8 * kMiB, per_trial, per_order, 4, 1));
  EXPECT_THROW(Trainer::check_memory(0.5 * kMiB, 8 * kMiB, per_trial, per_order, 1, 1),
               std::bad_alloc);
  try {
    Trainer::check_memory(0.5 * kMiB, 0.5 * kMiB, per_trial, per_order, 1, 1);
    ADD_FAILURE() << "a trial larger than the device";
  } catch (const GroupTooLarge&) {
    ADD_FAILURE() << "not a group's failure";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("the trial needs"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Trainer::check_memory(2 * kMiB, 8 * kMiB, per_trial, per_order, 4, 1),
               GroupTooLarge);
}

}  // namespace
}  // namespace cusweep
