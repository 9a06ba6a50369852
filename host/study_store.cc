// What every study store shares: the fingerprint that guards a resume, its differences in
// words, and the objective explanations rebuilt from recorded metrics.
#include "study_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <random>

#include <fmt/format.h>

#include "cusweep/dataset.h"
#include "cusweep/log.h"
#include "json_util.h"
#include "results.h"

namespace cusweep {
namespace {

using nlohmann::json;

// More differences than this are summed up in one line: the first ones say what happened.
constexpr size_t kMaxChangesListed = 5;

void diff(const json& recorded, const json& now, const std::string& path,
          std::vector<std::string>& out) {
  if (recorded == now) return;
  if (recorded.is_object() && now.is_object()) {
    for (const auto& item : recorded.items()) {
      const std::string key = path.empty() ? item.key() : path + "." + item.key();
      if (!now.contains(item.key())) {
        out.push_back(fmt::format("{} removed: recorded {}", key, json_excerpt(item.value())));
      } else {
        diff(item.value(), now[item.key()], key, out);
      }
    }
    for (const auto& item : now.items()) {
      if (recorded.contains(item.key())) continue;
      const std::string key = path.empty() ? item.key() : path + "." + item.key();
      out.push_back(fmt::format("{} added: now {}", key, json_excerpt(item.value())));
    }
    return;
  }
  out.push_back(fmt::format("{} changed: recorded {}, now {}", path, json_excerpt(recorded),
                            json_excerpt(now)));
}

// Where the password of scheme://user:password@host/... starts (npos when there is none) and
// its length: between the authority's first ':' and its last '@' (a password may hold an
// unencoded '@'; a host may not).
// The password of scheme://user:password@host...: from the first ':' after the scheme to the
// last '@' before any query, so that a password with '@', ':' or '/' in it (which should be
// percent-encoded, and often is not) is hidden whole rather than cut where it seems to end.
size_t password_span(const std::string& url, size_t* length) {
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos) return std::string::npos;
  const size_t start = scheme + 3;
  const size_t end = std::min(url.find('?', start), url.size());
  const size_t at = end == start ? std::string::npos : url.rfind('@', end - 1);
  if (at == std::string::npos || at < start) return std::string::npos;
  const size_t colon = url.find(':', start);
  if (colon >= at) return std::string::npos;
  *length = at - colon - 1;
  return colon + 1;
}

}  // namespace

std::string trial_name(const std::string& sweep, const std::string& tag, uint64_t index) {
  return fmt::format("{}_{}_{:05d}", sweep, tag, index);
}

StudyFolderLock::StudyFolderLock(const std::string& out_dir, bool exclusive) {
  const std::string path = (std::filesystem::path(out_dir) / "study.lock").string();
  fd_ = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    throw UserError(fmt::format("{}: cannot open: {}", path, std::strerror(errno)),
                    "check the permissions of --out");
  }
  if (flock(fd_, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
    char pid[32] = {};
    const ssize_t n = pread(fd_, pid, sizeof(pid) - 1, 0);
    close(fd_);
    fd_ = -1;
    const std::string holder = n > 0 ? fmt::format(" (pid {})", std::string(pid, n)) : "";
    throw UserError(fmt::format("{}: the study is in use by another cusweep{}", out_dir, holder),
                    exclusive
                        ? "wait for it to finish or stop it (cusweep show DIR shows its progress)"
                        : "a study that cusweep run is running takes no workers; stop it and run "
                          "workers alone");
  }
  // Whoever holds the lock says who it is (the last of several workers); only for messages.
  const std::string pid = std::to_string(getpid());
  [[maybe_unused]] const bool said =
      ftruncate(fd_, 0) == 0 && pwrite(fd_, pid.data(), pid.size(), 0) >= 0;
}

StudyFolderLock::~StudyFolderLock() {
  if (fd_ >= 0) close(fd_);  // releases the flock
}

const char* const kDamagedStudyHint =
    "restore the study from a copy, or start a new one: cusweep run CONFIG --overwrite";

