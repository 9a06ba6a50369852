// The training loop of one trial: MLP or softmax regression, cross-entropy, AdamW or SGD with
// HF's learning-rate schedules. GEMMs go through Slot::gemm (cuBLAS or BLAS), everything else
// through the Thrust steps; the host only computes scalars (schedule, bias corrections).
#include "trainer.h"

#include <unistd.h>

#include <chrono>
#include <stdexcept>

#include <fmt/format.h>
#include <cmath>

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

struct Trainer::Buffers {
  float* params = nullptr;   // [weights of every layer..., biases of every layer...]
  float* grads = nullptr;    // same layout
  float* state1 = nullptr;   // AdamW m, or SGD velocity
  float* state2 = nullptr;   // AdamW v
  std::vector<float*> z, a;  // per layer: pre-activation and activation [max_rows, width]
  float* delta[2] = {nullptr, nullptr};  // backward ping-pong [train_batch, max_width]
  float* batch = nullptr;                // [train_batch, input]
  int32_t* batch_labels = nullptr;       // [train_batch]
  float* ones = nullptr;                 // [train_batch], for bias gradients as a GEMM
  int32_t* permutation = nullptr;        // [train rows]
  float* loss_rows = nullptr;            // [max(train_batch, eval rows)]
  float* loss_sum = nullptr;             // [1]
  int32_t* predictions = nullptr;        // [eval rows]
  int32_t* scratch = nullptr;            // [eval rows]
  std::vector<void*> owned;
};

Trainer::Trainer(Slot& slot, const DataView& data, const TrialParams& params)
    : slot_(slot), data_(data), params_(params), buf_(std::make_unique<Buffers>()) {
  dims_.push_back(data.train.cols);
  if (params.architecture == "mlp") {
    for (int h : params.hidden_sizes)
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
  const int64_t batch = std::min<int64_t>(params.per_device_train_batch_size, data.train.rows);
  batch_ = batch;
  steps_per_epoch_ = (data.train.rows + batch - 1) / batch;  // the last batch may be short
  total_steps_ = steps_per_epoch_ * params.num_train_epochs;
  warmup_steps_ = static_cast<int64_t>(std::ceil(params.warmup_ratio * total_steps_));

  const int64_t eval_chunk = std::min<int64_t>(params.per_device_eval_batch_size, data.eval.rows);
  const int64_t max_rows = std::max<int64_t>(batch, eval_chunk);
  int64_t max_width = 0;
  for (size_t l = 1; l < dims_.size(); ++l)
    max_width = std::max(max_width, dims_[l]);

  const double layers_d = static_cast<double>(layers);
  check_memory(static_cast<double>(param_count_) * (params.optim == "adamw" ? 4 : 3) +
               static_cast<double>(max_rows) * max_width * 2 * layers_d +
               static_cast<double>(batch) * max_width * 2 +
               static_cast<double>(batch) * (dims_[0] + 2) + 3.0 * data.eval.rows +
               static_cast<double>(data.train.rows));

  auto own = [&](auto* p) {
    buf_->owned.push_back(p);
    return p;
  };
  Buffers& b = *buf_;
  b.params = own(alloc<float>(slot, param_count_));
  b.grads = own(alloc<float>(slot, param_count_));
  b.state1 = own(alloc<float>(slot, param_count_));
  if (params.optim == "adamw") b.state2 = own(alloc<float>(slot, param_count_));
  for (size_t l = 0; l < layers; ++l) {
    b.z.push_back(own(alloc<float>(slot, max_rows * dims_[l + 1])));
    b.a.push_back(own(alloc<float>(slot, max_rows * dims_[l + 1])));
  }
  // Only training steps go backward: the gradients need rows for one training batch.
  b.delta[0] = own(alloc<float>(slot, batch * max_width));
  b.delta[1] = own(alloc<float>(slot, batch * max_width));
  b.batch = own(alloc<float>(slot, batch * dims_[0]));
  b.batch_labels = own(alloc<int32_t>(slot, batch));
  b.ones = own(alloc<float>(slot, batch));
  b.permutation = own(alloc<int32_t>(slot, data.train.rows));
  b.loss_rows = own(alloc<float>(slot, std::max<int64_t>(batch, data.eval.rows)));
  b.loss_sum = own(alloc<float>(slot, 1));
  b.predictions = own(alloc<int32_t>(slot, data.eval.rows));
  b.scratch = own(alloc<int32_t>(slot, data.eval.rows));

  slot.fill(b.ones, batch, 1.f);
  slot.fill(b.state1, param_count_, 0.f);
  if (b.state2 != nullptr) slot.fill(b.state2, param_count_, 0.f);
  initialize_parameters();
}

// A configuration can pass validation and still ask for more memory than exists (two hidden
// layers of 65536 units is 17 GiB of weights alone): fail the trial with that figure rather
// than with std::bad_alloc or the out-of-memory killer. `floats` counts 4-byte values.
void Trainer::check_memory(double floats) {
  const double bytes = floats * 4;
  const double physical =
      static_cast<double>(sysconf(_SC_PHYS_PAGES)) * static_cast<double>(sysconf(_SC_PAGE_SIZE));
  if (physical > 0 && bytes > 0.5 * physical) {
    throw std::runtime_error(fmt::format(
        "the trial needs {:.1f} GiB for its model, optimizer state and buffers; this machine has "
        "{:.1f} GiB (reduce hidden_sizes or the batch sizes)",
        bytes / 1073741824.0, physical / 1073741824.0));
  }
}

Trainer::~Trainer() {
  for (void* p : buf_->owned)
    slot_.deallocate(p);
}

float* Trainer::weight(size_t l) const {
  return buf_->params + weight_offset_[l];
}
float* Trainer::bias(size_t l) const {
  return buf_->params + bias_offset_[l];
}
float* Trainer::weight_grad(size_t l) const {
  return buf_->grads + weight_offset_[l];
}
float* Trainer::bias_grad(size_t l) const {
  return buf_->grads + bias_offset_[l];
}

// PyTorch's nn.Linear default: weights and biases uniform in +-1/sqrt(fan_in).
void Trainer::initialize_parameters() {
  std::vector<float> host(static_cast<size_t>(param_count_));
  Rng rng(params_.seed, kInitStream);
  for (size_t l = 0; l + 1 < dims_.size(); ++l) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(dims_[l]));
    for (int64_t i = 0; i < dims_[l] * dims_[l + 1]; ++i) {
      host[weight_offset_[l] + i] = static_cast<float>((2 * rng.uniform() - 1) * bound);
    }
    for (int64_t i = 0; i < dims_[l + 1]; ++i) {
      host[bias_offset_[l] + i] = static_cast<float>((2 * rng.uniform() - 1) * bound);
    }
  }
  slot_.copy_to_device(buf_->params, host.data(), host.size() * sizeof(float));
  slot_.synchronize();  // `host` dies here
}

