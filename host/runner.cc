// The sweep runner: worker threads each own a slot and take the next trial index; a trial's
// configuration depends on (seed, index) alone, so results never depend on timing. In worker
// mode the slots claim trials from a study shared with other processes instead.
#include "cusweep/runner.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>
#include <new>
#include <set>
#include <system_error>
#include <thread>

#include <fmt/format.h>

#include "backend.h"
#include "checkpoint.h"
#include "cusweep/benchmark_function.h"
#include "cusweep/error.h"
#include "cusweep/log.h"
#include "fork.h"
#include "json_util.h"
#include "results.h"
#include "study_store.h"
#include "trainer.h"

namespace cusweep {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// fused_trials "auto" on CUDA: enough trials per slot to fill the GPU's small GEMMs. Chosen
// without a GPU measurement yet (none was available); scripts/gpu-check.sh reports the rates.
constexpr int kAutoFusedTrialsCuda = 8;
// How often a run brings its study's summary (wall time so far) up to date: one more
// transaction per interval, so a run killed mid-way loses at most this much of its time.
constexpr double kSummaryEveryS = 2.0;
// Worker mode: how long a slot waits before asking again when every unfinished trial runs
// elsewhere (one of them may be handed over if its worker dies).
constexpr double kClaimPollS = 0.2;

// FNV-1a: a stable 20-bit tag for trial names, from the sweep's name, seed and config. A study
// records it, so a resumed sweep (whose n_trials may have grown) keeps its trial names.
std::string sweep_tag(const SweepConfig& c) {
  uint64_t h = 1469598103934665603ull;
  const std::string key = c.name + "/" + std::to_string(c.seed) + "/" + c.model.dump() +
                          c.training.dump() + std::to_string(c.n_trials);
  for (unsigned char ch : key)
    h = (h ^ ch) * 1099511628211ull;
  return fmt::format("{:05x}", (h ^ (h >> 32)) & 0xfffff);
}

json metrics_dict(const SweepConfig& config, const Evaluation& e) {
  const ClassificationMetrics m = compute_metrics(e.confusion, config.average);
  json d = json::object();
  d["eval_loss"] = e.eval_loss;
  for (const std::string& name : config.metrics) {
    if (name == "accuracy") d["eval_accuracy"] = m.accuracy;
    if (name == "f1") d["eval_f1"] = m.f1;
    if (name == "precision") d["eval_precision"] = m.precision;
    if (name == "recall") d["eval_recall"] = m.recall;
  }
  const double runtime = std::max(e.eval_runtime, 1e-9);
  d["eval_runtime"] = e.eval_runtime;
  d["eval_samples_per_second"] = static_cast<double>(e.eval_samples) / runtime;
  d["eval_steps_per_second"] = static_cast<double>(e.eval_steps) / runtime;
  d["epoch"] = e.epoch;
  return d;
}

std::vector<double> values_of(const std::vector<ObjectiveValue>& v) {
  std::vector<double> out;
  for (const auto& o : v)
    out.push_back(o.value);
  return out;
}

// The wall time of the study's runs so far, as its last run recorded it (a study recorded
// before study_wall_s existed: its last run's).
double recorded_study_wall_s(const StudyInfo& info) {
  if (!info.summary.is_object()) return 0;
  return info.summary.value("study_wall_s", info.summary.value("wall_s", 0.0));
}

// The study a sweep records into out_dir, with what an earlier run recorded.
struct OpenedStudy {
  std::unique_ptr<StudyFolderLock> lock;  // out_dir's study, while this process runs it
  std::unique_ptr<StudyStore> store;
  std::string tag;                    // of the trial names
  std::vector<TrialRecord> recorded;  // by an earlier run, in index order
  size_t forked = 0;                  // of them, carried from another study by --fork
  double earlier_wall_s = 0;          // the study's runs before this one, summed
};

// Opens or creates out_dir's study as `options.existing_study` says. Refusals happen here,
// before any data is loaded or trial runs.
// The store of `options`: the database of options.storage (the study named options.study, or
// `name`), else out_dir's study.db.
std::unique_ptr<StudyStore> open_store(const RunOptions& options, const std::string& name) {
  if (options.storage.empty()) return open_sqlite_study(study_path(options.out_dir));
  check_storage_url(options.storage, "--storage");
  return open_postgres_study(options.storage, options.study.empty() ? name : options.study);
}

// The trials --fork carries into the new study, read before anything is written.
std::optional<ForkedTrials> plan_fork(const SweepConfig& config, const RunOptions& options) {
  if (options.fork_from.empty()) return std::nullopt;
  if (options.existing_study == ExistingStudy::kResume) {
    throw UserError("--fork starts a new study; it cannot be combined with --resume",
                    "resume the forked study later with --resume alone");
  }
  std::unique_ptr<StudyStore> source;
  if (options.storage.empty()) {
    namespace fs = std::filesystem;
    const std::string path = study_path(options.fork_from);
    if (!fs::exists(path)) {
      throw UserError(
          fmt::format("--fork {}: no study here ({} is missing)", options.fork_from, path),
          "--fork names the output folder of an earlier sweep");
    }
    std::error_code ec;
    if (fs::equivalent(path, study_path(options.out_dir), ec)) {
      throw UserError(fmt::format("--fork {}: that is the output folder itself", options.fork_from),
                      "fork into another folder: --out NEW_DIR");
    }
    try {
      source = open_sqlite_study(path, true);
    } catch (const UserError& e) {
      throw UserError(
          fmt::format("--fork {}: its study cannot be read: {}", options.fork_from, e.what()),
          "--fork names the output folder of an earlier sweep; that folder is only "
          "read, never repaired");
    }
  } else {
    const std::string target = options.study.empty() ? config.name : options.study;
    if (options.fork_from == target) {
      throw UserError(
          fmt::format("--fork {}: that is the study this run records into", options.fork_from),
          "fork into a study of another name: --study NEW_NAME");
    }
    source = open_postgres_study(options.storage, options.fork_from);
  }
  return fork_trials(config, sweep_tag(config), *source);
}

// The trials of `results` still running end with `status`.
void end_running(std::vector<TrialRecord>& results, TrialStatus status) {
  for (TrialRecord& r : results) {
    if (r.status == TrialStatus::kRunning) r.status = status;
  }
}

// Why a trial failed, as its ERROR row and log say it.
std::string trial_error_text(const std::exception& e) {
  if (dynamic_cast<const std::bad_alloc*>(&e) != nullptr) {
    return "out of memory while allocating its model, optimizer state or buffers (its size "
           "had been checked against what its slot's memory had free, on the CPU half the RAM "
           "or ulimit; other trials or processes left less)";
  }
  return e.what();
}

// What a run is about to add to the file system around its output folder, noted before it
// does, so that a refused run can take it back: the folders it makes (up to the first that
// exists) and the study's lock file.
class OutputFootprint {
 public:
  explicit OutputFootprint(const std::string& out_dir) : lock_(out_dir) {
    if (out_dir.empty()) return;
    std::error_code ec;
    namespace fs = std::filesystem;
    for (fs::path p = fs::absolute(out_dir, ec); !p.empty() && !fs::exists(p, ec);
         p = p.parent_path()) {
      made_.push_back(p);
      if (p == p.parent_path()) break;
    }
    lock_ /= "study.lock";
    lock_made_ = !fs::exists(lock_, ec);
  }
  // Removes the lock file if the run made it, then each folder it made that is empty.
  void take_back() const {
    std::error_code ec;
    if (lock_made_) std::filesystem::remove(lock_, ec);
    for (const std::filesystem::path& p : made_)
      std::filesystem::remove(p, ec);  // an error: not empty, it stays
  }

