// The durable record of a sweep (a "study", in Optuna's word): the config, what identifies its
// search (the fingerprint), each trial's values, state transitions and evaluations. The runner
// writes every transition here before the trial table shows it, so a sweep stopped at any
// moment (kill -9 included) can be resumed without losing a finished trial.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
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

// What claim_next gave a worker: a trial to run, nothing yet (others are still running trials
// that may be handed over if their workers die), or nothing ever (every trial is final).
struct TrialClaim {
  enum Kind { kTrial, kWait, kDone };
  Kind kind = kDone;
  uint64_t index = 0;
  int attempt = 0;                                     // 1 for a new trial
  bool handed_over = false;                            // its earlier worker's heartbeat stopped
  nlohmann::json searched = nlohmann::json::object();  // recorded values; empty when none
};

// Storage of one study. The calls are the runner's transitions, each one atomic and durable
// when it returns; implementations are thread-safe (worker threads call them concurrently).
//
// Workers: a store given a worker identity (set_worker) shares its study with other processes.
// claim_next hands out each trial to one worker; claim_trial, record_evaluation and
// finish_trial then check that this worker still owns the trial and raise StoreError when it
// was handed to another (its heartbeat had stopped): the new owner's records are never
// overwritten. Without an identity (`cusweep run` on SQLite) the store trusts its one runner.
class StudyStore {
 public:
  virtual ~StudyStore() = default;

  // For messages: the study file, or the redacted URL and the study's name.
  virtual std::string where() const = 0;
  // The worker identity of this store's writes (see the class comment).
  virtual void set_worker(const std::string& worker) = 0;
  // Atomically picks this worker's next trial below n_trials: the lowest one that is not final
  // and not RUNNING under a live heartbeat (an interrupted trial, or one whose worker's
  // heartbeat is older than `heartbeat_timeout_s`: handed over, attempt + 1), else the lowest
  // number never claimed. The trial becomes RUNNING, owned by this worker, heartbeat now.
  virtual TrialClaim claim_next(int n_trials, double heartbeat_timeout_s) = 0;
  // Refreshes the heartbeat of every trial this worker runs.
  virtual void heartbeat() = 0;
  // Deletes the study's records (--overwrite of a study in a shared database).
  virtual void delete_study() = 0;

  // Records `fresh` if no study is recorded yet; returns the recorded study either way.
  // `created` says which happened.
  virtual StudyInfo create_or_load_study(const StudyInfo& fresh, bool* created) = 0;
  // The recorded study; false when none is recorded yet.
  virtual bool load_study(StudyInfo* info) = 0;
  // Replaces the recorded config (a resumed sweep may ask for more trials).
  virtual void update_config(const nlohmann::json& config) = 0;
  // Records what the last run reported: {"backend", "wall_s", "warnings"}.
  virtual void record_summary(const nlohmann::json& summary) = 0;

  // Marks trial `t.index` RUNNING with its values and location, keeping the evaluations of
  // epochs 1..keep_epochs of an earlier attempt (those before the checkpoint it continues from)
  // and dropping the rest; with keep_epochs 0 the trial runs again from its first epoch and its
  // checkpoint goes too. False, changing nothing, when the trial is already finished
  // (TERMINATED, ERROR or PRUNED).
  virtual bool claim_trial(const TrialRecord& t, int keep_epochs) = 0;
  bool claim_trial(const TrialRecord& t) { return claim_trial(t, 0); }
  // Appends one evaluation (the history entry: metrics, objective, train_loss, ...) and, when
  // `checkpoint` is not null, replaces the trial's checkpoint with it (encode_checkpoint's bytes,
  // of this epoch), in one transaction: a checkpoint never outlives or precedes its evaluation.
  virtual void record_evaluation(uint64_t trial, int epoch, const nlohmann::json& entry,
                                 const std::string* checkpoint) = 0;
  void record_evaluation(uint64_t trial, int epoch, const nlohmann::json& entry) {
    record_evaluation(trial, epoch, entry, nullptr);
  }
  // The trial's checkpoint (the bytes record_evaluation was given), if it has one.
  virtual std::optional<std::string> load_checkpoint(uint64_t trial) = 0;
  // Records the trial's state: status, error, runtime, objective, ranked evaluation and
  // confusion matrix. Called when a trial leaves RUNNING (and again if its runtime changes).
  // A trial that is final (TERMINATED, ERROR, PRUNED) never runs again: its checkpoint goes.
  virtual void finish_trial(const TrialRecord& t) = 0;