json parse_recorded_json(const std::string& text, const std::string& where) {
  try {
    return json::parse(text);
  } catch (const json::exception&) {
    throw UserError(fmt::format("{}: the study is damaged: a recorded value is not JSON: {}", where,
                                json_excerpt(text)),
                    kDamagedStudyHint);
  }
}

json checked_evaluation(const std::string* text, const std::string& where, const std::string& trial,
                        int64_t epoch) {
  json entry;
  const auto damaged = [&](const std::string& what) {
    return UserError(fmt::format("{}: the study is damaged: trial {}'s evaluation of epoch {} {}: "
                                 "{}",
                                 where, trial, epoch, what, json_excerpt(entry)),
                     kDamagedStudyHint);
  };
  if (text != nullptr) {
    try {
      entry = json::parse(*text);
    } catch (const json::exception&) {
      throw UserError(fmt::format("{}: the study is damaged: trial {}'s evaluation of epoch {} is "
                                  "not JSON: {}",
                                  where, trial, epoch, json_excerpt(*text)),
                      kDamagedStudyHint);
    }
  }
  if (!entry.is_object()) throw damaged("is not a JSON object");
  const auto metrics = entry.find("metrics");
  if (metrics == entry.end() || !metrics->is_object()) throw damaged("has no metrics object");
  for (auto& [name, value] : metrics->items()) {
    if (!value.is_number() && !value.is_null()) throw damaged("has a metric that is no number");
    // JSON writes NaN as null: read back, it is the NaN the trial measured (results.csv says
    // NaN, not an empty cell for a metric it lacks).
    if (value.is_null()) value = std::nan("");
  }
  const auto e = metrics->find("epoch");  // written by the runner; store tests may leave it out
  if (e != metrics->end() && (!e->is_number_integer() || e->get<int64_t>() != epoch)) {
    throw damaged("does not say it is of that epoch");
  }
  const auto objective = entry.find("objective");
  if (objective != entry.end()) {
    bool numbers = objective->is_number() || objective->is_null() || objective->is_array();
    if (objective->is_array()) {
      for (const json& v : *objective)
        numbers = numbers && (v.is_number() || v.is_null());
    }
    if (!numbers) throw damaged("has an objective that is no number");
  }
  return entry;
}

namespace {

UserError damaged_trial(const std::string& where, const std::string& trial, const std::string& what,
                        const json& value) {
  return UserError(fmt::format("{}: the study is damaged: trial {}'s {}: {}", where, trial, what,
                               json_excerpt(value)),
                   kDamagedStudyHint);
}

bool is_int_in(const json& v, int64_t low, int64_t high) {
  return v.is_number_integer() && v.get<int64_t>() >= low && v.get<int64_t>() <= high;
}

}  // namespace

void set_recorded_fields(TrialRecord& t, const json& searched, const json& params,
                         const json& objective, const json& confusion, const std::string& where) {
  if (!searched.is_object())
    throw damaged_trial(where, t.name, "searched values are no object", searched);
  if (!params.is_object()) throw damaged_trial(where, t.name, "parameters are no object", params);
  t.searched = searched;
  t.params = params;
  if (!objective.is_null()) {
    const bool numbers =
        objective.is_array() && std::all_of(objective.begin(), objective.end(), [](const json& v) {
          return v.is_number() || v.is_null();  // null: NaN, which JSON cannot write
        });
    if (!numbers) throw damaged_trial(where, t.name, "objective is no list of numbers", objective);
    for (const json& v : objective)
      t.objective.push_back(v.is_null() ? std::nan("") : v.get<double>());
  }
  if (!confusion.is_null()) {
    const auto n = confusion.is_object() ? confusion.find("num_classes") : confusion.end();
    const auto counts = confusion.is_object() ? confusion.find("counts") : confusion.end();
    bool ok = n != confusion.end() && is_int_in(*n, 0, kMaxClasses) && counts != confusion.end() &&
              counts->is_array();
    if (ok) {
      const int64_t classes = n->get<int64_t>();
      ok = counts->size() == static_cast<size_t>(classes * classes) &&
           std::all_of(counts->begin(), counts->end(),
                       [](const json& v) { return is_int_in(v, 0, INT64_MAX); });
    }
    if (!ok) {
      throw damaged_trial(
          where, t.name,
          "confusion matrix is not an object of num_classes and num_classes^2 counts", confusion);
    }
    t.confusion.num_classes = confusion["num_classes"].get<int>();
    t.confusion.counts = confusion["counts"].get<std::vector<int64_t>>();
  }
}

