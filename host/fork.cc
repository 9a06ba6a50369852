#include "fork.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <regex>

#include <fmt/format.h>

#include "cusweep/error.h"
#include "cusweep/log.h"
#include "cusweep/objective.h"
#include "cusweep/search_space.h"

namespace cusweep {
namespace {

using nlohmann::json;

std::string show(const json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

// The value trial `t` (of `source`) had for parameter `name`: the one searched, else the one
// it trained with (for depth and widths, read off its hidden_sizes). Nothing when it had none.
std::optional<json> value_of(const TrialRecord& t, const std::string& name, bool benchmark) {
  if (t.searched.contains(name)) return t.searched[name];
  if (benchmark) return std::nullopt;
  const json& sizes = t.params.contains("hidden_sizes") ? t.params["hidden_sizes"] : json();
  if (name == "num_hidden_layers") {
    return json(sizes.is_array() ? sizes.size() : 0);
  }
  static const std::regex width(R"(hidden_size_([1-8]))");
  std::smatch m;
  if (std::regex_match(name, m, width)) {
    const size_t layer = std::stoul(m[1]) - 1;
    if (sizes.is_array() && layer < sizes.size()) return sizes[layer];
    return std::nullopt;
  }
  if (t.params.contains(name)) return t.params[name];
  return std::nullopt;
}

// The first setting in which `had` (what the trial trained with) and `gives` (what the config
// makes of its values) differ, as "NAME was A; the config gives B".
std::string first_difference(const json& had, const json& gives) {
  for (const auto& [key, value] : had.items()) {
    if (!gives.contains(key))
      return fmt::format("{} was {}; the config has none", key, show(value));
    if (gives[key] != value) {
      return fmt::format("{} was {}; the config gives {}", key, show(value), show(gives[key]));
    }
  }
  for (const auto& [key, value] : gives.items()) {
    if (!had.contains(key))
      return fmt::format("{} was not set; the config gives {}", key, show(value));
  }
  return "";
}

struct Carried {
  json searched;
  std::string why_not;  // empty when the trial is one of the config's
};

// Trial `t`'s values in `config`'s search space, or why it is not a trial of `config`.
Carried values_in(const SweepConfig& config, const TrialRecord& t) {
  const bool benchmark = config.benchmark.active();
  Carried c{json::object(), ""};
  for (const ParamSpec& p : config.search_space.params()) {
    const std::optional<json> v = value_of(t, p.name, benchmark);
    if (v) c.searched[p.name] = *v;
  }
  config.search_space.drop_inactive(c.searched);
  for (const ParamSpec& p : config.search_space.params()) {
    if (!condition_holds(p, c.searched)) continue;
    if (!c.searched.contains(p.name)) {
      c.why_not = fmt::format("it has no value for {}", p.name);
      return c;
    }
    if (!in_domain(p, c.searched[p.name])) {
      c.why_not = fmt::format("its {} {} is outside the search space ({})", p.name,
                              show(c.searched[p.name]), describe_domain(p));
      return c;
    }
  }
  json gives;
  try {
    gives = benchmark ? c.searched
                      : make_trial_params(config.model, config.training, c.searched).to_json();
  } catch (const UserError& e) {
    c.why_not = e.what();
    return c;
  }
  c.why_not = first_difference(t.params, gives);
  return c;
}

// `metrics` without the eval_ metrics `config` does not compute.
json keep_metrics(const SweepConfig& config, const SweepConfig& source, json metrics) {
  for (const std::string& m : source.metrics) {
    if (std::find(config.metrics.begin(), config.metrics.end(), m) == config.metrics.end()) {
      metrics.erase("eval_" + m);
    }
  }
  return metrics;
}

// Copies `t`'s evaluations into `f` with the metrics `config` computes and the objective it
// makes of them, ranked as the runner ranks evaluations (the last, or the best by the first
// objective). False when an objective is not finite: such a trial would have failed.
bool carry_history(const SweepConfig& config, const SweepConfig& source, const TrialRecord& t,
                   TrialRecord* f) {
  const size_t n_objectives = config.objective.objectives.size();
  for (const json& entry : t.history) {
    json e = entry;
    e["metrics"] = keep_metrics(config, source, entry["metrics"]);
    const std::vector<ObjectiveValue> objective =
        evaluate_objective(config.objective, e["metrics"]);
    std::vector<double> values;
    for (const ObjectiveValue& o : objective) {
      if (!std::isfinite(o.value)) return false;
      values.push_back(o.value);
    }
    e["objective"] = n_objectives == 1 ? json(values[0]) : json(values);
    if (config.objective_scope == ObjectiveScope::kLast || f->ranked_evaluation < 0 ||
        better(values[0], f->objective[0], objective[0].direction)) {
      f->ranked_evaluation = static_cast<int>(f->history.size());
      f->objective = values;
    }
    f->metrics = e["metrics"];
    f->history.push_back(std::move(e));
  }
  return true;
}

// What must agree for recorded metrics to be what `config` measures: the data or benchmark
// function, the metric averaging, and every metric `config` computes. A line per difference.
std::vector<std::string> measurement_changes(const SweepConfig& source, const SweepConfig& config) {
  const json was = study_fingerprint(source), now = study_fingerprint(config);
  json a, b;
  for (const char* key : {"data", "benchmark_function", "average"}) {
    if (was.contains(key)) a[key] = was[key];
    if (now.contains(key)) b[key] = now[key];
  }
  std::vector<std::string> changes = fingerprint_changes(a, b);
  for (const std::string& m : config.metrics) {
    if (std::find(source.metrics.begin(), source.metrics.end(), m) == source.metrics.end()) {
      changes.push_back(fmt::format("metric {} is computed now, not recorded there", m));
    }
  }
  return changes;
}

}  // namespace

ForkedTrials fork_trials(const SweepConfig& config, const std::string& tag, StudyStore& source) {
  const std::string where = source.where();
  StudyInfo info;
  if (!source.load_study(&info)) {
    throw UserError(fmt::format("--fork {}: no study recorded there", where),
                    "--fork names the output folder (or, with --storage, the study) of an "
                    "earlier sweep");
  }
  SweepConfig recorded;
  try {
    const QuietWarnings quiet;  // said when that study ran
    recorded = parse_sweep_config(info.config, info.config_path, info.base_dir);
  } catch (const UserError& e) {
    throw UserError(
        fmt::format("--fork {}: its recorded config of {}: {}", where, info.config_path, e.what()),
        e.hint());
  }
  const std::vector<std::string> changes = measurement_changes(recorded, config);
  if (!changes.empty()) {
    std::string list;
    for (const std::string& c : changes)
      list += "\n  " + c;
    throw UserError(
        fmt::format("--fork {}: its trials measured something else than this config:{}", where,
                    list),
        "a fork keeps trials whose results this config would reproduce (same data, benchmark "
        "function, metrics and averaging); otherwise start a new study without --fork");
  }

  ForkedTrials out;
  out.source = where;
  if (info.fingerprint.is_object() && info.fingerprint.contains("data") &&
      info.fingerprint["data"].is_object()) {
    const json content = info.fingerprint["data"].value("content", json());
    if (content.is_string()) out.data_content = content.get<std::string>();
  }
  const std::vector<TrialRecord> trials = source.load_trials();
  std::map<std::string, size_t> left;  // reason kind -> count
  std::string example;
  for (const TrialRecord& t : trials) {
    if (t.status == TrialStatus::kError) {
      ++left["ERROR"];
      continue;
    }
    if (!is_final(t.status)) {
      ++left["not finished"];
      continue;
    }
    Carried c = values_in(config, t);
    if (!c.why_not.empty()) {
      if (left["not trials of this config"]++ == 0) example = t.name + ": " + c.why_not;
      continue;
    }
    TrialRecord f;
    f.index = out.trials.size();
    f.name = trial_name(config.name, tag, f.index);
    f.status = t.status;
    f.searched = std::move(c.searched);
    f.params = t.params;
    f.location = "fork:" + t.name;
    f.confusion = t.confusion;
    f.runtime_s = t.runtime_s;
    bool finite = false;
    try {
      finite = carry_history(config, recorded, t, &f);
    } catch (const UserError& e) {  // a damaged record: say where it is
      throw UserError(fmt::format("--fork {}: trial {}: {}", where, t.name, e.what()), e.hint());
    }
    if (!finite) {
      ++left["objective not finite"];
      continue;
    }
    f.epochs_done = static_cast<int>(f.history.size());
    out.trials.push_back(std::move(f));
  }
  if (out.trials.size() > static_cast<size_t>(config.n_trials)) {
    throw UserError(fmt::format("{}: n_trials is {}, but --fork {} carries {} finished trials",
                                config.path, config.n_trials, where, out.trials.size()),
                    fmt::format("set n_trials to at least {}: it counts the carried trials too",
                                out.trials.size()));
  }
  out.summary = fmt::format("forked from {}: carried {} of its {} trials", where, out.trials.size(),
                            trials.size());
  std::string parts;
  for (const auto& [kind, count] : left)
    parts += fmt::format("{}{} {}", parts.empty() ? "" : ", ", count, kind);
  if (!parts.empty()) out.summary += "; left out: " + parts;
  if (!example.empty()) out.summary += " (e.g. " + example + ")";
  return out;
}

}  // namespace cusweep