  // Records finished trials taken from another study (--fork), in one transaction: each with
  // its values, evaluations and final state, and one transition to that state. None of their
  // numbers may be recorded yet.
  virtual void import_trials(const std::vector<TrialRecord>& trials) = 0;

  // Every recorded trial in index order, with its history; `explanation` is left empty (it is
  // recomputed from the metrics, see restore_explanations).
  virtual std::vector<TrialRecord> load_trials() = 0;
};

// "<sweep>_<tag>_<5 digit index>": the name of a trial.
std::string trial_name(const std::string& sweep, const std::string& tag, uint64_t index);

// The study file of an output folder.
std::string study_path(const std::string& out_dir);

// Opens (creating if missing) the SQLite study at `path`: WAL journal, synchronous=FULL.
// UserError naming the file when it is not a cusweep study or cannot be opened. `read_only`
// (show) never writes, creates or upgrades, so it reads studies this user may not write.
std::unique_ptr<StudyStore> open_sqlite_study(const std::string& path, bool read_only = false);

// True for postgresql://... and postgres://... URLs.
bool is_postgres_url(const std::string& url);

// UserError unless `url` is a storage URL cusweep knows (postgresql:// or postgres://); `origin`
// names where it came from (--storage, CUSWEEP_STORAGE). The message shows the URL redacted.
void check_storage_url(const std::string& url, const std::string& origin);

// Opens the study `study` in the PostgreSQL database at `url`, creating cusweep's tables when
// missing (a study is created by create_or_load_study); `read_only` (show) creates and alters
// nothing, so a user who may only read the tables can. UserError when the server cannot be
// reached; no message ever holds the URL's password.
std::unique_ptr<StudyStore> open_postgres_study(const std::string& url, const std::string& study,
                                                bool read_only = false);

// The names of the studies recorded in the database at `url`, sorted.
std::vector<std::string> list_postgres_studies(const std::string& url);
// How long a PostgreSQL transaction may wait for the server's answer before its connection is
// dropped and made again (default 120 s; tests shorten it).
void set_postgres_stall_s(double seconds);
// For a "no such study" message: " (studies there: a, b)", or " (the database holds none)".
std::string postgres_studies_there(const std::string& url);

// `url` with its password replaced by "***" (postgresql://user:***@host/db, password=***).
std::string redact_url(const std::string& url);

// The password of scheme://user:password@host/..., "" when it has none (to scrub messages).
std::string url_password(const std::string& url);

// The rows claim_next chooses from, and its choice: shared by every store.
struct ClaimCandidate {
  uint64_t index = 0;
  TrialStatus status = TrialStatus::kPending;
  double heartbeat_age_s = 0;  // since its runner's last sign of life; infinite when none
};
// `open`: the trials that are not final, in index order; `next_new`: the lowest number never
// claimed. kTrial with the chosen index (and handed_over), kWait or kDone.
TrialClaim choose_claim(const std::vector<ClaimCandidate>& open, uint64_t next_new, int n_trials,
                        double heartbeat_timeout_s);

// SQL for claim_next, shared by both stores (`trials`: the trials table; `study`: a condition
// that selects the study's rows, "" or "study = $1 AND "): the open trials (not final) with
// their heartbeat ages in seconds (`age`: the store's expression for it), and the lowest trial
// number never claimed, searched from `hint` (an expression: a number below which every
// number is recorded). Both run on the server, so a claim transfers the open trials only.
std::string open_trials_sql(const std::string& trials, const std::string& study,
                            const std::string& age);
