// A sweep's configuration (JSON): data, model, training arguments (HF TrainingArguments
// names), metrics, objective, search space and scheduling. Every key is known or reported.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cusweep/benchmark_function.h"
#include "cusweep/dataset.h"
#include "cusweep/metrics.h"
#include "cusweep/objective.h"
#include "cusweep/sampler.h"
#include "cusweep/scheduler.h"
#include "cusweep/search_space.h"

namespace cusweep {

enum class ActivationKind { kRelu, kTanh, kGelu };

// The model and training arguments of one trial, after the search space is applied.
struct TrialParams {
  // model
  std::string architecture = "mlp";  // "mlp" | "softmax_regression"
  std::vector<int> hidden_sizes = {128};
  ActivationKind activation = ActivationKind::kRelu;
  // training (HF TrainingArguments names; defaults differ where noted in the README)
  double learning_rate = 1e-3;
  int per_device_train_batch_size = 64;
  int per_device_eval_batch_size = 256;
  int num_train_epochs = 3;
  double weight_decay = 0.0;
  double warmup_ratio = 0.0;
  std::string lr_scheduler_type = "linear";  // linear | constant | constant_with_warmup | cosine
  std::string optim = "adamw";               // adamw | sgd
  double momentum = 0.9;                     // sgd only
  double max_grad_norm = 0.0;  // clip each step's gradient to this global norm; 0 = off (HF: 1)
  double adam_beta1 = 0.9;
  double adam_beta2 = 0.999;
  double adam_epsilon = 1e-8;
  uint64_t seed = 42;

  // The parameters as JSON ({"learning_rate": ..., "hidden_sizes": [...], ...}).
  nlohmann::json to_json() const;
};

// Names that may appear in `model`, `training` and `search_space`.
const std::vector<std::string>& model_keys();
const std::vector<std::string>& training_keys();

// Builds a trial's parameters from the base `model` and `training` objects overlaid with
// `searched` values ({name: value}); every value is validated, errors name `origin.key`.
TrialParams make_trial_params(const nlohmann::json& model, const nlohmann::json& training,
                              const nlohmann::json& searched);

enum class ObjectiveScope { kLast, kBest };

struct SweepConfig {
  std::string name = "sweep";
  std::string path;                                  // the config file, for messages
  std::string base_dir;                              // relative data paths start here
  nlohmann::json source = nlohmann::json::object();  // the JSON it was parsed from
  DataConfig data;
  // When active, trials evaluate this test function instead of training (no data, model or
  // training); the search space names its variables x1, x2, ...
  BenchmarkFunctionConfig benchmark;
  nlohmann::json model = nlohmann::json::object();     // base values, validated
  nlohmann::json training = nlohmann::json::object();  // base values, validated
  std::vector<std::string> metrics;                    // "accuracy", "f1", "precision", "recall"
  Average average = Average::kWeighted;
  ObjectiveSpec objective;
  ObjectiveScope objective_scope = ObjectiveScope::kLast;
  SearchSpace search_space;
  SamplerConfig sampler;      // random search by default
  SchedulerConfig scheduler;  // early stopping; fifo (none) by default
  int n_trials = 1;
  int max_concurrent_trials = 2;
  uint64_t seed = 0;  // the sweep's seed: trial i's configuration depends on (seed, i) alone
  std::string backend = "auto";
  // Trials with the same shapes train together on one slot, up to this many ("fused trials":
  // one strided-batched GEMM per layer for the group). 0 = auto: fused on CUDA, where small
  // GEMMs are launch-bound; not on the CPU, where fusing was measured not to raise the sgemm
  // rate (README, Performance).
  int fused_trials = 0;
  // Every this many epochs each trial's model and optimizer state is recorded in the study
  // with that epoch's evaluation, so that a trial stopped later (Ctrl-C, kill -9, a worker
  // lost) continues from there when run again instead of from epoch 1. 0 = off.
  int checkpoint_every = 0;
  double report_interval_s = 5.0;  // plain-text table snapshots when stdout is not a terminal

  // The metric keys each evaluation reports (HF names), with placeholder values: objectives
  // are checked against it before anything trains.
  nlohmann::json metric_template() const;

  // The most epochs any trial can train (the base value, or the search space's largest).
  int max_epochs() const;

  // The parameters of trial `index`.
  TrialParams trial_params(uint64_t index, nlohmann::json* searched_out) const;
};

// Reads and validates a config file. Errors (UserError) name the file, the line for JSON
// syntax errors, and the key path for everything else.
SweepConfig load_sweep_config(const std::string& path);
SweepConfig parse_sweep_config(const nlohmann::json& j, const std::string& path,
                               const std::string& base_dir);

const char* objective_scope_name(ObjectiveScope scope);

}  // namespace cusweep
