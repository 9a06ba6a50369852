// The training loop of a group of trials: MLP or softmax regression, cross-entropy, AdamW or SGD
// with HF's learning-rate schedules. GEMMs go through Slot::gemm_strided_batched (cuBLAS or
// BLAS, one call per layer for the whole group), everything else through the Thrust steps, also
// one call per step for the whole group (Slot's *_group steps); the host only computes scalars
// (schedules, bias corrections).
#include "trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <new>
#include <numeric>
#include <stdexcept>
#include <type_traits>

#include <fmt/format.h>

#include "cusweep/search_space.h"

namespace cusweep {
namespace {

// RNG streams of a trial's seed, so initialization and each epoch's order are independent.
constexpr uint64_t kInitStream = 0x696e6974ull;               // "init"
constexpr uint64_t kShuffleStreamBase = 0x73687566ull << 32;  // "shuf" + epoch

Activation slot_activation(ActivationKind kind) {
  switch (kind) {
    case ActivationKind::kRelu:
      return Activation::kRelu;
    case ActivationKind::kTanh:
      return Activation::kTanh;
    case ActivationKind::kGelu:
      return Activation::kGelu;
  }
  return Activation::kRelu;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Typed slot memory, freed by its owner's slot.
template <class T>
T* alloc(Slot& slot, int64_t n) {
  return static_cast<T*>(slot.allocate(static_cast<size_t>(std::max<int64_t>(n, 1)) * sizeof(T)));
}

}  // namespace

// Every per-trial array holds the group's trials one after another, trial t at t * stride.
// The model, its optimizer state and the loss sums live as long as the Trainer; the rest only
// while an epoch runs, in the slot's epoch workspace (Slot::begin_epoch_work).
struct Trainer::Buffers {
  float* params = nullptr;    // [trials][weights of every layer..., biases of every layer...]
  float* state1 = nullptr;    // AdamW m, or SGD velocity
  float* state2 = nullptr;    // AdamW v
  float* ones = nullptr;      // [batch], for bias gradients as a GEMM
  float* loss_sum = nullptr;  // [trials]
  // In the epoch's workspace:
  float* grads = nullptr;    // same layout as params
  std::vector<float*> z, a;  // per layer: pre-activation, activation [trials][max_rows, width]
  float* delta[2] = {nullptr, nullptr};  // backward ping-pong [trials][batch, max_width]
  float* batch = nullptr;                // [orders][batch, input]
  int32_t* batch_labels = nullptr;       // [orders][batch]
  int32_t* permutation = nullptr;        // [orders][train rows]
  float* loss_rows = nullptr;            // [trials][max(batch, eval rows)]
  int32_t* predictions = nullptr;        // [trials][eval rows]
  int32_t* scratch = nullptr;            // [eval rows]
  float* clip_scratch = nullptr;         // gradient clipping's partial sums and scales
  int64_t loss_stride = 0;
  size_t work_bytes = 0;  // the epoch workspace's size
  std::vector<void*> owned;
};

std::string Trainer::fusion_key(const TrialParams& p) {
  std::string key = fmt::format("{}|{}|{}|{}|{}|{}", p.architecture, static_cast<int>(p.activation),
                                p.per_device_train_batch_size, p.per_device_eval_batch_size,
                                p.num_train_epochs, p.optim);
  if (p.architecture == "mlp") {
    for (int h : p.hidden_sizes)
      key += fmt::format("|{}", h);
  }
  return key;
}

Trainer::Trainer(Slot& slot, const DataView& data, const std::vector<TrialParams>& trials)
    : slot_(slot), data_(data), trials_(trials), buf_(std::make_unique<Buffers>()) {
  if (trials.empty()) throw std::invalid_argument("Trainer: no trial");
  const TrialParams& first = trials.front();
  for (const TrialParams& t : trials) {
    if (fusion_key(t) != fusion_key(first)) {
      throw std::invalid_argument("Trainer: fused trials must have the same shapes");
    }
  }
  shared_order_ = std::all_of(trials.begin(), trials.end(),
                              [&](const TrialParams& t) { return t.seed == first.seed; });
  if (std::any_of(trials.begin(), trials.end(),
                  [](const TrialParams& t) { return t.max_grad_norm > 0; })) {
    for (const TrialParams& t : trials)
      max_grad_norms_.push_back(static_cast<float>(t.max_grad_norm));
  }

  dims_.push_back(data.train.cols);
  if (first.architecture == "mlp") {
    for (int h : first.hidden_sizes)
      dims_.push_back(h);
  }
  dims_.push_back(data.train.num_classes);
  const size_t layers = dims_.size() - 1;
  for (size_t l = 0; l < layers; ++l) {
    weight_offset_.push_back(weight_count_);
    weight_count_ += dims_[l] * dims_[l + 1];
  }
  param_count_ = weight_count_;
  for (size_t l = 0; l < layers; ++l) {
    bias_offset_.push_back(param_count_);
    param_count_ += dims_[l + 1];
  }

  // A batch larger than the data set is the whole set: size buffers by what can be used.
  batch_ = std::min<int64_t>(first.per_device_train_batch_size, data.train.rows);
  steps_per_epoch_ = (data.train.rows + batch_ - 1) / batch_;  // the last batch may be short
  total_steps_ = steps_per_epoch_ * first.num_train_epochs;
  const int64_t eval_chunk = std::min<int64_t>(first.per_device_eval_batch_size, data.eval.rows);
  max_rows_ = std::max<int64_t>(batch_, eval_chunk);
  for (size_t l = 1; l < dims_.size(); ++l)
    max_width_ = std::max(max_width_, dims_[l]);

  const int64_t n = static_cast<int64_t>(trials.size());
  const int64_t orders = shared_order_ ? 1 : n;
  const int64_t activations = std::accumulate(dims_.begin() + 1, dims_.end(), int64_t{0});
  buf_->loss_stride = std::max<int64_t>(batch_, data.eval.rows);
  // 4-byte values per trial, and per shuffled order (shared by trials of one seed).
  const double per_trial = static_cast<double>(param_count_) * (first.optim == "adamw" ? 4 : 3) +
                           2.0 * max_rows_ * activations + 2.0 * batch_ * max_width_ +
                           static_cast<double>(buf_->loss_stride) + 2.0 * data.eval.rows;
  const double per_order = static_cast<double>(batch_) * (dims_[0] + 1) + data.train.rows;
  check_memory(slot.memory_budget_bytes(), slot.memory_capacity_bytes(), per_trial, per_order, n,
               orders);

  try {
    allocate_buffers(n, orders);
  } catch (...) {
    for (void* p : buf_->owned)
      slot_.deallocate(p);  // no destructor runs for a half-built one
    throw;
  }
}

int64_t Trainer::parameter_count_of(const TrialParams& p, const DataView& data) {
  std::vector<int64_t> dims = {data.train.cols};
  if (p.architecture == "mlp")
    dims.insert(dims.end(), p.hidden_sizes.begin(), p.hidden_sizes.end());
  dims.push_back(data.train.num_classes);
  int64_t count = 0;
  for (size_t l = 0; l + 1 < dims.size(); ++l)
    count += dims[l] * dims[l + 1] + dims[l + 1];
  return count;
}

std::string Trainer::checkpoint_mismatch(const CheckpointState& state, const TrialParams& p,
                                         const DataView& data) {
  const int64_t params = parameter_count_of(p, data);
  const int arrays = 1 + optimizer_arrays(p);
  if (state.model != fusion_key(p) || state.param_count != params || state.arrays != arrays) {
    return fmt::format(
        "it holds {} arrays of {} values for model '{}'; the trial has {} of {} "
        "for '{}'",
        state.arrays, state.param_count, state.model, arrays, params, fusion_key(p));
  }
  const int64_t batch = std::min<int64_t>(p.per_device_train_batch_size, data.train.rows);
  const int64_t steps = (data.train.rows + batch - 1) / batch;
  if (state.epoch >= p.num_train_epochs || state.step != state.epoch * steps) {
    return fmt::format("it is of epoch {} after {} steps; the trial trains {} epochs of {} steps",
                       state.epoch, state.step, p.num_train_epochs, steps);
  }
  return "";
}

CheckpointState Trainer::checkpoint(size_t t, int epoch) const {
  CheckpointState s;
  s.epoch = epoch;
  s.step = step_;
  s.model = fusion_key(trials_[t]);
  s.param_count = param_count_;
  s.arrays = 1 + optimizer_arrays(trials_[t]);
  s.values.resize(static_cast<size_t>(s.arrays * param_count_));
  const float* arrays[] = {buf_->params, buf_->state1, buf_->state2};
  for (int k = 0; k < s.arrays; ++k) {
    slot_.copy_to_host(s.values.data() + k * param_count_, arrays[k] + t * param_count_,
                       static_cast<size_t>(param_count_) * sizeof(float));
  }
  return s;
}

void Trainer::restore(const std::vector<CheckpointState>& states) {
  if (states.size() != size()) throw std::invalid_argument("Trainer::restore: one per trial");
  for (size_t t = 0; t < size(); ++t) {
    const std::string why = checkpoint_mismatch(states[t], trials_[t], data_);
    if (!why.empty()) throw CheckpointError(why);
    if (states[t].step != states.front().step) {
      throw std::invalid_argument("Trainer::restore: fused trials continue from one epoch");
    }
  }
  float* arrays[] = {buf_->params, buf_->state1, buf_->state2};
  for (size_t t = 0; t < size(); ++t) {
    for (int k = 0; k < states[t].arrays; ++k) {
      slot_.copy_to_device(arrays[k] + t * param_count_, states[t].values.data() + k * param_count_,
                           static_cast<size_t>(param_count_) * sizeof(float));
    }
  }
  slot_.synchronize();  // `states` may die after the call
  step_ = states.front().step;
}

void Trainer::allocate_buffers(int64_t n, int64_t orders) {
  Slot& slot = slot_;
  const TrialParams& first = trials_.front();
  const size_t layers = dims_.size() - 1;
  auto own = [&](auto* p) {
    buf_->owned.push_back(p);
    return p;
  };
  Buffers& b = *buf_;
  b.params = own(alloc<float>(slot, n * param_count_));
  b.state1 = own(alloc<float>(slot, n * param_count_));
  if (first.optim == "adamw") b.state2 = own(alloc<float>(slot, n * param_count_));
  b.ones = own(alloc<float>(slot, batch_));
  b.loss_sum = own(alloc<float>(slot, n));
  b.z.resize(layers);
  b.a.resize(layers);
  b.work_bytes = place_epoch_arrays(nullptr, n, orders);

  slot.fill(b.ones, batch_, 1.f);
  slot.fill(b.state1, n * param_count_, 0.f);
  if (b.state2 != nullptr) slot.fill(b.state2, n * param_count_, 0.f);
  initialize_parameters();
}

// Places the arrays an epoch needs in a workspace at `base` (each part 64-byte aligned) and
// returns the workspace's size; with a null `base` only the size.
size_t Trainer::place_epoch_arrays(char* base, int64_t n, int64_t orders) {
  Buffers& b = *buf_;
  size_t used = 0;
  auto part = [&](auto*& p, int64_t count) {
    using T = std::remove_reference_t<decltype(*p)>;
    used = (used + 63) / 64 * 64;
    p = base == nullptr ? nullptr : reinterpret_cast<T*>(base + used);
    used += static_cast<size_t>(std::max<int64_t>(count, 1)) * sizeof(T);
  };
  part(b.grads, n * param_count_);
  for (size_t l = 0; l < b.z.size(); ++l) {
    part(b.z[l], n * max_rows_ * dims_[l + 1]);
    part(b.a[l], n * max_rows_ * dims_[l + 1]);
  }
  // Only training steps go backward: the gradients need rows for one training batch.
  part(b.delta[0], n * batch_ * max_width_);
  part(b.delta[1], n * batch_ * max_width_);
  part(b.batch, orders * batch_ * dims_[0]);
  part(b.batch_labels, orders * batch_);
  if (!max_grad_norms_.empty()) part(b.clip_scratch, Slot::clip_scratch_floats(n, param_count_));
  part(b.permutation, orders * data_.train.rows);
  part(b.loss_rows, n * b.loss_stride);
  part(b.predictions, n * data_.eval.rows);
  part(b.scratch, data_.eval.rows);
  return used;
}

// A configuration can pass validation and still ask for more memory than exists (two hidden
// layers of 65536 units is 17 GiB of weights alone): fail the trial with that figure rather
// than with std::bad_alloc, the out-of-memory killer or a CUDA error. A trial that would fit
// in the device's memory but not in what is free now (on a GPU, where other trials hold the
// rest) is std::bad_alloc, on which the runner waits for them to end. A fused group that does
// not fit, while each of its trials would, is GroupTooLarge: the runner trains them apart.
void Trainer::check_memory(double budget_bytes, double capacity_bytes, double per_trial,
                           double per_order, int64_t n, int64_t orders) {
  constexpr double kGiB = 1073741824.0;
  const double one = 4 * (per_trial + per_order);
  if (capacity_bytes > 0 && one > capacity_bytes) {
    throw std::runtime_error(fmt::format(
        "the trial needs {:.1f} GiB for its model, optimizer state and buffers; its slot has "
        "{:.1f} GiB (reduce hidden_sizes or the batch sizes)",
        one / kGiB, capacity_bytes / kGiB));
  }
  if (budget_bytes > 0 && one > budget_bytes) throw std::bad_alloc();
  const double group = 4 * (per_trial * n + per_order * orders);
  if (budget_bytes > 0 && group > budget_bytes) {
    throw GroupTooLarge(fmt::format("{} fused trials need {:.1f} GiB; the slot has {:.1f} GiB", n,
                                    group / kGiB, budget_bytes / kGiB));
  }
}

Trainer::~Trainer() {
  for (void* p : buf_->owned)
    slot_.deallocate(p);
}

float* Trainer::weight(size_t l, size_t t) const {
  return buf_->params + t * param_count_ + weight_offset_[l];
}
float* Trainer::bias(size_t l, size_t t) const {
  return buf_->params + t * param_count_ + bias_offset_[l];
}
float* Trainer::z(size_t l, size_t t) const {
  return buf_->z[l] + t * max_rows_ * dims_[l + 1];
}
float* Trainer::a(size_t l, size_t t) const {
  return buf_->a[l] + t * max_rows_ * dims_[l + 1];
}
float* Trainer::delta(int which, size_t t) const {
  return buf_->delta[which] + t * batch_ * max_width_;
}

namespace {

// Values written to slot memory in runs, through a small host buffer: a model's initial
// parameters are never held whole on the host (0.4 MB for the reference MLP, for every trial
// that starts at once, which set the sweep's peak memory).
class ChunkedUpload {
 public:
  explicit ChunkedUpload(Slot& slot) : slot_(slot) {}
  // The values pushed next go to `dst` on.
  void seek(float* dst) {
    flush();
    dst_ = dst;
  }
  void push(float v) {
    buffer_[used_++] = v;
    if (used_ == buffer_.size()) flush();
  }
  // Everything pushed is in slot memory once this returns.
  void finish() { flush(); }