void check_recorded_trials(std::vector<TrialRecord>& trials, const std::string& where) {
  for (TrialRecord& t : trials) {
    if (is_final(t.status)) {
      for (size_t e = 0; e < t.history.size(); ++e) {
        const json& epoch = t.history[e]["metrics"].value("epoch", json(e + 1));
        if (epoch != json(e + 1)) {
          throw UserError(fmt::format("{}: the study is damaged: finished trial {} has no "
                                      "evaluation of epoch {} (the next is of epoch {})",
                                      where, t.name, e + 1, epoch.dump()),
                          kDamagedStudyHint);
        }
      }
    }
    const bool ranked_known =
        t.ranked_evaluation >= -1 && t.ranked_evaluation < static_cast<int>(t.history.size());
    if (!ranked_known && !is_final(t.status)) {
      // A trial that runs again, as another process restarts it, ranks by nothing yet.
      t.ranked_evaluation = -1;
      t.objective.clear();
      continue;
    }
    if (!ranked_known) {
      throw UserError(fmt::format("{}: the study is damaged: trial {} is ranked by evaluation {} "
                                  "(0-based) of the {} recorded",
                                  where, t.name, t.ranked_evaluation, t.history.size()),
                      kDamagedStudyHint);
    }
  }
}

void refuse_local_study_in(const std::string& out_dir) {
  std::error_code ec;
  const std::string path = study_path(out_dir);
  if (!std::filesystem::exists(path, ec) || std::filesystem::file_size(path, ec) == 0) return;
  throw UserError(fmt::format("{}: holds a study of its own ({}); the shared study's result files "
                              "would replace its files",
                              out_dir, path),
                  "nothing was changed; write them to another folder (--out with cusweep run; "
                  "cusweep show --storage writes to runs/NAME under the current folder)");
}

std::string study_path(const std::string& out_dir) {
  return (std::filesystem::path(out_dir) / "study.db").string();
}

namespace {

// A data path as a fingerprint compares it: absolute (a relative path is read from the working
// folder), links resolved as far as the path exists, "dir/" and "a/../dir" as "dir", so that one
// file named from two folders, relative and absolute, or through a link, is one setting.
std::string normal_path(const std::string& p) {
  if (p.empty()) return p;
  std::error_code ec;
  std::filesystem::path n = std::filesystem::absolute(p, ec);
  if (ec) n = p;
  const std::filesystem::path resolved = std::filesystem::weakly_canonical(n, ec);
  if (!ec) n = resolved;
  n = n.lexically_normal();
  if (!n.has_filename() && n.has_parent_path() && n != n.root_path()) n = n.parent_path();
  return n.string();
}

json data_fingerprint(const DataConfig& d) {
  return {{"format", d.format},
          {"dir", normal_path(d.dir)},
          {"train_images", normal_path(d.train_images)},
          {"train_labels", normal_path(d.train_labels)},
          {"eval_images", normal_path(d.eval_images)},
          {"eval_labels", normal_path(d.eval_labels)},
          {"train", normal_path(d.train)},
          {"eval", normal_path(d.eval)},
          {"eval_fraction", d.eval_fraction},
          {"header", d.header},
          {"label_column", d.label_column},
          {"scaling", scaling_name(d.scaling)},
          {"max_train_samples", d.max_train_samples},
          {"max_eval_samples", d.max_eval_samples},
          {"num_classes", d.num_classes},
          {"split_seed", d.split_seed}};
}

}  // namespace

