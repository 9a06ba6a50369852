// The live trial table (in the manner of Ray Tune's): a status header, then one row per trial
// "Trial name | status | loc | <searched parameters> | epoch | objective", and the final report.
#pragma once

#include <string>
#include <vector>

#include "cusweep/config.h"
#include "cusweep/runner.h"

namespace cusweep {

class TrialTable {
 public:
  TrialTable(const SweepConfig& config, std::vector<Direction> directions, std::string objective);

  // With more than `max_rows` trials, shows the running ones, then the best finished (with
  // several objectives: the Pareto front, then the next fronts), then errors, and counts the
  // rest in a closing line.
  std::string render(const ProgressView& view, size_t max_rows) const;

 private:
  std::vector<size_t> rows_to_show(const std::vector<TrialRecord>& trials, size_t max_rows) const;

  const SweepConfig& config_;
  std::vector<Direction> directions_;
  std::string objective_;
  std::string scheduler_;
  std::vector<std::string> params_;
};

// The closing report: best trial (or Pareto front), its hyperparameters and its objective
// explained term by term, plus the warnings.
std::string final_report(const SweepResult& result, const SweepConfig& config);

// "eval_accuracy + eval_f1 (default rule), maximize (inferred), ranked by the last evaluation"
std::string objective_summary(const std::vector<ObjectiveValue>& probe, ObjectiveScope scope);

// Compact value formatting for tables: 4 significant digits, lists as JSON.
std::string format_value(const nlohmann::json& v);

}  // namespace cusweep