 private:
  void flush() {
    if (used_ == 0) return;
    slot_.copy_to_device(dst_, buffer_.data(), used_ * sizeof(float));
    slot_.synchronize();  // the buffer is reused: the copy must have read it
    dst_ += used_;
    used_ = 0;
  }

  Slot& slot_;
  float* dst_ = nullptr;
  std::vector<float> buffer_ = std::vector<float>(16384);  // 64 KB: a few copies per model
  size_t used_ = 0;
};

}  // namespace

// PyTorch's nn.Linear default: weights and biases uniform in +-1/sqrt(fan_in). Each trial
// draws from its own seed, so a fused trial starts exactly where it would alone.
void Trainer::initialize_parameters() {
  ChunkedUpload upload(slot_);
  for (size_t t = 0; t < size(); ++t) {
    Rng rng(trials_[t].seed, kInitStream);
    for (size_t l = 0; l + 1 < dims_.size(); ++l) {
      const double bound = 1.0 / std::sqrt(static_cast<double>(dims_[l]));
      upload.seek(weight(l, t));
      for (int64_t i = 0; i < dims_[l] * dims_[l + 1]; ++i) {
        upload.push(static_cast<float>((2 * rng.uniform() - 1) * bound));
      }
      upload.seek(bias(l, t));
      for (int64_t i = 0; i < dims_[l + 1]; ++i) {
        upload.push(static_cast<float>((2 * rng.uniform() - 1) * bound));
      }
    }
  }
  upload.finish();
}

// Fisher-Yates with the portable Rng: the order depends on (seed, epoch) alone.
void Trainer::upload_permutations(int epoch) {
  const size_t orders = shared_order_ ? 1 : size();
  const size_t rows = static_cast<size_t>(data_.train.rows);
  std::vector<int32_t> order(orders * rows);
  for (size_t o = 0; o < orders; ++o) {
    int32_t* p = order.data() + o * rows;
    for (size_t i = 0; i < rows; ++i)
      p[i] = static_cast<int32_t>(i);
    Rng rng(trials_[o].seed, kShuffleStreamBase + static_cast<uint64_t>(epoch));
    for (size_t i = rows; i > 1; --i)
      std::swap(p[i - 1], p[rng.below(i)]);
  }
  slot_.copy_to_device(buf_->permutation, order.data(), order.size() * sizeof(int32_t));
  slot_.synchronize();  // `order` dies here; once per epoch
}

void Trainer::forward(const float* input, int64_t input_stride, int64_t rows) {
  const size_t layers = dims_.size() - 1;
  const Activation act = slot_activation(trials_.front().activation);
  const int n = static_cast<int>(size()), r = static_cast<int>(rows);
  const float* x = input;
  int64_t x_stride = input_stride;
  for (size_t l = 0; l < layers; ++l) {
    const int in = static_cast<int>(dims_[l]), out = static_cast<int>(dims_[l + 1]);
    // z[rows, out] = x[rows, in] * W[in, out], for every trial at once
    slot_.gemm_strided_batched(false, false, r, out, in, 1.f, x, in, x_stride, weight(l, 0), out,
                               param_count_, 0.f, z(l, 0), out, max_rows_ * out, n);
    const bool last = l + 1 == layers;
    const Strided<float> zs{z(l, 0), max_rows_ * out};
    const Strided<float> activated = last ? zs : Strided<float>{a(l, 0), zs.stride};  // logits
    slot_.bias_activation_group(n, zs, {bias(l, 0), param_count_}, rows, out,
                                last ? Activation::kIdentity : act, activated);
    x = a(l, 0);
    x_stride = max_rows_ * out;
  }
}

void Trainer::backward(const float* input, int64_t input_stride, int64_t rows) {
  const Activation act = slot_activation(trials_.front().activation);
  const int n = static_cast<int>(size()), r = static_cast<int>(rows);
  const int64_t delta_stride = batch_ * max_width_;
  int cur = 0;
  for (size_t l = dims_.size() - 1; l-- > 0;) {
    const int in = static_cast<int>(dims_[l]), out = static_cast<int>(dims_[l + 1]);
    const float* x = l == 0 ? input : a(l - 1, 0);
    const int64_t x_stride = l == 0 ? input_stride : max_rows_ * in;
    const float* dz = delta(cur, 0);  // [rows, out] per trial
    float* weight_grad = buf_->grads + weight_offset_[l];
    float* bias_grad = buf_->grads + bias_offset_[l];
    // dW[in, out] = x^T[in, rows] * dz[rows, out]; db[out] = 1^T[rows] * dz
    slot_.gemm_strided_batched(true, false, in, out, r, 1.f, x, in, x_stride, dz, out, delta_stride,
                               0.f, weight_grad, out, param_count_, n);
    slot_.gemm_strided_batched(false, false, 1, out, r, 1.f, buf_->ones, r, 0, dz, out,
                               delta_stride, 0.f, bias_grad, out, param_count_, n);
    if (l == 0) break;
    // dx[rows, in] = dz[rows, out] * W^T[out, in], then through the activation of layer l-1
    slot_.gemm_strided_batched(false, true, r, in, out, 1.f, dz, out, delta_stride, weight(l, 0),
                               out, param_count_, 0.f, delta(1 - cur, 0), in, delta_stride, n);
    const Strided<float> dx{delta(1 - cur, 0), delta_stride};
    const int64_t za_stride = max_rows_ * in;
    slot_.activation_backward_group(n, {dx.data, dx.stride}, {z(l - 1, 0), za_stride},
                                    {a(l - 1, 0), za_stride}, rows * in, act, dx);
    cur = 1 - cur;
  }
}

// HF's schedules (transformers.optimization), as a factor of the base learning rate at
// optimizer step `step` (0-based, as LambdaLR sees it).
double Trainer::learning_rate_factor(const TrialParams& p, int64_t step) const {
  const std::string& type = p.lr_scheduler_type;
  if (type == "constant") return 1.0;
  const int64_t warmup = static_cast<int64_t>(std::ceil(p.warmup_ratio * total_steps_));
  if (step < warmup) {
    return static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, warmup));
  }
  if (type == "constant_with_warmup") return 1.0;
  const double decay_steps = static_cast<double>(std::max<int64_t>(1, total_steps_ - warmup));
  const double progress = static_cast<double>(step - warmup) / decay_steps;
  if (type == "cosine") return std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress)));
  return std::max(0.0, 1.0 - progress);  // linear
}