std::string next_new_trial_sql(const std::string& trials, const std::string& study,
                               const std::string& hint);

// "<host>:<pid>:<4 hex>": the identity of a worker process in the study's records.
std::string make_worker_id();

// Removes the study at `path` (the database and its WAL files); --overwrite.
void remove_sqlite_study(const std::string& path);

// A lock on an output folder's study (flock on DIR/study.lock), held while a process runs it:
// `cusweep run` holds it alone, `cusweep worker` processes share it. A second `run`, or a run
// beside workers, is refused at once (UserError naming the folder and the holder's pid)
// instead of training the same trials twice. Released when destroyed or the process ends.
class StudyFolderLock {
 public:
  StudyFolderLock(const std::string& out_dir, bool exclusive);
  ~StudyFolderLock();
  StudyFolderLock(const StudyFolderLock&) = delete;
  StudyFolderLock& operator=(const StudyFolderLock&) = delete;

 private:
  int fd_ = -1;
};

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

// Reads the study recorded in `store`; UserError when none is recorded.
StudySnapshot read_study(StudyStore& store);

// A finished trial records one value per objective of the study's config (a TERMINATED one
// always; one that ended in error or was pruned before an evaluation, none); else UserError
// naming the study (`where`) and the trial.
void check_recorded_objectives(const std::vector<TrialRecord>& trials, const SweepConfig& config,
                               const std::string& where);

// The whole study as a SweepResult: `recorded` trials in place, the others PENDING up to
// max(n_trials, recorded).
SweepResult study_result(const SweepConfig& config, const StudyInfo& info,
                         std::vector<TrialRecord> recorded);

// Fills each finished trial's objective explanation from its ranked evaluation's metrics.
void restore_explanations(const SweepConfig& config, std::vector<TrialRecord>& trials);

// A study kept elsewhere (--storage) writes its result files to `out_dir`: refused when that
// folder holds a study of its own (a study.db), whose files they would replace.
void refuse_local_study_in(const std::string& out_dir);

// The hint of every "the study is damaged" error.
extern const char* const kDamagedStudyHint;

// A JSON value read back from a study; a damaged one is a UserError naming `where`.
nlohmann::json parse_recorded_json(const std::string& text, const std::string& where);

// A recorded evaluation of `trial` at `epoch` (its JSON text; null when the row holds none),
// checked to be what the runner writes (an object with numeric metrics, of that epoch, and a
// numeric objective); else UserError naming the study (`where`), the trial and the epoch.
nlohmann::json checked_evaluation(const std::string* text, const std::string& where,
                                  const std::string& trial, int64_t epoch);

// The fields of a trial's row that hold JSON, checked to be what the runner writes and set on
// `t` (whose name and index are already read): searched values and params objects, an objective
// list of numbers (null: none yet), a confusion matrix of num_classes^2 counts (null: none).
// Else UserError naming the study (`where`), the trial and the field.
void set_recorded_fields(TrialRecord& t, const nlohmann::json& searched,
                         const nlohmann::json& params, const nlohmann::json& objective,
                         const nlohmann::json& confusion, const std::string& where);

// Checks each trial loaded with its evaluations as a whole: a finished trial has the
// evaluations of epochs 1..n with no gap, and the evaluation it is ranked by is one of them.
// Else UserError naming the study (`where`) and the trial. A trial not finished whose ranked
// evaluation is gone (another process is running it again) is read as ranked by none.
void check_recorded_trials(std::vector<TrialRecord>& trials, const std::string& where);

// True for TERMINATED, ERROR and PRUNED: a resumed sweep keeps these and never runs them again.
bool is_final(TrialStatus status);

// Inverse of trial_status_name; an unknown name is a damaged study: UserError naming `origin`
// and `trial` (when given).
TrialStatus parse_trial_status(const std::string& name, const std::string& origin,
                               const std::string& trial = "");

}  // namespace cusweep
