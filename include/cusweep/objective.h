// The objective: how a dict of evaluation metrics (HF names: eval_loss, eval_accuracy, ...)
// becomes the number(s) a sweep ranks trials by. See README "The objective" for the rules.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cusweep {

enum class Direction { kMinimize, kMaximize };

const char* direction_name(Direction d);

// One weighted metric of an objective.
struct ObjectiveTerm {
  std::string metric;  // e.g. "eval_accuracy"
  double weight = 1.0;
};

// One objective. `use_default_rule` means transformers' default_compute_objective
// (extended as cusweep documents); otherwise the weighted sum of `terms`.
struct ObjectiveDef {
  bool use_default_rule = true;
  std::vector<ObjectiveTerm> terms;
  std::optional<Direction> direction;  // as given by the user; empty = infer
};

// What the user asked for: one objective or several (Pareto).
struct ObjectiveSpec {
  std::vector<ObjectiveDef> objectives;  // size >= 1
};

// Parses an objective spec string as used on the command line:
//   "default" | "eval_accuracy" | "eval_accuracy+0.5*eval_f1" | "eval_f1,eval_loss" (several)
// and a direction string "minimize" | "maximize" | "maximize,minimize" (one per objective).
// Metric names without the "eval_" prefix get it ("accuracy" -> "eval_accuracy").
ObjectiveSpec parse_objective_spec(const std::string& objective, const std::string& direction);

// Parses the config form: `objective` is absent/null, "default", a metric name, an object
// {metric: weight}, or a list of those (several objectives); `direction` is absent, a string,
// or a list with one entry per objective. Errors name `key_path`.
ObjectiveSpec parse_objective_json(const nlohmann::json* objective, const nlohmann::json* direction,
                                   const std::string& key_path = "");

// A key of the metrics dict that was not summed, and why.
struct DroppedMetric {
  std::string key;
  std::string reason;  // e.g. "speed metric (HF drops keys ending _runtime)"
};

// The evaluation of one objective on one metrics dict.
struct ObjectiveValue {
  double value = 0;
  Direction direction = Direction::kMinimize;
  bool direction_inferred = false;
  std::vector<ObjectiveTerm> terms;    // what was summed (with weights)
  std::vector<DroppedMetric> dropped;  // what was left out (default rule) or not requested
  std::vector<std::string> warnings;   // contradicting direction, missing metrics, ...
  std::string rule;                    // one line: how the value was formed
};

// Evaluates every objective of `spec` on `metrics` (a JSON object). Throws UserError when a
// requested metric is missing or not a number, or when a direction cannot be inferred and
// none was given.
std::vector<ObjectiveValue> evaluate_objective(const ObjectiveSpec& spec,
                                               const nlohmann::json& metrics);

// Direction a single metric is optimized in, or nullopt when the name says nothing.
std::optional<Direction> metric_direction(const std::string& metric);

// The JSON explanation of one value: {"objective", "direction", "direction_inferred",
// "terms": [{"metric","weight","value"}], "dropped": [{"key","reason"}], "warnings", "rule"}.
nlohmann::json explain_json(const ObjectiveValue& value, const nlohmann::json& metrics);

// Human-readable multi-line explanation ("eval_accuracy 0.9 + eval_f1 0.8 = 1.7 ...").
std::string explain_text(const ObjectiveValue& value, const nlohmann::json& metrics,
                         bool with_warnings = true);

// True when a is at least as good as b in every objective and strictly better in one.
bool dominates(const std::vector<double>& a, const std::vector<double>& b,
               const std::vector<Direction>& directions);

// Indices of the non-dominated points (the Pareto front), in input order.
std::vector<size_t> pareto_front(const std::vector<std::vector<double>>& points,
                                 const std::vector<Direction>& directions);

// Non-domination rank of each point, all objectives minimized: 0 for the Pareto front, 1 for
// the front of what is left, and so on (the sort NSGA-II and multi-objective TPE use). Stops
// once at least `enough` points are ranked: the others all get the next rank.
std::vector<int> nondomination_ranks(const std::vector<std::vector<double>>& points,
                                     size_t enough = SIZE_MAX);

// NSGA-II's crowding distance of each of `points` (all minimized) within its own set: the sum
// over objectives of the normalized gap between its neighbours; the extremes get infinity.
std::vector<double> crowding_distances(const std::vector<std::vector<double>>& points);

// The area dominated by `points` (two objectives, both minimized) and bounded by `reference`;
// points that do not dominate the reference add nothing.
double hypervolume_2d(std::vector<std::vector<double>> points,
                      const std::vector<double>& reference);

// True when `a` is better than `b` under `d` (strictly).
inline bool better(double a, double b, Direction d) {
  return d == Direction::kMaximize ? a > b : a < b;
}

}  // namespace cusweep

namespace cusweep {

// `cusweep objective [FILE|-] [--objective SPEC] [--direction D] [--json]`: reads a JSON object
// of metrics from `path` ("-" = `in`), evaluates the objective(s) and prints the value(s) and
// how they were formed to `out` (as JSON with `json`). Returns the exit status: 0, or 2 after
// printing the UserError for bad input (unreadable file, bad JSON, missing metric, ...).
int run_objective_command(const std::string& path, const std::string& objective,
                          const std::string& direction, bool json, std::istream& in,
                          std::ostream& out, std::ostream& err);

}  // namespace cusweep