// Each trial keeps its own learning rate, schedule, decay and betas. Weight decay applies to
// weights only: HF's Trainer leaves biases out of decay.
void Trainer::optimizer_step() {
  const int n = static_cast<int>(size());
  const int64_t n_bias = param_count_ - weight_count_;
  const int64_t bi = weight_count_;  // where each trial's biases start
  Buffers& b = *buf_;
  if (!max_grad_norms_.empty()) {
    // Over all of a trial's parameters, weights and biases, as clip_grad_norm_ over
    // model.parameters() in HF's Trainer.
    slot_.clip_grad_norm_group(n, param_count_, b.grads, param_count_, max_grad_norms_.data(),
                               b.clip_scratch);
  }
  if (trials_.front().optim == "sgd") {
    std::vector<SgdStep>& weights = sgd_weights_;
    std::vector<SgdStep>& biases = sgd_biases_;
    weights.resize(size());
    biases.resize(size());
    for (size_t t = 0; t < size(); ++t) {
      const TrialParams& p = trials_[t];
      const float lr = static_cast<float>(p.learning_rate * learning_rate_factor(p, step_));
      weights[t] = {lr, static_cast<float>(p.momentum), static_cast<float>(p.weight_decay)};
      biases[t] = {lr, weights[t].momentum, 0.f};
    }
    slot_.sgd_update_group(n, param_count_, b.params, b.grads, b.state1, weight_count_,
                           weights.data());
    slot_.sgd_update_group(n, param_count_, b.params + bi, b.grads + bi, b.state1 + bi, n_bias,
                           biases.data());
  } else {
    std::vector<AdamWStep>& weights = adamw_weights_;
    std::vector<AdamWStep>& biases = adamw_biases_;
    weights.resize(size());
    biases.resize(size());
    const double step = static_cast<double>(step_ + 1);
    for (size_t t = 0; t < size(); ++t) {
      const TrialParams& p = trials_[t];
      const float lr = static_cast<float>(p.learning_rate * learning_rate_factor(p, step_));
      weights[t] = {lr,
                    static_cast<float>(p.adam_beta1),
                    static_cast<float>(p.adam_beta2),
                    static_cast<float>(p.adam_epsilon),
                    static_cast<float>(p.weight_decay),
                    static_cast<float>(1.0 - std::pow(p.adam_beta1, step)),
                    static_cast<float>(1.0 - std::pow(p.adam_beta2, step))};
      biases[t] = weights[t];
      biases[t].weight_decay = 0.f;
    }
    slot_.adamw_update_group(n, param_count_, b.params, b.grads, b.state1, b.state2, weight_count_,
                             weights.data());
    slot_.adamw_update_group(n, param_count_, b.params + bi, b.grads + bi, b.state1 + bi,
                             b.state2 + bi, n_bias, biases.data());
  }
  ++step_;
}