// Fisher-Yates with the portable Rng: the order depends on (seed, epoch) alone.
void Trainer::upload_permutation(int epoch) {
  std::vector<int32_t> order(static_cast<size_t>(data_.train.rows));
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = static_cast<int32_t>(i);
  Rng rng(params_.seed, kShuffleStreamBase + static_cast<uint64_t>(epoch));
  for (size_t i = order.size(); i > 1; --i) {
    std::swap(order[i - 1], order[rng.below(i)]);
  }
  slot_.copy_to_device(buf_->permutation, order.data(), order.size() * sizeof(int32_t));
  slot_.synchronize();  // `order` dies here; once per epoch
}

float* Trainer::forward(const float* input, int64_t rows) {
  const size_t layers = dims_.size() - 1;
  const Activation act = slot_activation(params_.activation);
  const float* x = input;
  for (size_t l = 0; l < layers; ++l) {
    const int in = static_cast<int>(dims_[l]), out = static_cast<int>(dims_[l + 1]);
    // z[rows, out] = x[rows, in] * W[in, out]
    slot_.gemm(false, false, static_cast<int>(rows), out, in, 1.f, x, in, weight(l), out, 0.f,
               buf_->z[l], out);
    const bool last = l + 1 == layers;
    float* a = last ? buf_->z[l] : buf_->a[l];  // logits stay in z
    slot_.bias_activation(buf_->z[l], bias(l), rows, out, last ? Activation::kIdentity : act, a);
    x = a;
  }
  return buf_->z[layers - 1];
}

// Expects the logits' gradient in delta[0]; leaves every parameter's gradient in grads.
void Trainer::backward(const float* input, int64_t rows) {
  const Activation act = slot_activation(params_.activation);
  const int r = static_cast<int>(rows);
  int cur = 0;
  for (size_t l = dims_.size() - 1; l-- > 0;) {
    const int in = static_cast<int>(dims_[l]), out = static_cast<int>(dims_[l + 1]);
    const float* x = l == 0 ? input : buf_->a[l - 1];
    const float* dz = buf_->delta[cur];  // [rows, out]
    // dW[in, out] = x^T[in, rows] * dz[rows, out]; db[out] = 1^T[rows] * dz
    slot_.gemm(true, false, in, out, r, 1.f, x, in, dz, out, 0.f, weight_grad(l), out);
    slot_.gemm(false, false, 1, out, r, 1.f, buf_->ones, r, dz, out, 0.f, bias_grad(l), out);
    if (l == 0) break;
    // dx[rows, in] = dz[rows, out] * W^T[out, in], then through the activation of layer l-1
    float* dx = buf_->delta[1 - cur];
    slot_.gemm(false, true, r, in, out, 1.f, dz, out, weight(l), out, 0.f, dx, in);
    slot_.activation_backward(dx, buf_->z[l - 1], buf_->a[l - 1], rows * in, act, dx);
    cur = 1 - cur;
  }
}

