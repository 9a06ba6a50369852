// `cusweep objective`: evaluates the objective on one metrics dict (a file or stdin) and
// explains it, so a user can check what a sweep would rank trials by before running one.
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "cusweep/error.h"
#include "cusweep/objective.h"
#include "json_util.h"

namespace cusweep {
namespace {

using nlohmann::json;

std::string read_metrics_text(const std::string& path, std::istream& in) {
  if (path.empty() || path == "-") return read_json_source(in, "<stdin>");
  // An ifstream opens a folder and then reads nothing, which would surface as "invalid JSON".
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw UserError(path + " is a folder, not a file",
                    "give a JSON file of metrics, or '-' to read standard input");
  }
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    throw UserError("cannot read metrics file '" + path + "': " + std::strerror(errno),
                    "give a JSON file of metrics, or '-' to read standard input");
  }
  return read_json_source(file, path);
}

// `origin` is the path or "<stdin>": syntax errors read "origin:line:column: invalid JSON".
json parse_metrics(const std::string& text, const std::string& origin, const std::string& source) {
  json metrics;
  try {
    metrics = parse_json_text(text, origin);
  } catch (const UserError& e) {
    if (!e.hint().empty()) throw;
    throw UserError(e.what(),
                    "the metrics must be one JSON object, e.g. {\"eval_loss\": 0.4, "
                    "\"eval_accuracy\": 0.9}; NaN and Infinity are not JSON");
  }
  if (!metrics.is_object()) {
    throw UserError(
        source + ": expected a JSON object of metrics, got " + std::string(metrics.type_name()),
        "e.g. {\"eval_loss\": 0.4, \"eval_accuracy\": 0.9}");
  }
  return metrics;
}

void print_result(const std::vector<ObjectiveValue>& values, const json& metrics, bool as_json,
                  std::ostream& out) {
  if (as_json && values.size() == 1) {
    out << explain_json(values[0], metrics).dump(2) << "\n";
    return;
  }
  if (as_json) {
    json result = {
        {"objective", json::array()}, {"objectives", json::array()}, {"warnings", json::array()}};
    for (const auto& v : values) {
      json one = explain_json(v, metrics);
      result["objective"].push_back(one["objective"]);
      result["objectives"].push_back(one);
      for (const auto& w : v.warnings)
        result["warnings"].push_back(w);
    }
    out << result.dump(2) << "\n";
    return;
  }
  for (size_t i = 0; i < values.size(); ++i) {
    if (values.size() > 1) out << (i > 0 ? "\n" : "") << "objective[" << i << "]\n";
    out << explain_text(values[i], metrics, false);  // the warnings went to `err`
  }
}

}  // namespace

int run_objective_command(const std::string& path, const std::string& objective,
                          const std::string& direction, bool json, std::istream& in,
                          std::ostream& out, std::ostream& err) {
  const bool from_stdin = path.empty() || path == "-";
  const std::string origin = from_stdin ? std::string("<stdin>") : path;
  const std::string source = from_stdin ? origin : "metrics file '" + path + "'";
  try {
    // The spec first: a typo in --objective is reported even when the file is also wrong.
    const ObjectiveSpec spec = parse_objective_spec(objective, direction);
    const nlohmann::json metrics = parse_metrics(read_metrics_text(path, in), origin, source);
    const std::vector<ObjectiveValue> values = evaluate_objective(spec, metrics);
    for (const auto& v : values) {
      for (const auto& w : v.warnings)
        err << "warning: " << w << "\n";
    }
    print_result(values, metrics, json, out);
    return 0;
  } catch (const UserError& e) {
    err << "error: " << e.what() << "\n";
    if (!e.hint().empty()) err << "hint: " << e.hint() << "\n";
    return 2;
  }
}

}  // namespace cusweep