void Trainer::train_step(int64_t first_row, int64_t rows) {
  Buffers& b = *buf_;
  const int classes = data_.train.num_classes;
  const int orders = shared_order_ ? 1 : static_cast<int>(size());
  slot_.gather_batch_group(orders, data_.train.features, data_.train.labels,
                           {b.permutation + first_row, data_.train.rows}, rows, dims_[0],
                           {b.batch, batch_ * dims_[0]}, {b.batch_labels, batch_});
  const int64_t input_stride = shared_order_ ? 0 : batch_ * dims_[0];
  forward(b.batch, input_stride, rows);
  const size_t last = dims_.size() - 2;
  // Mean loss over the batch: the gradient of each row is scaled by 1/rows.
  slot_.softmax_cross_entropy_group(
      static_cast<int>(size()), {z(last, 0), max_rows_ * classes},
      {b.batch_labels, shared_order_ ? 0 : batch_}, rows, classes, 1.f / static_cast<float>(rows),
      {delta(0, 0), batch_ * max_width_}, {b.loss_rows, b.loss_stride}, b.loss_sum);
  backward(b.batch, input_stride, rows);
  optimizer_step();
}

void Trainer::evaluate(std::vector<Evaluation>* out) {
  Buffers& b = *buf_;
  const SplitView& ev = data_.eval;
  const int64_t chunk = std::min<int64_t>(trials_.front().per_device_eval_batch_size, ev.rows);
  const size_t last = dims_.size() - 2;
  int64_t steps = 0;
  for (int64_t first = 0; first < ev.rows; first += chunk, ++steps) {
    const int64_t rows = std::min(chunk, ev.rows - first);
    forward(ev.features + first * ev.cols, 0, rows);  // every trial reads the same rows
    slot_.predict_group(static_cast<int>(size()), {z(last, 0), max_rows_ * ev.num_classes},
                        {ev.labels + first, 0}, rows, ev.num_classes,
                        {b.predictions + first, ev.rows}, {b.loss_rows + first, b.loss_stride});
  }
  for (size_t t = 0; t < size(); ++t) {
    Evaluation& e = (*out)[t];
    e.eval_loss =
        slot_.sum(b.loss_rows + t * b.loss_stride, ev.rows) / static_cast<double>(ev.rows);
    e.confusion.num_classes = ev.num_classes;
    e.confusion.counts = slot_.confusion_matrix(ev.labels, b.predictions + t * ev.rows, ev.rows,
                                                ev.num_classes, b.scratch);
    e.eval_samples = ev.rows;
    e.eval_steps = steps;
  }
}