 private:
  std::filesystem::path lock_;
  bool lock_made_ = false;
  std::vector<std::filesystem::path> made_;  // deepest first
};

// Result files with no study beside them (its study.db deleted, or files of the user's own)
// are replaced only with --overwrite, not by a new run or a --resume (which would start a
// study): the study guards what it recorded, and nothing guards these.
void refuse_unrecorded_results(const std::string& out_dir) {
  std::error_code ec;
  // An empty study.db (0 bytes) records nothing: SQLite would make a new study in it.
  const std::string study = study_path(out_dir);
  if (std::filesystem::exists(study, ec) && std::filesystem::file_size(study, ec) > 0 && !ec) {
    return;  // the study's refusal says more
  }
  std::string found;
  for (const char* name : {"trials.jsonl", "results.csv", "best.json"}) {
    if (std::filesystem::is_regular_file(std::filesystem::path(out_dir) / name, ec))
      found += (found.empty() ? "" : ", ") + std::string(name);
  }
  if (found.empty()) return;
  throw UserError(fmt::format("{}: holds results of an earlier run ({}) and no study.db (or an "
                              "empty one); a new run would replace them",
                              out_dir, found),
                  "nothing was changed; --overwrite replaces them, or choose another --out");
}

// `fork`: plan_fork's trials, planned before the output folder was made. `before_writing` runs
// once the folder is locked and before anything of a study is written or deleted: what can
// still refuse the run (data, backend) refuses it there, so that a refused --overwrite keeps
// the study it would have replaced, and a refused new run leaves no study behind. It returns
// the digest of the data it loaded (data_digest; "" without data), recorded with the study.
OpenedStudy open_study(const SweepConfig& config, const RunOptions& options,
                       std::optional<ForkedTrials> fork,
                       const std::function<std::string()>& before_writing) {
  const bool overwrite = options.existing_study == ExistingStudy::kOverwrite;
  OpenedStudy study;
  if (options.storage.empty())
    study.lock = std::make_unique<StudyFolderLock>(options.out_dir, true);
  const std::string digest = before_writing();
  if (fork && !fork->data_content.empty() && !digest.empty() && fork->data_content != digest) {
    throw UserError(fmt::format("--fork {}: its trials measured something else than this "
                                "config:\n  data.content changed: recorded \"{}\", now \"{}\"",
                                fork->source, fork->data_content, digest),
                    "a fork keeps trials whose results this config would reproduce: the same "
                    "data files as the source study's, with the same values");
  }
  if (overwrite && options.storage.empty()) remove_sqlite_study(study_path(options.out_dir));
  study.store = open_store(options, config.name);
  if (overwrite && !options.storage.empty()) study.store->delete_study();
  const std::string path = study.store->where();
  StudyInfo fresh;
  fresh.name = config.name;
  fresh.tag = sweep_tag(config);
  fresh.config = config.source;
  // Absolute, so that `cusweep show` reads the study from any folder.
  std::error_code ec;
  fresh.config_path = std::filesystem::absolute(config.path, ec).string();
  fresh.base_dir = std::filesystem::absolute(config.base_dir, ec).string();
  fresh.fingerprint = study_fingerprint(config);
  if (!digest.empty()) fresh.fingerprint["data"]["content"] = digest;
  bool created = false;
  StudyInfo info = study.store->create_or_load_study(fresh, &created);
  if (!created) study.recorded = study.store->load_trials();
  if (!created && study.recorded.empty()) {
    // A study without a trial (its run failed before one started) has nothing to lose.
    study.store->delete_study();
    info = study.store->create_or_load_study(fresh, &created);
  }
  study.tag = info.tag;
  if (created && fork) {
    study.store->import_trials(fork->trials);
    log_info(fork->summary);
    study.forked = fork->trials.size();
    study.recorded = std::move(fork->trials);
    restore_explanations(config, study.recorded);
  }
  if (created) return study;

  if (options.existing_study == ExistingStudy::kRefuse) {
    throw UserError(fmt::format("{}: holds the study of an earlier sweep '{}' ({} trials "
                                "recorded)",
                                path, info.name, study.recorded.size()),
                    fmt::format("--resume continues it; --overwrite starts again and deletes its "
                                "records; or choose another {}",
                                options.storage.empty() ? "--out" : "--study"));
  }
  const std::vector<std::string> changes = fingerprint_changes(info.fingerprint, fresh.fingerprint);
  if (!changes.empty()) {
    std::string list;
    for (const std::string& c : changes)
      list += "\n  " + c;
    throw UserError(fmt::format("{}: cannot resume: the config or its data change what the "
                                "recorded trials mean:{}",
                                path, list),
                    options.storage.empty()
                        ? "restore those settings to resume; --overwrite starts a fresh study; "
                          "--fork THIS_DIR --out NEW_DIR starts a new one with the recorded "
                          "trials that fit the new config"
                        : "restore those settings to resume; --overwrite starts a fresh study; "
                          "--fork THIS_STUDY --study NEW_NAME starts a new one with the recorded "
                          "trials that fit the new config");
  }
  check_recorded_objectives(study.recorded, config, path);  // the objectives are the same
  // The config this run brings was compared by fingerprint; the recorded one is what `cusweep
  // show` and workers read, so a study whose config no longer loads is refused here too.
  try {
    const QuietWarnings quiet;  // the config this run brings said them
    parse_sweep_config(info.config, info.config_path, info.base_dir);
  } catch (const UserError& e) {
    throw UserError(fmt::format("{}: the study is damaged: its recorded config does not load: {}",
                                path, e.what()),
                    kDamagedStudyHint);
  }
  if (!study.recorded.empty() &&
      study.recorded.back().index >= static_cast<uint64_t>(config.n_trials)) {
    throw UserError(
        fmt::format("{}: n_trials is {}, but the study records trial number {} ({})", config.path,
                    config.n_trials, study.recorded.back().index, study.recorded.back().name),
        fmt::format("set n_trials to at least {} (it may grow on resume, not shrink)",
                    study.recorded.back().index + 1));
  }
  restore_explanations(config, study.recorded);
  study.store->update_config(config.source);
  study.earlier_wall_s = recorded_study_wall_s(info);
  return study;
}

class SweepRun {
 public:
  // `recorded`: the trials an earlier run of the study recorded. Finished ones are kept as they
  // are (never run again); the others run again with the values they had.
  SweepRun(const SweepConfig& config, const RunOptions& options, Backend& backend,
           const DataView& data, ResultsWriter* writer, StudyStore* store, const std::string& tag,
           std::vector<TrialRecord> recorded, std::vector<Direction> directions)
      : config_(config),
        options_(options),
        backend_(backend),
        backend_description_(backend.description()),
        data_(data),
        writer_(writer),
        store_(store),
        directions_(std::move(directions)) {
    sampler_ = make_sampler(config.sampler, config.search_space, config.seed);
    trials_.resize(static_cast<size_t>(config.n_trials));
    ranked_epoch_.assign(trials_.size(), 0);
    for (size_t i = 0; i < trials_.size(); ++i) {
      TrialRecord& t = trials_[i];
      t.index = i;
      t.name = trial_name(config.name, tag, i);
    }
    params_.resize(trials_.size());
    kept_.assign(trials_.size(), false);
    local_.assign(trials_.size(), false);
    fed_.assign(trials_.size(), 0);
    fixed_.assign(trials_.size(), false);
    rerun_.assign(trials_.size(), false);
    scheduler_ = make_scheduler(config.scheduler,
                                directions_[static_cast<size_t>(config.scheduler.prune_on)],
                                config.max_epochs());
    for (TrialRecord& r : recorded)
      restore(std::move(r));
    // History-free samplers decide every configuration now; the others when each trial's turn
    // comes (suggest_in_order).
    if (!sampler_->uses_history()) {
      for (size_t i = 0; i < trials_.size(); ++i) {
        if (!fixed_[i]) assign(i, sampler_->suggest(i, {}, {}));
      }
    }
    skip_fixed_suggestions();
  }

