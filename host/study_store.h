// The durable record of a sweep (a "study", in Optuna's word): the config, what identifies its
// search (the fingerprint), each trial's values, state transitions and evaluations. The runner
// writes every transition here before the trial table shows it, so a sweep stopped at any
// moment (kill -9 included) can be resumed without losing a finished trial.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cusweep/config.h"
#include "cusweep/error.h"
#include "cusweep/runner.h"

namespace cusweep {

// A storage call failed (disk full, I/O error, a locked database past its timeout). The sweep
// stops: it is not the trial's fault, so the trial is not marked ERROR.
class StoreError : public DeviceError {
 public:
  using DeviceError::DeviceError;
};

// What a study is, as recorded when it was created.
struct StudyInfo {
  std::string name;
  std::string tag;                   // the 5 hex digits in every trial name
  nlohmann::json config;             // the config as parsed (the latest run's: n_trials grows)
  std::string config_path;           // the config file, for messages
  std::string base_dir;              // relative data paths are resolved from here
  nlohmann::json fingerprint;        // what must not change on resume (study_fingerprint)
  nlohmann::json summary = nullptr;  // the last run: {"backend", "wall_s", "warnings"}
};

// Storage of one study. The calls are the runner's transitions, each one atomic and durable
// when it returns; implementations are thread-safe (worker threads call them concurrently).
class StudyStore {
 public:
  virtual ~StudyStore() = default;

  // Records `fresh` if no study is recorded yet; returns the recorded study either way.
  // `created` says which happened.
  virtual StudyInfo create_or_load_study(const StudyInfo& fresh, bool* created) = 0;
  // The recorded study; false when none is recorded yet.
  virtual bool load_study(StudyInfo* info) = 0;
  // Replaces the recorded config (a resumed sweep may ask for more trials).
  virtual void update_config(const nlohmann::json& config) = 0;
  // Records what the last run reported: {"backend", "wall_s", "warnings"}.
  virtual void record_summary(const nlohmann::json& summary) = 0;

  // Marks trial `t.index` RUNNING with its values and location, dropping the evaluations of an
  // earlier attempt (an interrupted trial runs again from its first epoch). False, changing
  // nothing, when the trial is already finished (TERMINATED, ERROR or PRUNED).
  virtual bool claim_trial(const TrialRecord& t) = 0;
  // Appends one evaluation (the history entry: metrics, objective, train_loss, ...).
  virtual void record_evaluation(uint64_t trial, int epoch, const nlohmann::json& entry) = 0;
  // Records the trial's state: status, error, runtime, objective, ranked evaluation and
  // confusion matrix. Called when a trial leaves RUNNING (and again if its runtime changes).
  virtual void finish_trial(const TrialRecord& t) = 0;

  // Every recorded trial in index order, with its history; `explanation` is left empty (it is
  // recomputed from the metrics, see restore_explanations).
  virtual std::vector<TrialRecord> load_trials() = 0;
};

// "<sweep>_<tag>_<5 digit index>": the name of a trial.
std::string trial_name(const std::string& sweep, const std::string& tag, uint64_t index);

// The study file of an output folder.
std::string study_path(const std::string& out_dir);

// Opens (creating if missing) the SQLite study at `path`: WAL journal, synchronous=FULL.
// UserError naming the file when it is not a cusweep study or cannot be opened.
std::unique_ptr<StudyStore> open_sqlite_study(const std::string& path);

// Removes the study at `path` (the database and its WAL files); --overwrite.
void remove_sqlite_study(const std::string& path);

// The parts of a config that give recorded trials their meaning: name, search space, objective
// (objective, direction, scope, metrics, average), sampler, seed, model, training, data and
// benchmark function. Changing one of these on resume is refused.
nlohmann::json study_fingerprint(const SweepConfig& config);

// "search_space.learning_rate changed: recorded {...}, now {...}" for each difference (at most
// a few), or empty when the fingerprints agree.
std::vector<std::string> fingerprint_changes(const nlohmann::json& recorded,
                                             const nlohmann::json& now);

// A recorded study read back for `cusweep show`: its config and the sweep as the runner would
// have returned it (trials never started are PENDING).
struct StudySnapshot {
  SweepConfig config;
  SweepResult result;
};

// Reads the study in `out_dir` without its config file. UserError naming the folder when it
// holds no study.
StudySnapshot read_study(const std::string& out_dir);

// Fills each finished trial's objective explanation from its ranked evaluation's metrics.
void restore_explanations(const SweepConfig& config, std::vector<TrialRecord>& trials);

// True for TERMINATED, ERROR and PRUNED: a resumed sweep keeps these and never runs them again.
bool is_final(TrialStatus status);

// Inverse of trial_status_name; UserError naming `origin` for an unknown name.
TrialStatus parse_trial_status(const std::string& name, const std::string& origin);

}  // namespace cusweep
