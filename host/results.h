// Result files of a sweep: trials.jsonl (one object per trial, appended as trials finish and
// rewritten in trial order at the end), results.csv (one row per trial, for pandas) and
// best.json (the best trial, or the Pareto front).
#pragma once

#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cusweep/config.h"
#include "cusweep/runner.h"

namespace cusweep {

// Best trial (single objective: one index, ties to the lowest index) or the Pareto front of
// the TERMINATED trials; empty when none terminated.
std::vector<size_t> select_best(const std::vector<TrialRecord>& trials,
                                const std::vector<Direction>& directions,
                                bool include_pruned = false);

// The trials.jsonl object of one trial.
nlohmann::json trial_json(const TrialRecord& t);

// The best.json object.
nlohmann::json best_json(const SweepResult& result, const SweepConfig& config);

class ResultsWriter {
 public:
  // Creates `dir` (and parents) and checks that the result files can be written there,
  // changing nothing else; UserError if not.
  static void check_folder(const std::string& dir);
  // Creates `dir` (and parents) and starts trials.jsonl; UserError if it cannot. results.csv
  // and best.json of another sweep are removed at once; those of the study this run continues
  // (`continuing`) stay until finish() replaces them, so a resume that is killed leaves them.
  ResultsWriter(const std::string& dir, const SweepConfig& config, bool continuing = false);
  ~ResultsWriter();
  // Appends the trial to trials.jsonl and flushes, so a crash keeps finished trials.
  void trial_finished(const TrialRecord& t);
  // Rewrites trials.jsonl in trial order and writes results.csv and best.json.
  void finish(const SweepResult& result);

 private:
  std::string dir_;
  const SweepConfig& config_;
  std::FILE* jsonl_ = nullptr;
  std::mutex mutex_;
};

}  // namespace cusweep