  size_t kept() const { return static_cast<size_t>(std::count(kept_.begin(), kept_.end(), true)); }

  // Worker mode: trials come from store_->claim_next, one per claim; this process's running
  // trials get a heartbeat every heartbeat_timeout_s / 4.
  void as_worker(double heartbeat_timeout_s) { heartbeat_timeout_s_ = heartbeat_timeout_s; }

  // Not a worker: the study's summary (its runs' wall time) is brought up to date every
  // kSummaryEveryS as trials record, so that a run killed mid-way still counts its time.
  void record_progress_as(const std::string& backend, double earlier_wall_s) {
    progress_backend_ = backend;
    earlier_wall_s_ = earlier_wall_s;
    record_progress_ = store_ != nullptr && heartbeat_timeout_s_ <= 0;
  }

  std::vector<TrialRecord> run(double* wall_s) {
    const auto t0 = Clock::now();
    t0_ = t0;
    last_progress_ = t0;
    const int to_run = config_.n_trials - static_cast<int>(kept());
    // A resumed study with every trial kept starts no slot (a worker always does: others may
    // hand trials over).
    const bool nothing_to_run = to_run <= 0 && heartbeat_timeout_s_ <= 0;
    const int slots =
        nothing_to_run ? 0 : std::max(1, std::min(config_.max_concurrent_trials, to_run));
    slots_ = std::max(1, slots);
    if (heartbeat_timeout_s_ <= 0) {
      form_groups(slots_, std::max(1, to_run));
    } else if (config_.fused_trials > 1) {
      log_warning(
          fmt::format("fused_trials {} is off for a worker of a shared study: each claim "
                      "takes one trial",
                      config_.fused_trials));
    }
    std::vector<std::thread> workers;
    for (int s = 0; s < slots; ++s) {
      try {
        workers.emplace_back([this, s] { worker(s); });
      } catch (const std::system_error& e) {
        // Out of threads (a pids limit, say): run on the slots that did start.
        if (s == 0) throw DeviceError(fmt::format("cannot start a worker thread: {}", e.what()));
        log_warning(fmt::format("started {} of {} slots: {}", s, slots, e.what()));
        break;
      }
    }
    std::thread reporter;
    if (options_.on_progress) reporter = std::thread([this, slots, t0] { report(slots, t0); });
    std::thread heart;
    if (heartbeat_timeout_s_ > 0) heart = std::thread([this] { beat(); });

    for (auto& w : workers)
      w.join();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    wake_.notify_all();
    if (reporter.joinable()) reporter.join();
    if (heart.joinable()) heart.join();
    if (!store_error_.empty()) throw StoreError(store_error_);
    if (slots_started_ == 0 && !nothing_to_run) {
      throw DeviceError("no slot could start, so no trial ran: " + slot_error_);
    }
    *wall_s = std::chrono::duration<double>(Clock::now() - t0).count();
    return trials_;
  }

 private:
  // Groups trials of the same shapes (Trainer::fusion_key) in index order, up to the fusion
  // size, but never so large that a slot would be left idle. A group is taken by a slot when
  // its first trial's turn comes; the grouping depends on the configs alone, never on timing.
  void form_groups(int slots, int to_run) {
    int fuse = config_.fused_trials > 0 ? config_.fused_trials
                                        : (backend_.name() == "cuda" ? kAutoFusedTrialsCuda : 1);
    if (config_.benchmark.active()) fuse = 1;    // nothing to fuse: no model trains
    if (sampler_->uses_history() && fuse > 1) {  // shapes are not known before suggestions
      if (config_.fused_trials > 1) {
        log_warning(
            fmt::format("fused_trials {} is off with the {} sampler: a trial's shapes are "
                        "known only once it is suggested, from the trials before it",
                        config_.fused_trials, config_.sampler.type));
      }
      fuse = 1;
    }
    fuse = std::max(1, std::min(fuse, to_run / slots));
    std::map<std::string, size_t> open;  // fusion key -> index of its open group
    for (size_t i = 0; i < trials_.size(); ++i) {
      if (kept_[i]) continue;
      if (fuse == 1 || rerun_[i]) {  // a trial run again may continue from its own epoch
        groups_.push_back({i});
        continue;
      }
      const std::string key = Trainer::fusion_key(params_[i]);
      const auto it = open.find(key);
      if (it == open.end() || groups_[it->second].size() >= static_cast<size_t>(fuse)) {
        open[key] = groups_.size();
        groups_.push_back({i});
      } else {
        groups_[it->second].push_back(i);
      }
    }
  }

  void worker(int slot_index) {
    std::unique_ptr<Slot> slot;
    try {
      slot = backend_.make_slot(slot_index);
      ++slots_started_;
    } catch (const std::exception& e) {
      log_error(fmt::format("slot {} could not start: {}", slot_index, e.what()));
      std::lock_guard<std::mutex> lock(mutex_);
      slot_error_ = e.what();
      return;  // the other slots take its trials
    }
    try {
      if (heartbeat_timeout_s_ > 0) {
        claim_loop(*slot);
      } else {
        group_loop(*slot);
      }
    } catch (const StoreError& e) {
      fail_store(e.what());
    }
  }

  // Nothing more can be recorded: the sweep stops, and run() reports why.
  void fail_store(const std::string& what) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (store_error_.empty()) store_error_ = what;
    store_failed_ = true;
  }

  void group_loop(Slot& slot) {
    for (;;) {
      if (stopping()) return;
      const uint64_t g = next_.fetch_add(1);
      if (g >= groups_.size()) return;
      const size_t first = groups_[g].front();
      if (sampler_->uses_history() && !fixed_[first] && !suggest_in_order(first, slots_)) return;
      run_group(slot, groups_[g]);
    }
  }

  // Worker mode: one trial per claim, until the study has no trial left to run.
  void claim_loop(Slot& slot) {
    const auto poll = std::chrono::duration<double>(std::min(kClaimPollS, heartbeat_timeout_s_));
    for (;;) {
      if (stopping()) return;
      const TrialClaim claim = store_->claim_next(config_.n_trials, heartbeat_timeout_s_);
      if (claim.kind == TrialClaim::kDone) return;
      if (claim.kind == TrialClaim::kWait) {
        std::this_thread::sleep_for(poll);
        continue;
      }
      prepare_claimed(claim);
      run_group(slot, {static_cast<size_t>(claim.index)});
    }
  }

  // The values of a claimed trial: as recorded (a trial run again), else from (seed, index), or
  // for a history sampler from every finished trial of the study now, the running ones as
  // constant liars.
  void prepare_claimed(const TrialClaim& claim) {
    const size_t i = claim.index;
    if (sampler_->uses_history() || config_.scheduler.type != "fifo") sync_from_store();
    std::lock_guard<std::mutex> lock(mutex_);
    TrialRecord fresh;
    fresh.index = i;
    fresh.name = trials_[i].name;
    const json searched = trials_[i].searched;
    trials_[i] = std::move(fresh);
    local_[i] = true;
    if (claim.handed_over) {
      log_info(
          fmt::format("trial {}: its worker's heartbeat stopped; running it again here "
                      "(attempt {})",
                      trials_[i].name, claim.attempt));
    }
    rerun_[i] = claim.attempt > 1;  // it may continue from a checkpoint
    if (!claim.searched.empty()) {
      assign(i, claim.searched);
    } else if (sampler_->uses_history()) {
      std::vector<Observation> history;
      std::vector<json> running;
      for (const TrialRecord& t : trials_) {
        if (t.index == i) continue;
        if (is_final(t.status)) history.push_back(observation_of(t));
        if (t.status == TrialStatus::kRunning && !t.searched.empty()) running.push_back(t.searched);
      }
      assign(i, sampler_->suggest(i, history, running));
    } else {
      assign(i, searched);
    }
  }

