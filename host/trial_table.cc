// Rendering of the trial table and the final report.
#include "trial_table.h"

#include <algorithm>
#include <ctime>
#include <map>

#include <fmt/format.h>

#include "json_util.h"

namespace cusweep {
namespace {

using nlohmann::json;

std::string hms(double seconds) {
  const int s = static_cast<int>(seconds);
  return fmt::format("{:02d}:{:02d}:{:05.2f}", s / 3600, (s / 60) % 60, seconds - 60.0 * (s / 60));
}

std::string now_string() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", std::localtime(&t));
  return buf;
}

std::string format_objective(const std::vector<double>& values) {
  if (values.empty()) return "";
  std::string out;
  for (double v : values)
    out += (out.empty() ? "" : " / ") + format_value(json(v));
  return out;
}

// A text table with '|' separators and a rule under the header.
std::string draw(const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t c = 0; c < header.size(); ++c)
    width[c] = header[c].size();
  for (const auto& r : rows) {
    for (size_t c = 0; c < r.size(); ++c)
      width[c] = std::max(width[c], r[c].size());
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string s = "|";
    for (size_t c = 0; c < cells.size(); ++c)
      s += fmt::format(" {:<{}} |", cells[c], width[c]);
    return s + "\n";
  };
  std::string rule = "+";
  for (size_t w : width)
    rule += std::string(w + 2, '-') + "+";
  rule += "\n";
  std::string out = rule + line(header) + rule;
  for (const auto& r : rows)
    out += line(r);
  return out + rule;
}

}  // namespace

std::string format_value(const json& v) {
  if (v.is_number_float()) {
    const double d = v.get<double>();
    return fmt::format("{:.4g}", d);
  }
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return "";
  return dump_text(v);
}

TrialTable::TrialTable(const SweepConfig& config, std::vector<Direction> directions,
                       std::string objective)
    : config_(config), directions_(std::move(directions)), objective_(std::move(objective)) {
  scheduler_ =
      make_scheduler(config.scheduler, directions_[static_cast<size_t>(config.scheduler.prune_on)],
                     config.max_epochs())
          ->describe();
  for (const ParamSpec& p : config.search_space.params())
    params_.push_back(p.name);
}

std::vector<size_t> TrialTable::rows_to_show(const std::vector<TrialRecord>& trials,
                                             size_t max_rows) const {
  std::vector<size_t> order(trials.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  if (trials.size() <= max_rows) return order;

  // Running first, then finished best-first (by the first objective), errors, pending.
  auto rank = [&](const TrialRecord& t) {
    switch (t.status) {
      case TrialStatus::kRunning:
        return 0;
      case TrialStatus::kTerminated:
        return 1;
      case TrialStatus::kPruned:
      case TrialStatus::kError:
      case TrialStatus::kInterrupted:
        return 2;
      case TrialStatus::kPending:
        return 3;
    }
    return 4;
  };
  // With several objectives the Pareto front comes first, then the next front, and so on.
  std::vector<int> front(trials.size(), 0);
  if (directions_.size() > 1) {
    std::vector<size_t> finished;
    std::vector<std::vector<double>> losses;
    for (size_t i = 0; i < trials.size(); ++i) {
      if (trials[i].status != TrialStatus::kTerminated ||
          trials[i].objective.size() != directions_.size()) {
        continue;
      }
      finished.push_back(i);
      losses.emplace_back();
      for (size_t k = 0; k < directions_.size(); ++k) {
        const double v = trials[i].objective[k];
        losses.back().push_back(directions_[k] == Direction::kMinimize ? v : -v);
      }
    }
    const std::vector<int> ranks = nondomination_ranks(losses, max_rows);
    for (size_t k = 0; k < finished.size(); ++k)
      front[finished[k]] = ranks[k];
  }
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const TrialRecord& x = trials[a];
    const TrialRecord& y = trials[b];
    if (rank(x) != rank(y)) return rank(x) < rank(y);
    if (front[a] != front[b]) return front[a] < front[b];
    if (x.status == TrialStatus::kTerminated && !x.objective.empty() && !y.objective.empty()) {
      return better(x.objective[0], y.objective[0], directions_[0]);
    }
    return a < b;
  });
  order.resize(max_rows);
  return order;
}

namespace {

// The epoch of the evaluation a trial's objective comes from, as its metrics recorded it.
std::string ranked_epoch(const TrialRecord& t) {
  if (t.ranked_evaluation < 0 || static_cast<size_t>(t.ranked_evaluation) >= t.history.size())
    return "";
  const json& epoch =
      t.history[t.ranked_evaluation].value("metrics", json::object()).value("epoch", json());
  return epoch.is_number() ? format_value(epoch) : "";
}

}  // namespace