// HF's schedules (transformers.optimization), as a factor of the base learning rate at
// optimizer step `step` (0-based, as LambdaLR sees it).
double Trainer::learning_rate_factor(int64_t step) const {
  const std::string& type = params_.lr_scheduler_type;
  if (type == "constant") return 1.0;
  if (step < warmup_steps_) {
    return static_cast<double>(step) / static_cast<double>(std::max<int64_t>(1, warmup_steps_));
  }
  if (type == "constant_with_warmup") return 1.0;
  const double decay_steps =
      static_cast<double>(std::max<int64_t>(1, total_steps_ - warmup_steps_));
  const double progress = static_cast<double>(step - warmup_steps_) / decay_steps;
  if (type == "cosine") return std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * progress)));
  return std::max(0.0, 1.0 - progress);  // linear
}

// Weight decay applies to weights only: HF's Trainer leaves biases out of decay.
void Trainer::optimizer_step() {
  const float lr = static_cast<float>(params_.learning_rate * learning_rate_factor(step_));
  const int64_t n_bias = param_count_ - weight_count_;
  Buffers& b = *buf_;
  if (params_.optim == "sgd") {
    SgdStep s{lr, static_cast<float>(params_.momentum), static_cast<float>(params_.weight_decay)};
    slot_.sgd_update(b.params, b.grads, b.state1, weight_count_, s);
    s.weight_decay = 0.f;
    slot_.sgd_update(b.params + weight_count_, b.grads + weight_count_, b.state1 + weight_count_,
                     n_bias, s);
  } else {
    const double t = static_cast<double>(step_ + 1);
    AdamWStep s{lr,
                static_cast<float>(params_.adam_beta1),
                static_cast<float>(params_.adam_beta2),
                static_cast<float>(params_.adam_epsilon),
                static_cast<float>(params_.weight_decay),
                static_cast<float>(1.0 - std::pow(params_.adam_beta1, t)),
                static_cast<float>(1.0 - std::pow(params_.adam_beta2, t))};
    slot_.adamw_update(b.params, b.grads, b.state1, b.state2, weight_count_, s);
    s.weight_decay = 0.f;
    slot_.adamw_update(b.params + weight_count_, b.grads + weight_count_, b.state1 + weight_count_,
                       b.state2 + weight_count_, n_bias, s);
  }
  ++step_;
}

void Trainer::train_step(int64_t first_row, int64_t rows) {
  Buffers& b = *buf_;
  const int classes = data_.train.num_classes;
  slot_.gather_batch(data_.train.features, data_.train.labels, b.permutation + first_row, rows,
                     dims_[0], b.batch, b.batch_labels);
  const float* logits = forward(b.batch, rows);
  // Mean loss over the batch: the gradient of each row is scaled by 1/rows.
  slot_.softmax_cross_entropy(logits, b.batch_labels, rows, classes, 1.f / static_cast<float>(rows),
                              b.delta[0], b.loss_rows, b.loss_sum);
  backward(b.batch, rows);
  optimizer_step();
}

void Trainer::evaluate(Evaluation* out) {
  Buffers& b = *buf_;
  const SplitView& ev = data_.eval;
  const int64_t chunk = std::min<int64_t>(params_.per_device_eval_batch_size, ev.rows);
  int64_t steps = 0;
  for (int64_t first = 0; first < ev.rows; first += chunk, ++steps) {
    const int64_t rows = std::min(chunk, ev.rows - first);
    const float* logits = forward(ev.features + first * ev.cols, rows);
    slot_.predict(logits, ev.labels + first, rows, ev.num_classes, b.predictions + first,
                  b.loss_rows + first);
  }
  out->eval_loss = slot_.sum(b.loss_rows, ev.rows) / static_cast<double>(ev.rows);
  out->confusion.num_classes = ev.num_classes;
  out->confusion.counts =
      slot_.confusion_matrix(ev.labels, b.predictions, ev.rows, ev.num_classes, b.scratch);
  out->eval_samples = ev.rows;
  out->eval_steps = steps;
}

Evaluation Trainer::run_epoch(int epoch) {
  Evaluation e;
  e.epoch = epoch;
  const auto t0 = std::chrono::steady_clock::now();
  upload_permutation(epoch);
  slot_.fill(buf_->loss_sum, 1, 0.f);
  const int64_t batch = batch_;
  for (int64_t first = 0; first < data_.train.rows; first += batch) {
    train_step(first, std::min(batch, data_.train.rows - first));
  }
  float loss_sum = 0.f;
  slot_.copy_to_host(&loss_sum, buf_->loss_sum, sizeof(float));
  e.train_loss = loss_sum / static_cast<double>(data_.train.rows);
  e.train_samples = data_.train.rows;
  e.train_runtime = seconds_since(t0);

  const auto t1 = std::chrono::steady_clock::now();
  evaluate(&e);
  e.eval_runtime = seconds_since(t1);
  return e;
}

}  // namespace cusweep