  // Worker mode: the other workers' trials as recorded now. Their new evaluations go to the
  // scheduler, so its rungs hold the whole study's results.
  void sync_from_store() {
    std::vector<TrialRecord> recorded = store_->load_trials();
    std::lock_guard<std::mutex> lock(mutex_);
    for (TrialRecord& r : recorded) {
      const size_t i = r.index;
      if (i >= trials_.size() || local_[i]) continue;
      if (r.searched.empty()) continue;  // claimed, values not recorded yet
      params_[i] = recorded_params(r);
      if (r.history.size() < fed_[i]) fed_[i] = 0;  // run again from its first epoch
      replay_evaluations(r, fed_[i]);
      fed_[i] = r.history.size();
      r.name = trials_[i].name;
      trials_[i] = std::move(r);
    }
  }

  // A finished trial as the sampler sees it: its values and objectives, lower is better.
  Observation observation_of(const TrialRecord& t) const {
    Observation o;
    o.params = t.searched;
    o.failed = t.status != TrialStatus::kTerminated || t.objective.size() != directions_.size();
    for (size_t m = 0; m < t.objective.size() && !o.failed; ++m) {
      o.loss.push_back(directions_[m] == Direction::kMinimize ? t.objective[m] : -t.objective[m]);
    }
    return o;
  }

  // A recorded trial's parameters. The config was checked against the recorded one, so values
  // that make no trial are the study's fault, and the message says so rather than blaming the
  // config's search_space.
  TrialParams recorded_params(const TrialRecord& r) const {
    try {
      return make_trial_params(config_.model, config_.training, r.searched);
    } catch (const UserError& e) {
      throw UserError(fmt::format("{}: the study is damaged: trial {}'s recorded values {}: {}",
                                  store_->where(), r.name, json_excerpt(r.searched), e.what()),
                      kDamagedStudyHint);
    }
  }

  // A recorded trial: kept when it finished, else run again with the values it had.
  void restore(TrialRecord r) {
    const size_t i = r.index;
    fixed_[i] = true;
    recorded_params(r);  // checked before anything is trained or written
    if (!is_final(r.status)) {
      assign(i, r.searched);
      rerun_[i] = true;  // it may continue from a checkpoint
      return;
    }
    params_[i] = recorded_params(r);
    trials_[i] = std::move(r);
    kept_[i] = true;
    replay_evaluations(trials_[i], 0);
    fed_[i] = trials_[i].history.size();
    if (writer_ != nullptr) writer_->trial_finished(trials_[i]);
  }

  // The scheduler sees a kept trial's evaluations as it did when the trial ran (the answers
  // are already known), so the rungs of a resumed sweep hold every recorded result. The
  // evaluation that failed an ERROR trial (not finite) never reached the scheduler.
  // Entries from `from` on.
  void replay_evaluations(const TrialRecord& t, size_t from) {
    const size_t on = static_cast<size_t>(config_.scheduler.prune_on);
    const int epochs = params_[t.index].num_train_epochs;
    for (size_t k = from; k < t.history.size(); ++k) {
      const int epoch = static_cast<int>(k) + 1;
      const json& entry = t.history[k];
      const json& objective = entry["objective"];
      const json& value = objective.is_array() ? objective[on] : objective;
      const bool finite = value.is_number() && entry["train_loss"].is_number() &&
                          entry["metrics"]["eval_loss"].is_number();
      if (!finite || epoch >= epochs) continue;
      scheduler_->should_continue(t.index, epoch, value.get<double>());
    }
  }

  // Moves next_suggestion_ past trials whose values are already recorded.
  void skip_fixed_suggestions() {
    while (next_suggestion_ < fixed_.size() && fixed_[next_suggestion_])
      ++next_suggestion_;
  }

  // Trial i is suggested after trials 0..i-1 were, from the trials 0..i-slots (all finished by
  // then; the wait keeps results independent of timing) and the points of the others below i
  // (still running, or about to). A trial kept from an earlier run of the study counts as it
  // did when trial i was first suggested, so a resumed sweep suggests what the uninterrupted one
  // would have. False when the sweep is stopping.
  bool suggest_in_order(size_t i, int slots) {
    std::unique_lock<std::mutex> lock(mutex_);
    const size_t known = i >= static_cast<size_t>(slots) ? i - slots + 1 : 0;  // trials < known
    auto finished = [&](size_t k) {
      const TrialStatus s = trials_[k].status;
      return s != TrialStatus::kPending && s != TrialStatus::kRunning;
    };
    const auto ready = [&] {
      if (stopping()) return true;
      if (next_suggestion_ != i) return false;
      for (size_t k = 0; k < known; ++k) {
        if (!finished(k)) return false;
      }
      return true;
    };
    // Polls for a stop request too: a signal handler cannot notify a condition variable.
    while (!ready())
      suggested_cv_.wait_for(lock, std::chrono::milliseconds(100));
    if (stopping()) return false;
    std::vector<Observation> history;
    std::vector<json> running;
    for (size_t k = 0; k < i; ++k) {
      const TrialRecord& t = trials_[k];
      if (k >= known) {  // running when trial i was suggested, even if kept since
        running.push_back(t.searched);
        continue;
      }
      history.push_back(observation_of(t));
    }
    assign(i, sampler_->suggest(i, history, running));
    ++next_suggestion_;
    skip_fixed_suggestions();
    suggested_cv_.notify_all();
    return true;
  }

  // Trial i's searched values and the full parameters they give.
  void assign(size_t i, json searched) {
    TrialRecord& t = trials_[i];
    t.searched = std::move(searched);
    params_[i] = make_trial_params(config_.model, config_.training, t.searched);
    // A benchmark function's trial has no model or training: its point is all there is.
    t.params = config_.benchmark.active() ? t.searched : params_[i].to_json();
  }