json study_fingerprint(const SweepConfig& config) {
  // Built from the parsed config, defaults filled in: restating a default, reordering metrics
  // or writing "dir/" for "dir" changes nothing a trial depends on, so it is no change.
  json f = {{"name", config.name}};  // in every trial name
  f["search_space"] = config.source.value("search_space", json::object());
  // Each objective by its number, with the direction it has (given or inferred).
  const std::vector<ObjectiveValue> probe =
      evaluate_objective(config.objective, config.metric_template());
  for (size_t i = 0; i < config.objective.objectives.size(); ++i) {
    const ObjectiveDef& o = config.objective.objectives[i];
    json d = {{"direction", direction_name(probe[i].direction)}};
    if (o.use_default_rule) d["rule"] = "default";
    for (const ObjectiveTerm& t : o.terms)
      d["terms"][t.metric] = t.weight;
    f["objective"][std::to_string(i + 1)] = d;
  }
  f["objective_scope"] = objective_scope_name(config.objective_scope);
  std::vector<std::string> metrics = config.metrics;
  std::sort(metrics.begin(), metrics.end());
  f["metrics"] = metrics;
  f["average"] = average_name(config.average);
  f["sampler"] = {{"type", config.sampler.type}};
  if (config.sampler.type == "tpe") {
    f["sampler"]["n_startup_trials"] = config.sampler.n_startup_trials;
    f["sampler"]["n_ei_candidates"] = config.sampler.n_ei_candidates;
  }
  f["seed"] = config.seed;
  if (config.benchmark.active()) {
    f["benchmark_function"] = {{"function", config.benchmark.function},
                               {"noise", config.benchmark.noise},
                               {"epochs", config.benchmark.epochs}};
    return f;
  }
  // The base model and training values, except those every trial's search overrides.
  json base = make_trial_params(config.model, config.training, json::object()).to_json();
  for (const ParamSpec& p : config.search_space.params()) {
    if (p.when_param.empty()) base.erase(p.name);
  }
  f["model_and_training"] = base;
  f["data"] = data_fingerprint(config.data);
  return f;
}

std::vector<std::string> fingerprint_changes(const json& recorded, const json& now) {
  // Studies recorded before data paths were made absolute hold them as they were written,
  // relative to the folder the sweep ran in: a resume from there names the same files.
  json was = recorded;
  if (was.contains("data") && was["data"].is_object()) {
    for (const char* key :
         {"dir", "train_images", "train_labels", "eval_images", "eval_labels", "train", "eval"}) {
      const auto it = was["data"].find(key);
      if (it != was["data"].end() && it->is_string()) *it = normal_path(it->get<std::string>());
    }
  }
  // Studies recorded before the data's contents were fingerprinted compare their settings only.
  json is = now;
  if (is.contains("data") && is["data"].is_object() &&
      !(was.contains("data") && was["data"].is_object() && was["data"].contains("content"))) {
    is["data"].erase("content");
  }
  std::vector<std::string> changes;
  diff(was, is, "", changes);
  if (changes.size() > kMaxChangesListed) {
    const size_t more = changes.size() - kMaxChangesListed;
    changes.resize(kMaxChangesListed);
    changes.push_back(fmt::format("and {} more", more));
  }
  return changes;
}

StudySnapshot read_study(const std::string& out_dir) {
  const std::string path = study_path(out_dir);
  if (!std::filesystem::exists(path)) {
    throw UserError(fmt::format("{}: no study here ({} is missing)", out_dir, path),
                    "cusweep run CONFIG --out DIR records one");
  }
  return read_study(*open_sqlite_study(path, true));
}

StudySnapshot read_study(StudyStore& store) {
  StudyInfo info;
  if (!store.load_study(&info)) {
    throw UserError(fmt::format("{}: no study recorded yet", store.where()));
  }
  StudySnapshot s;
  try {
    const QuietWarnings quiet;  // said when the study ran
    s.config = parse_sweep_config(info.config, info.config_path, info.base_dir);
  } catch (const UserError& e) {
    throw UserError(
        fmt::format("{}: the recorded config of {}: {}", store.where(), info.config_path, e.what()),
        e.hint());
  }
  std::vector<TrialRecord> trials = store.load_trials();
  check_recorded_objectives(trials, s.config, store.where());
  s.result = study_result(s.config, info, std::move(trials));
  return s;
}

