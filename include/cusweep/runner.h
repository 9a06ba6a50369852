// Runs a sweep: samples trial configurations, keeps up to max_concurrent_trials training at
// once (threads on the CPU, one stream per slot on CUDA), computes each evaluation's metrics
// and objective, records results and reports progress.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cusweep/config.h"
#include "cusweep/dataset.h"
#include "cusweep/metrics.h"
#include "cusweep/objective.h"

namespace cusweep {

// INTERRUPTED: the sweep was asked to stop (Ctrl-C, SIGTERM) while the trial ran; it keeps
// the evaluations it finished.
// PRUNED: an early-stopping scheduler stopped the trial; it keeps its history.
enum class TrialStatus { kPending, kRunning, kTerminated, kError, kInterrupted, kPruned };
// "PENDING", "RUNNING", "TERMINATED", "ERROR", "INTERRUPTED", "PRUNED"
const char* trial_status_name(TrialStatus s);

struct TrialRecord {
  uint64_t index = 0;
  std::string name;  // <sweep>_<5 hex>_<5 digit index>
  TrialStatus status = TrialStatus::kPending;
  nlohmann::json searched = nlohmann::json::object();  // the sampled values
  nlohmann::json params = nlohmann::json::object();    // every model/training parameter
  std::string location;                                // backend and slot, e.g. "cpu:1"
  std::vector<nlohmann::json> history;  // per evaluation: {"metrics": {...}, "objective": [...],
                                        //                  "train_loss", "train_runtime"}
  nlohmann::json metrics = nlohmann::json::object();  // the last evaluation's metrics (HF names)
  std::vector<double> objective;                      // per objective, by the sweep's scope
  int ranked_evaluation = -1;                         // history entry the objective comes from
  std::vector<ObjectiveValue> explanation;            // of that evaluation
  ConfusionMatrix confusion;                          // of the last evaluation
  std::string error;
  double runtime_s = 0;
  int epochs_done = 0;
};

struct SweepResult {
  std::string name;
  std::string backend;  // description of the backend used
  std::vector<TrialRecord> trials;
  std::vector<Direction> directions;
  std::vector<size_t> best;  // one index (single objective) or the Pareto front; empty if none
  std::vector<std::string> warnings;
  double wall_s = 0;          // of this run
  double study_wall_s = 0;    // of every run of the study: the first and each --resume
  bool interrupted = false;   // stopped by RunOptions::stop before every trial ran
  size_t resumed_trials = 0;  // finished trials kept from the study's earlier runs
  size_t forked_trials = 0;   // finished trials carried from another study (--fork)
  // True when some trial completed its training or was stopped early by the scheduler: the
  // sweep ran (exit 0), even if no trial is eligible as the best.
  bool any_completed() const;
};

// Progress: called from a reporter thread with a consistent copy of the trials.
struct ProgressView {
  const std::vector<TrialRecord>& trials;
  int slots_total;
  int slots_busy;
  double elapsed_s;
  const std::string& backend;  // description of the backend in use
  bool recorded = false;       // a study read back (cusweep show), not a sweep running now
};

// What run_sweep does when the output folder already holds a study (study.db).
enum class ExistingStudy {
  kRefuse,     // UserError with a hint, so that nothing recorded is lost by accident
  kResume,     // continue it: finished trials are kept, the others run (again)
  kOverwrite,  // delete its records and start a fresh study
};

struct RunOptions {
  std::string out_dir;  // "" = write nothing
  // out_dir/study.db records the study (config, trials, transitions, evaluations) so that a
  // stopped sweep can be resumed. false only to measure what the study costs.
  bool record_study = true;
  ExistingStudy existing_study = ExistingStudy::kRefuse;
  // A new study starts with the finished trials of this one that are trials of the config
  // (same data and settings, values in its search space), their objectives recomputed (see
  // fork_trials): an output folder, or with `storage` a study name in that database.
  // Refused with kResume.
  std::string fork_from;
  std::string backend;              // overrides the config's backend when not empty
  const DataSplit* data = nullptr;  // preloaded data (tests); else loaded from the config
  std::function<void(const ProgressView&, bool final)> on_progress;  // may be empty
  double progress_interval_s = 1.0;
  // When set and non-zero, no new trial starts and running ones stop after their current
  // evaluation (INTERRUPTED); results are still written. The CLI sets it from SIGINT/SIGTERM.
  const std::atomic<int>* stop = nullptr;

  // Where the study is kept: "" = out_dir/study.db (SQLite); "postgresql://..." = that
  // database, where `cusweep worker` processes on any host may join the study. With a
  // database, run_sweep runs as one worker (see join_study) and returns the whole study.
  std::string storage;
  std::string study;  // the study's name in the database; default the config's name
  // Worker mode: a trial whose worker sent no heartbeat for this long is handed to another.
  double heartbeat_timeout_s = 60;
  int max_concurrent_trials = 0;  // join_study: > 0 overrides the recorded config's
  // A checkpoint larger than this is not recorded (the trial trains on and says so): SQLite
  // holds at most 1,000,000,000 bytes in a value and PostgreSQL 1 GiB in a bytea, so the
  // default stays below both with room for the rest of its row. Tests set it small.
  size_t max_checkpoint_bytes = 900'000'000;
};

// Runs the sweep `config`: in out_dir's study.db by itself (trial i's values from (seed, i),
// results independent of timing), or, with `options.storage`, as one worker of the study in
// that database.
SweepResult run_sweep(const SweepConfig& config, const RunOptions& options);

// Joins a recorded study as a worker until every trial is final (or `options.stop`): the study
// `options.study` in `options.storage`, or out_dir's study.db when storage is empty. The config
// is the recorded one. Each slot claims the next trial from the study (claim_next), so any
// number of worker processes share it; fused trials are off. Returns the whole study; writes
// its result files into out_dir (when set) at the end.
SweepResult join_study(const RunOptions& options);

}  // namespace cusweep
