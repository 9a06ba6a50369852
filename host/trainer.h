// A group of trials with the same shapes, trained together on one slot: the model, optimizer
// state and data order of each, one epoch at a time. With one trial this is plain training;
// with several ("fused trials") every layer's GEMMs run as one strided-batched call over the
// group, and trials that share a seed share the gathered batch too. Written once against Slot,
// so the CPU and CUDA backends run the same training loop.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "backend.h"
#include "checkpoint.h"
#include "cusweep/config.h"
#include "cusweep/metrics.h"

namespace cusweep {

struct Evaluation {
  int epoch = 0;
  double train_loss = 0;  // mean cross-entropy over the epoch's training batches
  double eval_loss = 0;   // mean cross-entropy over the eval set
  ConfusionMatrix confusion;
  double train_runtime = 0;  // seconds for the epoch's training steps (the group's)
  double eval_runtime = 0;   // seconds for the evaluation (the group's)
  int64_t eval_samples = 0;
  int64_t eval_steps = 0;
  int64_t train_samples = 0;
};

// A fused group that would not fit in its slot's memory, though each trial would alone.
class GroupTooLarge : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Trainer {
 public:
  // Allocates every trial's model, optimizer state and scratch on `slot`, initialized from its
  // seed. All trials must have the same fusion_key(). Throws when they would not fit in memory.
  Trainer(Slot& slot, const DataView& data, const std::vector<TrialParams>& trials);
  Trainer(Slot& slot, const DataView& data, const TrialParams& trial)
      : Trainer(slot, data, std::vector<TrialParams>{trial}) {}
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // Trains epoch `epoch` (1-based) of every trial and evaluates each on the eval split: one
  // Evaluation per trial, in the order given. `go_on` (may be empty) is asked once the epoch
  // has its turn at the slot (on the CPU that can take a while): false leaves the epoch
  // untrained and returns no Evaluation.
  std::vector<Evaluation> run_epoch(int epoch, const std::function<bool()>& go_on = {});

  // Trial t's checkpoint after the epoch run_epoch last finished (`epoch`): its parameters,
  // optimizer state and step count, copied to the host (synchronizes the slot).
  CheckpointState checkpoint(size_t t, int epoch) const;
  // Continues every trial from its checkpoint (one per trial, all of the same epoch): the next
  // run_epoch must be checkpoint epoch + 1. CheckpointError when one does not fit its trial.
  void restore(const std::vector<CheckpointState>& states);
  // Why `state` cannot continue trial `p` on `data` (another model, optimizer or epoch count),
  // or "" when it can.
  static std::string checkpoint_mismatch(const CheckpointState& state, const TrialParams& p,
                                         const DataView& data);

  size_t size() const { return trials_.size(); }
  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  int64_t parameter_count() const { return param_count_; }  // per trial

  // Trials with equal keys have the same layer shapes, batch size, number of epochs and
  // optimizer, and can train in one Trainer. Learning rates, decay, betas, schedules and
  // seeds may differ.
  static std::string fusion_key(const TrialParams& p);

  // Whether n trials (per_trial 4-byte values each, per_order for each of `orders` shuffled
  // orders) fit a slot with budget_bytes free of capacity_bytes in all: std::runtime_error when
  // one trial exceeds the capacity, std::bad_alloc when it exceeds only the budget (it fits once
  // other trials end), GroupTooLarge when only the group does not fit.
  static void check_memory(double budget_bytes, double capacity_bytes, double per_trial,
                           double per_order, int64_t n, int64_t orders);

 private:
  struct Buffers;

  // Values per trial for the parameters of `p`'s model on `data`.
  static int64_t parameter_count_of(const TrialParams& p, const DataView& data);
  static int optimizer_arrays(const TrialParams& p) { return p.optim == "adamw" ? 2 : 1; }
  void allocate_buffers(int64_t n, int64_t orders);
  size_t place_epoch_arrays(char* base, int64_t n, int64_t orders);
  void initialize_parameters();
  void upload_permutations(int epoch);
  void train_step(int64_t first_row, int64_t rows);
  // Forward of `rows` rows of every trial's input (trial t reads input + t * input_stride);
  // leaves each trial's logits [rows, classes] in its last z buffer.
  void forward(const float* input, int64_t input_stride, int64_t rows);
  // Expects each trial's logits gradient in its delta[0]; leaves parameter gradients in grads.
  void backward(const float* input, int64_t input_stride, int64_t rows);
  void optimizer_step();
  double learning_rate_factor(const TrialParams& p, int64_t step) const;
  void evaluate(std::vector<Evaluation>* out);

  // Trial t's parameters, gradients, and activations of layer l.
  float* weight(size_t l, size_t t) const;
  float* bias(size_t l, size_t t) const;
  float* z(size_t l, size_t t) const;
  float* a(size_t l, size_t t) const;
  float* delta(int which, size_t t) const;

  Slot& slot_;
  DataView data_;
  std::vector<TrialParams> trials_;
  bool shared_order_ = false;  // every trial has the same seed: one order, one gathered batch
  std::vector<float> max_grad_norms_;  // per trial; empty when no trial clips its gradients
  std::vector<int64_t> dims_;          // [input, hidden..., classes]
  std::vector<int64_t> weight_offset_, bias_offset_;
  int64_t weight_count_ = 0, param_count_ = 0;  // per trial
  int64_t batch_ = 0;     // the training batch size, at most the train set's size
  int64_t max_rows_ = 0;  // rows of an activation buffer: max(training batch, eval chunk)
  int64_t max_width_ = 0;
  int64_t steps_per_epoch_ = 0, total_steps_ = 0, step_ = 0;
  std::unique_ptr<Buffers> buf_;
  // Each step's per-trial optimizer scalars for weights and biases (host memory, sized once:
  // a training step allocates nothing).
  std::vector<AdamWStep> adamw_weights_, adamw_biases_;
  std::vector<SgdStep> sgd_weights_, sgd_biases_;
};

}  // namespace cusweep