  void run_group(Slot& slot, const std::vector<size_t>& group) {
    const auto t0 = Clock::now();
    const std::string location = group.size() == 1
                                     ? std::string(slot.location())
                                     : fmt::format("{}/f{}", slot.location(), group.size());
    std::vector<TrialRecord> results;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (size_t i : group) {
        results.push_back(trials_[i]);
        results.back().status = TrialStatus::kRunning;
        results.back().location = location;
      }
    }
    // A trial run again continues from its checkpoint when it has one that fits.
    std::optional<Resume> resume;
    if (group.size() == 1 && rerun_[group.front()]) resume = usable_checkpoint(results.front());
    // Recorded before the table shows it.
    for (const TrialRecord& r : results) {
      if (store_ != nullptr && !store_->claim_trial(r, resume ? resume->state.epoch : 0)) {
        throw StoreError(fmt::format("trial {} is recorded as finished already", r.name));
      }
    }
    if (resume) continue_from(*resume, results.front());
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (const TrialRecord& r : results) {
        trials_[r.index].status = r.status;
        trials_[r.index].location = location;
      }
      ++busy_;
    }
    try {
      train_when_memory_allows(slot, group, results, resume ? &resume->state : nullptr);
    } catch (const GroupTooLarge& e) {
      // Each trial fits alone: train them one after another on this slot.
      log_info(fmt::format("{}; training them one at a time", e.what()));
      for (size_t k = 0; k < group.size(); ++k) {
        std::vector<TrialRecord> one = {results[k]};
        try {
          train(slot, {group[k]}, one, nullptr);
        } catch (const StoreError&) {
          throw;
        } catch (const std::exception& inner) {
          one[0].status = TrialStatus::kError;
          one[0].error = trial_error_text(inner);
        }
        results[k] = one[0];
      }
    } catch (const StoreError&) {
      throw;  // not the trial's fault: the sweep stops (worker)
    } catch (const std::exception& e) {
      for (TrialRecord& r : results) {
        if (r.status != TrialStatus::kRunning) continue;
        r.status = TrialStatus::kError;
        r.error = trial_error_text(e);
      }
    }
    const double runtime = std::chrono::duration<double>(Clock::now() - t0).count();
    for (TrialRecord& r : results) {
      r.runtime_s = runtime;
      if (store_ != nullptr) store_->finish_trial(r);
    }
    record_progress();
    std::lock_guard<std::mutex> lock(mutex_);
    for (TrialRecord& r : results) {
      if (r.status == TrialStatus::kError) {
        log_warning(fmt::format("trial {} failed: {}", r.name, r.error));
      }
      trials_[r.index] = r;
      if (writer_ != nullptr) writer_->trial_finished(r);
    }
    --busy_;
    ++groups_done_;
    suggested_cv_.notify_all();  // a history sampler, or a trial out of memory, may be waiting
  }

  // Out of memory (std::bad_alloc) before anything of the group was recorded, while other
  // trials train beside it: the group waits until one of them ends, and so frees its memory,
  // and starts again. Too many concurrent trials for a ulimit or a busy host thus run later
  // instead of failing for good. Alone it fails as any trial does.
  void train_when_memory_allows(Slot& slot, const std::vector<size_t>& group,
                                std::vector<TrialRecord>& results, const CheckpointState* resume) {
    const std::vector<TrialRecord> before = results;
    for (bool said = false;;) {
      try {
        train(slot, group, results, resume);
        return;
      } catch (const std::bad_alloc&) {
        for (size_t k = 0; k < results.size(); ++k) {
          if (results[k].history.size() != before[k].history.size()) throw;  // recorded some
        }
        std::unique_lock<std::mutex> lock(mutex_);
        const uint64_t seen = groups_done_;
        if (busy_ <= 1) throw;  // nothing else holds memory that would be freed
        if (!said) {
          log_info(
              fmt::format("trial {}: out of memory with {} other trial(s) training; it "
                          "starts again when one of them ends",
                          results.front().name, busy_ - 1));
          said = true;
        }
        while (groups_done_ == seen && busy_ > 1 && !stopping()) {
          suggested_cv_.wait_for(lock, std::chrono::milliseconds(200));
        }
        if (stopping()) {
          end_running(results, TrialStatus::kInterrupted);
          return;
        }
        results = before;
      }
    }
  }

  // Trains the group every epoch, recording each trial's evaluations; a trial that fails stays
  // in the computation (fused trials are independent) but is no longer recorded. Statuses are
  // set on return.
  // A benchmark-function trial: each "epoch" evaluates the function at the trial's point.
  void evaluate_function(TrialRecord& t, int first_epoch) {
    const BenchmarkFunctionConfig& f = config_.benchmark;
    const uint64_t noise_seed = (config_.seed << 32) ^ t.index;
    for (int epoch = first_epoch; epoch <= f.epochs && t.status == TrialStatus::kRunning; ++epoch) {
      const auto t0 = Clock::now();
      Evaluation e;
      e.epoch = epoch;
      const std::vector<double> values = benchmark_values(f, t.searched, epoch, noise_seed);
      e.train_loss = e.eval_loss = values.front();
      e.eval_runtime = std::chrono::duration<double>(Clock::now() - t0).count();
      json metrics = {{"epoch", epoch}};
      const std::vector<std::string> names = benchmark_outputs(f.function);
      for (size_t k = 0; k < names.size(); ++k)
        metrics[names[k]] = values[k];
      std::string checkpoint;
      if (checkpoint_due(epoch, f.epochs)) checkpoint = checkpoint_bytes(t, function_state(epoch));
      record(t, e, metrics, epoch, checkpoint.empty() ? nullptr : &checkpoint);
      if (stopping() && epoch < f.epochs && t.status == TrialStatus::kRunning) {
        t.status = TrialStatus::kInterrupted;
      }
    }
    if (t.status == TrialStatus::kRunning) t.status = TrialStatus::kTerminated;
  }

  // `resume`: the checkpoint a group of one continues from, else null (from epoch 1).
  void train(Slot& slot, const std::vector<size_t>& group, std::vector<TrialRecord>& results,
             const CheckpointState* resume) {
    const int first_epoch = resume != nullptr ? resume->epoch + 1 : 1;
    if (config_.benchmark.active()) {
      for (TrialRecord& r : results)
        evaluate_function(r, first_epoch);
      return;
    }
    std::vector<TrialParams> params;
    for (size_t i : group)
      params.push_back(params_[i]);
    Trainer trainer(slot, data_, params);
    if (resume != nullptr) trainer.restore({*resume});
    const int epochs = params.front().num_train_epochs;
    for (int epoch = first_epoch; epoch <= epochs; ++epoch) {
      // A sweep stopped while this epoch waited for its turn does not train it.
      const std::vector<Evaluation> evaluations =
          trainer.run_epoch(epoch, [this] { return !stopping(); });
      if (evaluations.empty()) {
        end_running(results, TrialStatus::kInterrupted);
        return;
      }
      bool any_running = false;
      for (size_t k = 0; k < results.size(); ++k) {
        if (results[k].status != TrialStatus::kRunning) continue;
        std::string checkpoint;
        if (checkpoint_due(epoch, epochs)) {
          checkpoint = checkpoint_bytes(results[k], trainer.checkpoint(k, epoch));
        }
        record(results[k], evaluations[k], metrics_dict(config_, evaluations[k]), epoch,
               checkpoint.empty() ? nullptr : &checkpoint);
        any_running = any_running || results[k].status == TrialStatus::kRunning;
      }
      if (!any_running) return;
      if (stopping() && epoch < params.front().num_train_epochs) {
        end_running(results, TrialStatus::kInterrupted);
        return;
      }
    }
    end_running(results, TrialStatus::kTerminated);
  }

  // One evaluation of one trial: its metrics, objective and history; ERROR when not finite.
  // `checkpoint` (may be null): the trial's state after this epoch, recorded with the evaluation
  // unless the evaluation fails the trial.
  void record(TrialRecord& t, const Evaluation& e, const json& metrics, int epoch,
              const std::string* checkpoint) {
    const size_t n_objectives = config_.objective.objectives.size();
    std::vector<ObjectiveValue> objective = evaluate_objective(config_.objective, metrics);
    const std::vector<double> values = values_of(objective);
    json entry = {{"metrics", metrics},
                  {"objective", n_objectives == 1 ? json(values[0]) : json(values)},
                  {"train_loss", e.train_loss},
                  {"train_runtime", e.train_runtime}};
    const std::string bad = non_finite_reason(e, values, epoch);
    if (store_ != nullptr) {
      store_->record_evaluation(t.index, epoch, entry, bad.empty() ? checkpoint : nullptr);
      record_progress();
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      TrialRecord& live = trials_[t.index];
      live.history.push_back(entry);
      live.metrics = metrics;
      live.epochs_done = epoch;
    }
    t.history.push_back(entry);
    t.metrics = metrics;
    t.confusion = e.confusion;
    t.epochs_done = epoch;

    if (!bad.empty()) {
      t.status = TrialStatus::kError;
      t.error = bad;
      if (store_ != nullptr) store_->finish_trial(t);
      std::lock_guard<std::mutex> lock(mutex_);
      trials_[t.index].status = t.status;  // the table shows it now, not when the group ends
      trials_[t.index].error = bad;
      return;
    }
    rank(t, objective);
    const size_t on = static_cast<size_t>(config_.scheduler.prune_on);
    if (epoch < params_[t.index].num_train_epochs &&
        !scheduler_->should_continue(t.index, epoch, values[on])) {
      t.status = TrialStatus::kPruned;
      if (store_ != nullptr) store_->finish_trial(t);
      std::lock_guard<std::mutex> lock(mutex_);
      trials_[t.index].status = t.status;  // its slot frees now (unless fused with others)
    }
  }

  void record_progress() {
    if (!record_progress_) return;
    const auto now = Clock::now();
    {
      std::lock_guard<std::mutex> lock(progress_mutex_);
      if (std::chrono::duration<double>(now - last_progress_).count() < kSummaryEveryS) return;
      last_progress_ = now;
    }
    const double elapsed = std::chrono::duration<double>(now - t0_).count();
    store_->record_summary({{"backend", progress_backend_},
                            {"wall_s", elapsed},
                            {"study_wall_s", earlier_wall_s_ + elapsed},
                            {"warnings", json::array()}});
  }

  // Checkpoints are taken every checkpoint_every epochs, never after the last one (the trial is
  // done then), and only into a study (nothing could continue from them otherwise).
  bool checkpoint_due(int epoch, int epochs) const {
    return store_ != nullptr && config_.checkpoint_every > 0 &&
           epoch % config_.checkpoint_every == 0 && epoch < epochs;
  }

  // Whose a checkpoint is: a checkpoint of another trial (or of another study's trial of that
  // name) is never loaded.
  static std::string checkpoint_owner(const TrialRecord& t) {
    return t.name + " " + t.searched.dump();
  }

  // Trial `t`'s checkpoint `state` as recorded, or "" when it is too large for the study (the
  // trial then trains on without checkpoints, and says so once).
  std::string checkpoint_bytes(const TrialRecord& t, CheckpointState state) {
    state.trial = checkpoint_owner(t);
    std::string bytes = encode_checkpoint(state);
    if (bytes.size() <= options_.max_checkpoint_bytes) return bytes;
    std::lock_guard<std::mutex> lock(mutex_);
    if (too_large_warned_.insert(t.index).second) {
      const auto size = [](size_t b) {
        return b >= 1000000 ? fmt::format("{:.0f} MB", b / 1e6) : fmt::format("{} bytes", b);
      };
      log_warning(fmt::format(
          "trial {}: its checkpoint of {} is larger than the {} a study records in one value; "
          "it trains on without checkpoints (run again, it starts from epoch 1)",
          t.name, size(bytes.size()), size(options_.max_checkpoint_bytes)));
    }
    return "";
  }

  // A benchmark function has no state: its checkpoint records how far the trial got.
  CheckpointState function_state(int epoch) const {
    CheckpointState s;
    s.epoch = epoch;
    s.model = "function:" + config_.benchmark.function;
    return s;
  }

  // Where a trial run again continues: its checkpoint and the evaluations recorded up to it.
  struct Resume {
    CheckpointState state;
    std::vector<json> history;
  };

  // The checkpoint trial `t` can continue from, or nothing (none, or one that is damaged or
  // made for other settings: then the trial runs again from its first epoch, and says why).
  std::optional<Resume> usable_checkpoint(const TrialRecord& t) {
    if (store_ == nullptr) return std::nullopt;
    const std::optional<std::string> bytes = store_->load_checkpoint(t.index);
    if (!bytes) return std::nullopt;
    std::string why;
    CheckpointState state;
    try {
      state = decode_checkpoint(*bytes);
      if (config_.benchmark.active()) {
        const CheckpointState expected = function_state(state.epoch);
        if (state.model != expected.model || state.epoch >= config_.benchmark.epochs) {
          why = fmt::format("it is of '{}' epoch {}; the trial evaluates '{}' for {} epochs",
                            state.model, state.epoch, expected.model, config_.benchmark.epochs);
        }
      } else {
        why = Trainer::checkpoint_mismatch(state, params_[t.index], data_);
      }
      if (why.empty() && state.trial != checkpoint_owner(t)) {
        why = fmt::format("it was made for trial '{}', not '{}'", state.trial, checkpoint_owner(t));
      }
    } catch (const std::exception& e) {  // damaged beyond what decoding checks: never fatal
      why = e.what();
    }
    if (why.empty()) {
      // Its evaluations up to the checkpoint must all be recorded (they are written together).
      std::vector<json> kept = recorded_history(t.index, state.epoch);
      if (static_cast<int>(kept.size()) == state.epoch) {
        return Resume{std::move(state), std::move(kept)};
      }
      why = fmt::format("{} of its {} evaluations are recorded", kept.size(), state.epoch);
    }
    log_warning(
        fmt::format("trial {}: its checkpoint cannot be used ({}); training it again from "
                    "epoch 1",
                    t.name, why));
    return std::nullopt;
  }

  // Trial `index`'s recorded evaluations of epochs 1..epochs, in order, as far as they go.
  std::vector<json> recorded_history(uint64_t index, int epochs) {
    std::vector<json> kept;
    for (TrialRecord& r : store_->load_trials()) {
      if (r.index != index) continue;
      for (json& entry : r.history) {
        const int epoch = static_cast<int>(kept.size()) + 1;
        // load_trials checked each entry's form (checked_evaluation); a gap ends what is kept.
        if (epoch > epochs || entry["metrics"].value("epoch", 0) != epoch) break;
        kept.push_back(std::move(entry));
      }
    }
    return kept;
  }

  // Trial `t` continues after the checkpoint's epoch: its evaluations up to there are its
  // history again (ranked, and seen by the scheduler as when they were first recorded).
  void continue_from(Resume& resume, TrialRecord& t) {
    log_info(fmt::format("trial {}: continuing from its checkpoint of epoch {}", t.name,
                         resume.state.epoch));
    for (json& entry : resume.history) {
      const json metrics = entry["metrics"];
      std::vector<ObjectiveValue> objective = evaluate_objective(config_.objective, metrics);
      t.history.push_back(std::move(entry));
      t.metrics = metrics;
      t.epochs_done = static_cast<int>(t.history.size());
      rank(t, objective);
    }
    size_t fed = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      TrialRecord& live = trials_[t.index];
      live.history = t.history;
      live.metrics = t.metrics;
      live.epochs_done = t.epochs_done;
      fed = fed_[t.index];  // a worker may have seen them from another worker's records
      fed_[t.index] = std::max(fed, t.history.size());
    }
    replay_evaluations(t, std::min(fed, t.history.size()));
  }

  // A NaN or infinite loss or objective fails the trial: it must never become "best".
  // "nan" whatever the sign bit, "inf" / "-inf".
  static std::string number_text(double v) { return std::isnan(v) ? "nan" : fmt::format("{}", v); }

  static std::string non_finite_reason(const Evaluation& e, const std::vector<double>& values,
                                       int epoch) {
    if (!std::isfinite(e.train_loss)) {
      return fmt::format("train loss is {} in epoch {} (diverged; learning rate too high?)",
                         number_text(e.train_loss), epoch);
    }
    if (!std::isfinite(e.eval_loss)) {
      return fmt::format("eval_loss is {} after epoch {}", number_text(e.eval_loss), epoch);
    }
    for (double v : values) {
      if (!std::isfinite(v)) {
        return fmt::format("objective is {} after epoch {}", number_text(v), epoch);
      }
    }
    return "";
  }

  // Keeps the evaluation the trial is ranked by: the last, or the best so far.
  void rank(TrialRecord& t, std::vector<ObjectiveValue>& objective) {
    const int last = static_cast<int>(t.history.size()) - 1;
    const bool take = config_.objective_scope == ObjectiveScope::kLast || t.ranked_evaluation < 0 ||
                      better(objective[0].value, t.objective[0], objective[0].direction);
    if (!take) return;
    t.ranked_evaluation = last;
    t.objective = values_of(objective);
    t.explanation = std::move(objective);
    std::lock_guard<std::mutex> lock(mutex_);
    trials_[t.index].objective = t.objective;
    ranked_epoch_[t.index] = t.history[last].value("metrics", json::object()).value("epoch", 0);
  }

  bool stopping() const {
    return store_failed_.load() || (options_.stop != nullptr && options_.stop->load() != 0);
  }

  // Worker mode: the heartbeat of this process's running trials, until run() is done.
  void beat() {
    const auto interval = std::chrono::duration<double>(heartbeat_timeout_s_ / 4);
    std::unique_lock<std::mutex> lock(mutex_);
    while (!wake_.wait_for(lock, interval, [this] { return done_; })) {
      lock.unlock();
      try {
        store_->heartbeat();
      } catch (const StoreError& e) {
        fail_store(e.what());
      }
      lock.lock();
    }
  }

  void report(int slots, Clock::time_point t0) {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      const bool final = done_;
      const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
      // What the table shows, without the histories: copied under the lock every interval,
      // so its cost must not grow with the number of epochs.
      std::vector<TrialRecord> copy(trials_.size());
      for (size_t i = 0; i < trials_.size(); ++i) {
        const TrialRecord& t = trials_[i];
        TrialRecord& c = copy[i];
        c.index = t.index;
        c.name = t.name;
        c.status = t.status;
        c.searched = t.searched;
        c.location = t.location;
        c.objective = t.objective;
        c.epochs_done = t.epochs_done;
        // Of the histories, the epoch of the evaluation ranked (the "best at epoch" column):
        // a finished trial's from its history, a running one's as rank() noted it.
        json epoch;
        if (t.ranked_evaluation >= 0 &&
            static_cast<size_t>(t.ranked_evaluation) < t.history.size()) {
          epoch = t.history[t.ranked_evaluation]
                      .value("metrics", json::object())
                      .value("epoch", json());
        } else if (ranked_epoch_[i] > 0) {
          epoch = ranked_epoch_[i];
        }
        if (!epoch.is_null()) {
          c.history = {{{"metrics", {{"epoch", epoch}}}}};
          c.ranked_evaluation = 0;
        }
      }
      const int busy = busy_;
      lock.unlock();
      options_.on_progress(ProgressView{copy, slots, busy, elapsed, backend_description_}, final);
      lock.lock();
      if (final) return;
      wake_.wait_for(lock, std::chrono::duration<double>(options_.progress_interval_s),
                     [this] { return done_; });
    }
  }

  const SweepConfig& config_;
  const RunOptions& options_;
  Backend& backend_;
  const std::string backend_description_;
  DataView data_;
  ResultsWriter* writer_;
  StudyStore* store_;  // null when no study is recorded

  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<TrialRecord> trials_;
  // The epoch of each running trial's ranked evaluation (trials_ holds no histories until a
  // trial ends), for the live table's "best at epoch"; 0 for none. Under mutex_.
  std::vector<int> ranked_epoch_;
  std::vector<TrialParams> params_;      // per trial
  std::vector<bool> kept_;               // finished in an earlier run of the study: not run again
  std::vector<bool> fixed_;              // values recorded by an earlier run: not suggested again
  std::vector<bool> local_;              // worker mode: claimed by this process
  std::vector<bool> rerun_;              // started before: may continue from a checkpoint
  std::set<uint64_t> too_large_warned_;  // trials told their checkpoint is too large
  std::vector<size_t> fed_;              // evaluations of the trial the scheduler has seen
  double heartbeat_timeout_s_ = 0;       // > 0: worker mode
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<Sampler> sampler_;
  std::vector<Direction> directions_;
  int slots_ = 1;
  size_t next_suggestion_ = 0;               // the next trial to be suggested (history samplers)
  std::condition_variable suggested_cv_;     // a suggestion made or a trial finished
  std::vector<std::vector<size_t>> groups_;  // trial indices trained together, in run order
  std::atomic<uint64_t> next_{0};
  std::atomic<int> slots_started_{0};
  std::string slot_error_;
  std::string store_error_;  // the first storage failure; the sweep stops
  std::atomic<bool> store_failed_{false};
  int busy_ = 0;
  uint64_t groups_done_ = 0;  // groups run_group has finished (under mutex_)
  bool done_ = false;
  bool record_progress_ = false;  // record_progress_as
  std::string progress_backend_;
  double earlier_wall_s_ = 0;
  Clock::time_point t0_, last_progress_;
  std::mutex progress_mutex_;
};

}  // namespace