std::vector<Evaluation> Trainer::run_epoch(int epoch, const std::function<bool()>& go_on) {
  std::vector<Evaluation> out(size());
  // On the CPU this waits for a turn at a core; the wait is not the epoch's runtime.
  struct EpochWork {
    Slot& slot;
    ~EpochWork() { slot.end_epoch_work(); }
  };
  char* work = static_cast<char*>(slot_.begin_epoch_work(buf_->work_bytes));
  const EpochWork hold{slot_};
  if (go_on && !go_on()) return {};
  place_epoch_arrays(work, static_cast<int64_t>(size()), shared_order_ ? 1 : size());
  const auto t0 = std::chrono::steady_clock::now();
  upload_permutations(epoch);
  slot_.fill(buf_->loss_sum, static_cast<int64_t>(size()), 0.f);
  for (int64_t first = 0; first < data_.train.rows; first += batch_) {
    train_step(first, std::min(batch_, data_.train.rows - first));
  }
  std::vector<float> loss_sum(size());
  slot_.copy_to_host(loss_sum.data(), buf_->loss_sum, loss_sum.size() * sizeof(float));
  const double train_runtime = seconds_since(t0);

  const auto t1 = std::chrono::steady_clock::now();
  evaluate(&out);
  const double eval_runtime = seconds_since(t1);
  for (size_t t = 0; t < size(); ++t) {
    out[t].epoch = epoch;
    out[t].train_loss = loss_sum[t] / static_cast<double>(data_.train.rows);
    out[t].train_samples = data_.train.rows;
    out[t].train_runtime = train_runtime;
    out[t].eval_runtime = eval_runtime;
  }
  return out;
}

}  // namespace cusweep