void check_recorded_objectives(const std::vector<TrialRecord>& trials, const SweepConfig& config,
                               const std::string& where) {
  const size_t count = config.objective.objectives.size();
  for (const TrialRecord& t : trials) {
    const bool wrong_count = !t.objective.empty() && t.objective.size() != count;
    if (wrong_count || (t.status == TrialStatus::kTerminated && t.objective.empty())) {
      throw UserError(fmt::format("{}: the study is damaged: {} trial {} records {} objective "
                                  "values; the study has {} objective{}",
                                  where, trial_status_name(t.status), t.name, t.objective.size(),
                                  count, count == 1 ? "" : "s"),
                      kDamagedStudyHint);
    }
  }
}

SweepResult study_result(const SweepConfig& config, const StudyInfo& info,
                         std::vector<TrialRecord> recorded) {
  SweepResult r;
  r.name = info.name;
  restore_explanations(config, recorded);
  const size_t n = std::max(static_cast<size_t>(config.n_trials),
                            recorded.empty() ? 0 : recorded.back().index + 1);
  r.trials.resize(n);
  for (size_t i = 0; i < n; ++i) {  // the trials no run has started yet are PENDING
    r.trials[i].index = i;
    r.trials[i].name = trial_name(info.name, info.tag, i);
  }
  for (TrialRecord& t : recorded) {
    // A trial still running (or stopped) shows the objective of its last evaluation, as the
    // live table did; finished ones have theirs recorded.
    if (!is_final(t.status) && t.objective.empty() && !t.history.empty()) {
      const json& last = t.history.back().value("objective", json());
      if (last.is_number()) t.objective = {last.get<double>()};
      if (last.is_array()) t.objective = last.get<std::vector<double>>();
    }
    r.trials[t.index] = std::move(t);
  }
  for (const ObjectiveValue& v : evaluate_objective(config.objective, config.metric_template()))
    r.directions.push_back(v.direction);
  r.best = select_best(r.trials, r.directions, config.scheduler.best_includes_pruned);
  const json& summary = info.summary.is_object() ? info.summary : json::object();
  r.backend = summary.value("backend", "");
  r.wall_s = summary.value("wall_s", 0.0);
  r.study_wall_s = summary.value("study_wall_s", r.wall_s);
  r.warnings = summary.value("warnings", std::vector<std::string>());
  r.interrupted = std::any_of(r.trials.begin(), r.trials.end(),
                              [](const TrialRecord& t) { return !is_final(t.status); });
  return r;
}

bool is_postgres_url(const std::string& url) {
  return url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
}

void check_storage_url(const std::string& url, const std::string& origin) {
  if (is_postgres_url(url)) return;
  const size_t scheme = url.find("://");
  throw UserError(
      fmt::format("{} '{}': {}; allowed: postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE "
                  "(or postgres://...)",
                  origin, redact_url(url),
                  scheme == std::string::npos
                      ? std::string("not a URL")
                      : fmt::format("unknown scheme '{}'", url.substr(0, scheme))),
      "without --storage the study is study.db in the --out folder (SQLite)");
}

std::string url_password(const std::string& url) {
  size_t length = 0;
  const size_t start = password_span(url, &length);
  return start == std::string::npos ? "" : url.substr(start, length);
}

std::string redact_url(const std::string& url) {
  std::string out = url;
  size_t length = 0;
  const size_t start = password_span(out, &length);
  if (start != std::string::npos) out.replace(start, length, "***");
  // ...?password=secret&... and key=value strings (password=secret host=...).
  for (size_t p = out.find("password="); p != std::string::npos; p = out.find("password=", p + 1)) {
    const size_t value = p + 9;
    const size_t end = std::min(out.find_first_of(" &", value), out.size());
    out.replace(value, end - value, "***");
  }
  return out;
}