const char* trial_status_name(TrialStatus s) {
  switch (s) {
    case TrialStatus::kPending:
      return "PENDING";
    case TrialStatus::kRunning:
      return "RUNNING";
    case TrialStatus::kTerminated:
      return "TERMINATED";
    case TrialStatus::kError:
      return "ERROR";
    case TrialStatus::kInterrupted:
      return "INTERRUPTED";
    case TrialStatus::kPruned:
      return "PRUNED";
  }
  return "?";
}

bool SweepResult::any_completed() const {
  return std::any_of(trials.begin(), trials.end(), [](const TrialRecord& t) {
    return t.status == TrialStatus::kTerminated || t.status == TrialStatus::kPruned;
  });
}

namespace {

// The directions of the objectives and their warnings, found before any training (a metric
// that is never computed, an uninferable direction).
SweepResult probe_objective(const SweepConfig& config) {
  SweepResult result;
  result.name = config.name;
  const std::vector<ObjectiveValue> probe =
      evaluate_objective(config.objective, config.metric_template());
  for (const ObjectiveValue& v : probe) {
    result.directions.push_back(v.direction);
    for (const std::string& w : v.warnings) {
      log_warning(w);
      result.warnings.push_back(w);
    }
  }
  return result;
}

// The data and the backend of a sweep, ready before its study is touched.
struct Prepared {
  DataSplit loaded;
  const DataSplit* given = nullptr;  // options.data (tests), else `loaded`
  std::unique_ptr<Backend> backend;
  const DataSplit& data() const { return given != nullptr ? *given : loaded; }
};

std::unique_ptr<Prepared> prepare(const SweepConfig& config, const RunOptions& options) {
  auto p = std::make_unique<Prepared>();
  if (config.benchmark.active()) {
    p->backend = make_cpu_backend();  // no data and no device: trials evaluate a function
    return p;
  }
  p->given = options.data;
  if (p->given == nullptr) p->loaded = load_data(config.data);
  p->backend = options.backend.empty() ? make_backend(config.backend, config.path + ": backend")
                                       : make_backend(options.backend);
  return p;
}

// Runs the sweep on `study` (its store may be null: nothing recorded) with `prepared`'s data
// and backend. `worker`: as one worker of a shared study; the result is then the whole study.
SweepResult execute(const SweepConfig& config, const RunOptions& options, OpenedStudy study,
                    SweepResult result, bool worker, Prepared& prepared) {
  const DataSplit* data = &prepared.data();
  Backend* backend = prepared.backend.get();
  result.backend = config.benchmark.active()
                       ? "host (benchmark function " + config.benchmark.function + ")"
                       : backend->description();
  const DataView view = backend->share_data(*data);
  if (!config.benchmark.active()) {
    log_info(fmt::format(
        "{}: {} trials, up to {} at once on {}; train {}x{}, eval {}, {} classes", config.name,
        config.n_trials, std::min(config.max_concurrent_trials, config.n_trials), result.backend,
        data->train.rows, data->train.cols, data->eval.rows, data->train.num_classes));
  }

  // A worker writes the whole study's result files when it is done (other workers record the
  // trials), so nothing is streamed to trials.jsonl meanwhile.
  std::unique_ptr<ResultsWriter> writer;
  if (!options.out_dir.empty() && !worker) {
    const bool continuing = !study.recorded.empty() && study.forked == 0;
    writer = std::make_unique<ResultsWriter>(options.out_dir, config, continuing);
  }
  SweepRun run(config, options, *backend, view, writer.get(), study.store.get(), study.tag,
               std::move(study.recorded), result.directions);
  if (worker) run.as_worker(options.heartbeat_timeout_s);
  run.record_progress_as(result.backend, study.earlier_wall_s);
  result.forked_trials = study.forked;
  result.resumed_trials = run.kept() - study.forked;
  if (run.kept() > 0) {
    log_info(fmt::format("{}: {}: {} finished trials kept, {} to run", study.store->where(),
                         study.forked > 0 ? "forked" : "resuming", run.kept(),
                         config.n_trials - static_cast<int>(run.kept())));
  }
  result.trials = run.run(&result.wall_s);
  // A worker's time overlaps the others': the study's own sum is kept as the runs made it.
  result.study_wall_s = study.earlier_wall_s + (worker ? 0 : result.wall_s);
  if (worker) {
    StudyInfo info;
    study.store->load_study(&info);
    SweepResult whole = study_result(config, info, study.store->load_trials());
    result.trials = std::move(whole.trials);
  }
  result.best =
      select_best(result.trials, result.directions, config.scheduler.best_includes_pruned);
  result.interrupted =
      options.stop != nullptr && options.stop->load() != 0 &&
      std::any_of(result.trials.begin(), result.trials.end(), [](const TrialRecord& t) {
        return t.status == TrialStatus::kPending || t.status == TrialStatus::kInterrupted ||
               t.status == TrialStatus::kRunning;
      });
  if (study.store) {
    study.store->record_summary({{"backend", result.backend},
                                 {"wall_s", result.wall_s},
                                 {"study_wall_s", result.study_wall_s},
                                 {"warnings", result.warnings}});
  }
  if (worker && !options.out_dir.empty()) {
    writer = std::make_unique<ResultsWriter>(options.out_dir, config);
  }
  if (writer) writer->finish(result);
  return result;
}

// checkpoint_every that no trial reaches (checkpoints are never taken after the last epoch) is
// most likely a mistake: say so, as no checkpoint will ever be recorded.
void warn_if_no_checkpoint_is_due(const SweepConfig& config) {
  if (config.checkpoint_every <= 0) return;
  if (config.benchmark.active()) {
    log_warning(
        fmt::format("{}: checkpoint_every has nothing to keep: benchmark_function trials "
                    "train no model, and a stopped one evaluates again from its first "
                    "epoch",
                    config.path));
    return;
  }
  // The most epochs a trial can train: the base value, or the largest the search can draw.
  int epochs = make_trial_params(config.model, config.training, json::object()).num_train_epochs;
  for (const ParamSpec& p : config.search_space.params()) {
    if (p.name != "num_train_epochs") continue;
    if (p.values.empty()) {
      epochs = static_cast<int>(p.high);
      continue;
    }
    epochs = 0;
    for (const json& v : p.values)
      epochs = std::max(epochs, static_cast<int>(v.get<double>()));
  }
  if (config.checkpoint_every < epochs) return;
  log_warning(fmt::format(
      "{}: checkpoint_every is {} but trials train at most {} epochs, and none is taken after the "
      "last: no checkpoint will be recorded",
      config.path, config.checkpoint_every, epochs));
}

}  // namespace

