// What every study store shares: the fingerprint that guards a resume, its differences in
// words, and the objective explanations rebuilt from recorded metrics.
#include "study_store.h"

#include <filesystem>

#include <fmt/format.h>

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

}  // namespace

std::string trial_name(const std::string& sweep, const std::string& tag, uint64_t index) {
  return fmt::format("{}_{}_{:05d}", sweep, tag, index);
}

std::string study_path(const std::string& out_dir) {
  return (std::filesystem::path(out_dir) / "study.db").string();
}

json study_fingerprint(const SweepConfig& config) {
  json f = {{"name", config.name}};  // in every trial name
  for (const char* key :
       {"search_space", "objective", "direction", "objective_scope", "metrics", "average",
        "sampler", "seed", "model", "training", "data", "benchmark_function"}) {
    if (config.source.contains(key)) f[key] = config.source[key];
  }
  return f;
}

std::vector<std::string> fingerprint_changes(const json& recorded, const json& now) {
  std::vector<std::string> changes;
  diff(recorded, now, "", changes);
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
  const std::unique_ptr<StudyStore> store = open_sqlite_study(path);
  StudyInfo info;
  if (!store->load_study(&info)) throw UserError(fmt::format("{}: no study recorded yet", path));
  StudySnapshot s;
  try {
    s.config = parse_sweep_config(info.config, info.config_path, info.base_dir);
  } catch (const UserError& e) {
    throw UserError(
        fmt::format("{}: the recorded config of {}: {}", path, info.config_path, e.what()),
        e.hint());
  }
  SweepResult& r = s.result;
  r.name = info.name;
  std::vector<TrialRecord> recorded = store->load_trials();
  restore_explanations(s.config, recorded);
  const size_t n = std::max(static_cast<size_t>(s.config.n_trials),
                            recorded.empty() ? 0 : recorded.back().index + 1);
  r.trials.resize(n);
  for (size_t i = 0; i < n; ++i) {  // the trials no run has started yet are PENDING
    r.trials[i].index = i;
    r.trials[i].name = trial_name(info.name, info.tag, i);
  }
  for (TrialRecord& t : recorded)
    r.trials[t.index] = std::move(t);
  for (const ObjectiveValue& v : evaluate_objective(s.config.objective, s.config.metric_template()))
    r.directions.push_back(v.direction);
  r.best = select_best(r.trials, r.directions, s.config.scheduler.best_includes_pruned);
  const json& summary = info.summary.is_object() ? info.summary : json::object();
  r.backend = summary.value("backend", "");
  r.wall_s = summary.value("wall_s", 0.0);
  r.warnings = summary.value("warnings", std::vector<std::string>());
  r.interrupted = std::any_of(r.trials.begin(), r.trials.end(),
                              [](const TrialRecord& t) { return !is_final(t.status); });
  return s;
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

TrialStatus parse_trial_status(const std::string& name, const std::string& origin) {
  for (TrialStatus s : {TrialStatus::kPending, TrialStatus::kRunning, TrialStatus::kTerminated,
                        TrialStatus::kError, TrialStatus::kInterrupted, TrialStatus::kPruned}) {
    if (name == trial_status_name(s)) return s;
  }
  throw UserError(fmt::format("{}: unknown trial status '{}'", origin, name));
}

}  // namespace cusweep