std::string TrialTable::render(const ProgressView& view, size_t max_rows) const {
  std::map<std::string, int> counts;
  for (const auto& t : view.trials)
    ++counts[trial_status_name(t.status)];
  std::string count_text;
  for (const char* s : {"RUNNING", "TERMINATED", "PRUNED", "ERROR", "INTERRUPTED", "PENDING"}) {
    if (counts[s] > 0)
      count_text += fmt::format("{}{} {}", count_text.empty() ? "" : ", ", counts[s], s);
  }

  std::string out = "== Status ==\n";
  if (view.recorded) {
    out += fmt::format("Recorded study (its last run: {})\n", hms(view.elapsed_s));
    out += fmt::format("Backend: {}\n", view.backend);
  } else {
    out += fmt::format("Current time: {} (running for {})\n", now_string(), hms(view.elapsed_s));
    out += view.slots_total == 0 ? fmt::format("Backend: {} | nothing left to run\n", view.backend)
                                 : fmt::format("Backend: {} | slots: {}/{} busy\n", view.backend,
                                               view.slots_busy, view.slots_total);
  }
  out += "Objective: " + objective_ + "\n";
  if (config_.scheduler.type != "fifo") out += "Scheduler: " + scheduler_ + "\n";
  out += fmt::format("Number of trials: {} ({})\n", view.trials.size(), count_text);

  std::vector<std::string> header = {"Trial name", "status", "loc"};
  header.insert(header.end(), params_.begin(), params_.end());
  header.push_back("epoch");
  // Under the best scope the objective can come from an earlier evaluation than the last: the
  // table says which, so "epoch" and "objective" are not read as one pair.
  const bool best_scope = config_.objective_scope == ObjectiveScope::kBest;
  if (best_scope) header.push_back("best at epoch");
  header.push_back("objective");
  std::vector<std::vector<std::string>> rows;
  const std::vector<size_t> shown = rows_to_show(view.trials, max_rows);
  for (size_t i : shown) {
    const TrialRecord& t = view.trials[i];
    std::vector<std::string> row = {t.name, trial_status_name(t.status), t.location};
    for (const auto& p : params_)
      row.push_back(format_value(t.searched.value(p, json())));
    row.push_back(t.epochs_done > 0 ? std::to_string(t.epochs_done) : "");
    if (best_scope) row.push_back(ranked_epoch(t));
    row.push_back(format_objective(t.objective));
    rows.push_back(std::move(row));
  }
  out += draw(header, rows);
  if (shown.size() < view.trials.size()) {
    std::map<std::string, int> hidden = counts;
    for (size_t i : shown)
      --hidden[trial_status_name(view.trials[i].status)];
    std::string rest;
    for (const auto& [status, n] : hidden) {
      if (n > 0) rest += fmt::format("{}{} {}", rest.empty() ? "" : ", ", n, status);
    }
    out +=
        fmt::format("... {} more trials not shown ({})\n", view.trials.size() - shown.size(), rest);
  }
  return out;
}

std::string objective_summary(const std::vector<ObjectiveValue>& probe, ObjectiveScope scope) {
  std::string out;
  for (size_t i = 0; i < probe.size(); ++i) {
    const ObjectiveValue& v = probe[i];
    std::string terms;
    for (const auto& t : v.terms) {
      const std::string w = t.weight == 1.0 ? "" : fmt::format("{:g}*", t.weight);
      terms += (terms.empty() ? "" : " + ") + w + t.metric;
    }
    const bool default_rule = v.rule.rfind("default", 0) == 0;
    out +=
        fmt::format("{}{}{}, {} ({})", i ? "; " : "", terms, default_rule ? " (default rule)" : "",
                    direction_name(v.direction), v.direction_inferred ? "inferred" : "given");
  }
  return out +
         fmt::format(", {} evaluation counts", scope == ObjectiveScope::kLast ? "last" : "best");
}

std::string final_report(const SweepResult& result, const SweepConfig& config) {
  std::string out;
  if (result.best.empty()) {
    std::map<std::string, int> counts;
    for (const auto& t : result.trials)
      ++counts[trial_status_name(t.status)];
    std::string text;
    for (const auto& [status, n] : counts) {
      text += fmt::format("{}{} {}", text.empty() ? "" : ", ", n, status);
    }
    const bool errors = counts.count("ERROR") > 0;
    return fmt::format("No trial is eligible as the best ({}){}.\n", text,
                       errors ? "; see the error column of results.csv" : "");
  }
  const bool pareto = result.directions.size() > 1;
  out += pareto ? fmt::format("Pareto front: {} trial(s)\n", result.best.size())
                : std::string("Best trial:\n");
  for (size_t i : result.best) {
    const TrialRecord& t = result.trials[i];
    out += fmt::format("  {}  objective {}  (evaluation {} of {}, {} scope)\n", t.name,
                       format_objective(t.objective), t.ranked_evaluation + 1, t.history.size(),
                       objective_scope_name(config.objective_scope));
    out += "  hyperparameters: " + dump_text(t.searched) + "\n";
    const json& metrics = t.history[t.ranked_evaluation]["metrics"];
    for (const ObjectiveValue& v : t.explanation) {
      std::string text = explain_text(v, metrics);
      std::string indented;
      size_t start = 0;
      while (start < text.size()) {
        const size_t end = text.find('\n', start);
        indented += "    " + text.substr(start, end - start) + "\n";
        if (end == std::string::npos) break;
        start = end + 1;
      }
      out += indented;
    }
  }
  for (const std::string& w : result.warnings)
    out += "warning: " + w + "\n";
  return out;
}

}  // namespace cusweep