SweepResult run_sweep(const SweepConfig& config, const RunOptions& options) {
  SweepResult result = probe_objective(config);
  OpenedStudy study;
  study.tag = sweep_tag(config);
  // A refused fork leaves nothing behind, not even the output folder.
  std::optional<ForkedTrials> fork = plan_fork(config, options);
  warn_if_no_checkpoint_is_due(config);
  // (A study kept elsewhere, --storage, writes its results here and guards them itself.)
  if (!options.out_dir.empty() && options.storage.empty() &&
      options.existing_study != ExistingStudy::kOverwrite) {
    refuse_unrecorded_results(options.out_dir);
  }
  if (!options.out_dir.empty() && !options.storage.empty()) refuse_local_study_in(options.out_dir);
  const OutputFootprint footprint(options.out_dir);
  if (!options.out_dir.empty()) ResultsWriter::check_folder(options.out_dir);
  const bool shared = !options.storage.empty();
  std::unique_ptr<Prepared> prepared;
  if (shared || (!options.out_dir.empty() && options.record_study)) {
    try {
      study = open_study(config, options, std::move(fork), [&] {
        prepared = prepare(config, options);
        return config.benchmark.active() ? std::string() : data_digest(prepared->data());
      });
    } catch (...) {
      footprint.take_back();  // a refused run (its data, its backend) leaves nothing behind
      throw;
    }
  } else {
    prepared = prepare(config, options);
  }
  if (shared) {
    study.store->set_worker(make_worker_id());
    log_info(fmt::format("{}: running as a worker; others may join with cusweep worker",
                         study.store->where()));
  }
  return execute(config, options, std::move(study), std::move(result), shared, *prepared);
}

