// Trial schedulers (early stopping): after each evaluation a scheduler says whether a trial
// goes on or is pruned. FIFO never prunes; ASHA prunes at rungs by successive halving (Li et al.,
// "A System for Massively Parallel Hyperparameter Tuning", MLSys 2020); median stopping prunes
// a trial whose best result is worse than the median of the others at the same epoch (Golovin
// et al., "Google Vizier", KDD 2017).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cusweep/objective.h"

namespace cusweep {

struct SchedulerConfig {
  std::string type = "fifo";          // fifo | asha | hyperband | median
  int grace_period = 1;               // epochs before a trial can be pruned
  int reduction_factor = 3;           // asha: keep the top 1/reduction_factor at each rung
  int min_samples = 3;                // median: other trials needed at an epoch before comparing
  int prune_on = 0;                   // the objective the decisions use (several objectives)
  bool best_includes_pruned = false;  // may a pruned trial be reported as the best?
};

// Parses the `scheduler` object (or a bare type string); errors name "scheduler.<key>".
SchedulerConfig parse_scheduler_config(const nlohmann::json& j, int max_epochs,
                                       size_t n_objectives);

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  // Called after trial `trial`'s evaluation at `epoch` (1-based) with the value of the
  // objective it is scheduled on; true = go on, false = prune now. Thread-safe.
  virtual bool should_continue(uint64_t trial, int epoch, double value) = 0;
  // One line for the report: what this scheduler does and with which settings.
  virtual std::string describe() const = 0;
};

// `direction` of the objective scheduled on; `max_epochs` bounds ASHA's rungs.
std::unique_ptr<Scheduler> make_scheduler(const SchedulerConfig& config, Direction direction,
                                          int max_epochs);

// ASHA's rungs: grace_period * reduction_factor^k, below max_epochs.
std::vector<int> asha_rungs(int grace_period, int reduction_factor, int max_epochs);

}  // namespace cusweep
