// One trial's model, optimizer and data order on a slot; trains an epoch and evaluates it.
// Written once against Slot, so the CPU and CUDA backends run the same training loop.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "backend.h"
#include "cusweep/config.h"
#include "cusweep/metrics.h"

namespace cusweep {

struct Evaluation {
  int epoch = 0;
  double train_loss = 0;  // mean cross-entropy over the epoch's training batches
  double eval_loss = 0;   // mean cross-entropy over the eval set
  ConfusionMatrix confusion;
  double train_runtime = 0;  // seconds for the epoch's training steps
  double eval_runtime = 0;   // seconds for the evaluation
  int64_t eval_samples = 0;
  int64_t eval_steps = 0;
  int64_t train_samples = 0;
};

class Trainer {
 public:
  // Allocates the model, optimizer state and scratch on `slot`, initialized from params.seed.
  Trainer(Slot& slot, const DataView& data, const TrialParams& params);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // Trains epoch `epoch` (1-based) and evaluates on the eval split.
  Evaluation run_epoch(int epoch);

  int64_t steps_per_epoch() const { return steps_per_epoch_; }
  int64_t parameter_count() const { return param_count_; }

 private:
  struct Buffers;

  static void check_memory(double floats);
  void initialize_parameters();
  void upload_permutation(int epoch);
  void train_step(int64_t first_row, int64_t rows);
  // Forward of `rows` rows of `input` [rows, dims_[0]]; returns the logits [rows, classes].
  float* forward(const float* input, int64_t rows);
  void backward(const float* input, int64_t rows);
  void optimizer_step();
  double learning_rate_factor(int64_t step) const;
  void evaluate(Evaluation* out);

  float* weight(size_t layer) const;
  float* bias(size_t layer) const;
  float* weight_grad(size_t layer) const;
  float* bias_grad(size_t layer) const;

  Slot& slot_;
  DataView data_;
  TrialParams params_;
  std::vector<int64_t> dims_;  // [input, hidden..., classes]
  std::vector<int64_t> weight_offset_, bias_offset_;
  int64_t weight_count_ = 0, param_count_ = 0;
  int64_t batch_ = 0;  // the training batch size, at most the train set's size
  int64_t steps_per_epoch_ = 0, total_steps_ = 0, warmup_steps_ = 0, step_ = 0;
  std::unique_ptr<Buffers> buf_;
};

}  // namespace cusweep