SweepResult join_study(const RunOptions& options) {
  OpenedStudy study;
  if (options.storage.empty()) {
    if (options.out_dir.empty()) {
      throw UserError("cusweep worker: no study given", "--storage URL --study NAME, or --out DIR");
    }
    const std::string path = study_path(options.out_dir);
    if (!std::filesystem::exists(path)) {
      throw UserError(fmt::format("{}: no study here ({} is missing)", options.out_dir, path),
                      "cusweep run CONFIG --out DIR records one");
    }
  } else if (options.study.empty()) {
    throw UserError("cusweep worker --storage: no --study NAME given",
                    "the study's name is the config's \"name\" unless run with --study");
  }
  if (options.storage.empty()) {
    study.lock = std::make_unique<StudyFolderLock>(options.out_dir, false);
  }
  study.store = open_store(options, options.study);
  StudyInfo info;
  if (!study.store->load_study(&info)) {
    throw UserError(
        fmt::format("{}: no such study{}", study.store->where(),
                    options.storage.empty() ? "" : postgres_studies_there(options.storage)),
        "cusweep run CONFIG --storage URL creates one");
  }
  if (options.storage.empty() && !options.study.empty() && options.study != info.name) {
    throw UserError(fmt::format("--study '{}': {} holds the study '{}'", options.study,
                                study.store->where(), info.name));
  }
  SweepConfig config = read_study(*study.store).config;
  if (options.max_concurrent_trials > 0)
    config.max_concurrent_trials = options.max_concurrent_trials;
  study.tag = info.tag;
  study.recorded = study.store->load_trials();
  study.earlier_wall_s = recorded_study_wall_s(info);
  restore_explanations(config, study.recorded);
  if (!options.out_dir.empty()) ResultsWriter::check_folder(options.out_dir);
  const std::string worker = make_worker_id();
  study.store->set_worker(worker);
  log_info(fmt::format("{}: worker {} joins ({} trials)", study.store->where(), worker,
                       config.n_trials));
  const std::unique_ptr<Prepared> prepared = prepare(config, options);
  // Workers on other hosts read their own copies of the data files: the same values, or none.
  const json& recorded_data =
      info.fingerprint.is_object() ? info.fingerprint.value("data", json()) : json();
  if (!config.benchmark.active() && recorded_data.is_object() &&
      recorded_data.contains("content")) {
    const std::string here = data_digest(prepared->data());
    if (recorded_data["content"] != here) {
      throw UserError(fmt::format("{}: this worker's data is not the study's: the study trained "
                                  "on {}; the files here hold {}",
                                  study.store->where(), recorded_data["content"].dump(), here),
                      "give every worker the same data files, at the paths of the study's config");
    }
  }
  return execute(config, options, std::move(study), probe_objective(config), true, *prepared);
}

}  // namespace cusweep