TrialClaim choose_claim(const std::vector<ClaimCandidate>& open, uint64_t next_new, int n_trials,
                        double heartbeat_timeout_s) {
  const auto n = static_cast<uint64_t>(std::max(n_trials, 0));
  TrialClaim claim;
  bool any_alive = false;
  for (const ClaimCandidate& t : open) {
    if (t.index >= n || is_final(t.status)) continue;
    if (t.status == TrialStatus::kRunning && t.heartbeat_age_s < heartbeat_timeout_s) {
      any_alive = true;
      continue;
    }
    claim.kind = TrialClaim::kTrial;
    claim.index = t.index;
    claim.handed_over = t.status == TrialStatus::kRunning;
    return claim;
  }
  if (next_new < n) {
    claim.kind = TrialClaim::kTrial;
    claim.index = next_new;
    return claim;
  }
  claim.kind = any_alive ? TrialClaim::kWait : TrialClaim::kDone;
  return claim;
}

std::string open_trials_sql(const std::string& trials, const std::string& study,
                            const std::string& age) {
  return fmt::format(
      "SELECT number, status, coalesce({age}, 1e300) FROM {trials} WHERE {study}"
      "status NOT IN ('TERMINATED', 'ERROR', 'PRUNED') ORDER BY number",
      fmt::arg("age", age), fmt::arg("trials", trials), fmt::arg("study", study));
}

std::string next_new_trial_sql(const std::string& trials, const std::string& study,
                               const std::string& hint) {
  // Numbers are claimed lowest first, but two slots of a plain run may commit out of order
  // before a kill -9, so a gap is possible: the answer is the hint when it is free, else the
  // first number after a present one (from the hint on) whose successor is missing. With no
  // gap that is one index lookup.
  return fmt::format(
      "SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM {trials} WHERE {study}number = {hint}) "
      "THEN {hint} ELSE (SELECT min(t.number) + 1 FROM {trials} t WHERE {t_study}"
      "t.number >= {hint} AND NOT EXISTS (SELECT 1 FROM {trials} u WHERE {u_study}"
      "u.number = t.number + 1)) END",
      fmt::arg("trials", trials), fmt::arg("study", study), fmt::arg("hint", hint),
      fmt::arg("t_study", study.empty() ? "" : "t." + study),
      fmt::arg("u_study", study.empty() ? "" : "u.study = t.study AND "));
}

std::string make_worker_id() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "host");
  std::random_device random;
  return fmt::format("{}:{}:{:04x}", host, getpid(), random() & 0xffff);
}

void restore_explanations(const SweepConfig& config, std::vector<TrialRecord>& trials) {
  for (TrialRecord& t : trials) {
    if (t.ranked_evaluation < 0 || t.ranked_evaluation >= static_cast<int>(t.history.size())) {
      continue;
    }
    t.explanation = evaluate_objective(config.objective, t.history[t.ranked_evaluation]["metrics"]);
  }
}

bool is_final(TrialStatus status) {
  return status == TrialStatus::kTerminated || status == TrialStatus::kError ||
         status == TrialStatus::kPruned;
}

TrialStatus parse_trial_status(const std::string& name, const std::string& origin,
                               const std::string& trial) {
  std::string allowed;
  for (TrialStatus s : {TrialStatus::kPending, TrialStatus::kRunning, TrialStatus::kTerminated,
                        TrialStatus::kError, TrialStatus::kInterrupted, TrialStatus::kPruned}) {
    if (name == trial_status_name(s)) return s;
    allowed += (allowed.empty() ? "" : ", ") + std::string(trial_status_name(s));
  }
  throw UserError(fmt::format("{}: the study is damaged: {} status '{}' is not one of {}", origin,
                              trial.empty() ? "a trial's" : "trial " + trial + "'s", name, allowed),
                  kDamagedStudyHint);
}

}  // namespace cusweep
