// Writing trials.jsonl, results.csv and best.json.
#include "results.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <fmt/format.h>

#include "cusweep/error.h"
#include "json_util.h"

namespace cusweep {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

json objective_json(const std::vector<double>& values) {
  if (values.empty()) return nullptr;
  if (values.size() == 1) return values[0];
  return values;
}

// A cell pandas reads back as what it was: a missing value is empty, and a metric or objective
// that is not a number (a diverged trial's loss) is NaN, inf or -inf, where JSON has only null.
std::string csv_field(const json& v) {
  if (v.is_number_float() && !std::isfinite(v.get<double>())) {
    const double x = v.get<double>();
    return std::isnan(x) ? "NaN" : x > 0 ? "inf" : "-inf";
  }
  std::string s = v.is_string() ? v.get<std::string>() : v.is_null() ? "" : dump_text(v);
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string quoted = "\"";
  for (char c : s)
    quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

// Writes `text` to dir/name through a temporary file and a rename, so readers never see a
// half-written file. The temporary file is this process's own: workers sharing a folder each
// write the whole study's results at the end, and the last rename wins whole.
void write_atomically(const std::string& dir, const std::string& name, const std::string& text) {
  const fs::path final_path = fs::path(dir) / name;
  const fs::path tmp = fs::path(dir) / fmt::format("{}.tmp.{}", name, getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out)
      throw UserError(fmt::format("{}: cannot write: {}", tmp.string(), std::strerror(errno)));
    out << text;
    if (!out.flush()) {
      throw UserError(fmt::format("{}: write failed: {}", tmp.string(), std::strerror(errno)));
    }
  }
  std::error_code ec;
  fs::rename(tmp, final_path, ec);
  if (ec) {
    throw UserError(fmt::format("{}: cannot write: {}", final_path.string(), ec.message()));
  }
}

std::string results_csv(const SweepResult& result) {
  // Columns: every searched parameter as config/<name> (Ray Tune's dataframe naming), then
  // every metric key seen, then the objective(s).
  std::vector<std::string> params, metrics;
  auto add = [](std::vector<std::string>& list, const std::string& k) {
    if (std::find(list.begin(), list.end(), k) == list.end()) list.push_back(k);
  };
  for (const auto& t : result.trials) {
    for (const auto& item : t.searched.items())
      add(params, item.key());
    for (const auto& item : t.metrics.items())
      add(metrics, item.key());
  }
  const size_t n_obj = result.directions.size();

  std::string out = "trial,status,loc";
  for (const auto& p : params)
    out += ",config/" + p;
  for (const auto& m : metrics)
    out += "," + m;
  if (n_obj == 1) {
    out += ",objective";
  } else {
    for (size_t i = 0; i < n_obj; ++i)
      out += fmt::format(",objective_{}", i);
  }
  out += ",error\n";

  for (const auto& t : result.trials) {
    out += csv_field(t.name) + "," + trial_status_name(t.status) + "," + csv_field(t.location);
    for (const auto& p : params)
      out += "," + csv_field(t.searched.value(p, json()));
    for (const auto& m : metrics)
      out += "," + csv_field(t.metrics.value(m, json()));
    for (size_t i = 0; i < n_obj; ++i) {
      out += ",";
      if (i < t.objective.size()) out += csv_field(json(t.objective[i]));
    }
    out += "," + csv_field(json(t.error)) + "\n";
  }
  return out;
}

}  // namespace

std::vector<size_t> select_best(const std::vector<TrialRecord>& trials,
                                const std::vector<Direction>& directions, bool include_pruned) {
  std::vector<size_t> done;
  for (size_t i = 0; i < trials.size(); ++i) {
    const bool eligible = trials[i].status == TrialStatus::kTerminated ||
                          (include_pruned && trials[i].status == TrialStatus::kPruned);
    if (eligible && trials[i].objective.size() == directions.size()) {
      done.push_back(i);
    }
  }
  if (done.empty()) return {};
  if (directions.size() == 1) {
    size_t best = done[0];
    for (size_t i : done) {
      if (better(trials[i].objective[0], trials[best].objective[0], directions[0])) best = i;
    }
    return {best};
  }
  std::vector<std::vector<double>> points;
  for (size_t i : done)
    points.push_back(trials[i].objective);
  std::vector<size_t> front;
  for (size_t k : pareto_front(points, directions))
    front.push_back(done[k]);
  return front;
}

json trial_json(const TrialRecord& t) {
  json explanation = json::array();
  const json& ranked =
      t.ranked_evaluation >= 0 ? t.history[t.ranked_evaluation]["metrics"] : json::object();
  for (const auto& v : t.explanation)
    explanation.push_back(explain_json(v, ranked));
  json j = {{"trial", t.name},
            {"index", t.index},
            {"status", trial_status_name(t.status)},
            {"loc", t.location},
            {"config", t.searched},
            {"params", t.params},
            {"metrics", t.metrics},
            {"objective", objective_json(t.objective)},
            {"ranked_evaluation", t.ranked_evaluation >= 0 ? json(t.ranked_evaluation) : json()},
            {"objective_explanation", explanation},
            {"confusion_matrix", json::array()},
            {"history", t.history},
            {"epochs", t.epochs_done},
            {"runtime_s", t.runtime_s},
            {"error", t.error.empty() ? json() : json(t.error)}};
  // Rows are true classes, columns predicted classes (scikit-learn's confusion_matrix).
  for (int r = 0; r < t.confusion.num_classes; ++r) {
    json row = json::array();
    for (int c = 0; c < t.confusion.num_classes; ++c)
      row.push_back(t.confusion.at(r, c));
    j["confusion_matrix"].push_back(row);
  }
  return j;
}

json best_json(const SweepResult& result, const SweepConfig& config) {
  json directions = json::array();
  for (Direction d : result.directions)
    directions.push_back(direction_name(d));
  json j = {{"sweep", result.name},
            {"objective_scope", objective_scope_name(config.objective_scope)},
            {"directions", directions},
            {"backend", result.backend},
            {"scheduler", config.scheduler.type},
            {"best_includes_pruned", config.scheduler.best_includes_pruned},
            {"wall_s", result.wall_s},
            {"study_wall_s", result.study_wall_s},
            {"warnings", result.warnings}};
  json best = json::array();
  for (size_t i : result.best)
    best.push_back(trial_json(result.trials[i]));
  if (result.directions.size() == 1) {
    j["best_trial"] = best.empty() ? json() : best[0];
  } else {
    j["pareto_front"] = best;
  }
  return j;
}

void ResultsWriter::check_folder(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw UserError(fmt::format("{}: cannot create the folder: {}", dir, ec.message()));
  // Found now, before anything in the folder changes and not after hours of training: a
  // result path taken by a folder, or files this user may not write.
  if (access(dir.c_str(), W_OK) != 0) {
    throw UserError(fmt::format("{}: cannot write in this folder: {}", dir, std::strerror(errno)),
                    "choose another --out");
  }
  for (const char* name :
       {"trials.jsonl", "results.csv", "best.json", "study.db", "study.db-wal"}) {
    const fs::path p = fs::path(dir) / name;
    if (fs::is_directory(p, ec)) {
      throw UserError(fmt::format("{}: is a folder; cusweep writes its results there", p.string()),
                      "remove it or choose another --out");
    }
    if (fs::exists(p, ec) && access(p.c_str(), W_OK) != 0) {
      throw UserError(fmt::format("{}: cannot write: {}", p.string(), std::strerror(errno)),
                      "nothing was changed; fix its permissions or choose another --out");
    }
  }
}

ResultsWriter::ResultsWriter(const std::string& dir, const SweepConfig& config, bool continuing)
    : dir_(dir), config_(config) {
  check_folder(dir);
  // Files of another sweep in this folder are replaced: the stale ones go now, so that the
  // folder never mixes two sweeps.
  if (!continuing) {
    std::error_code ec;
    fs::remove(fs::path(dir) / "results.csv", ec);
    fs::remove(fs::path(dir) / "best.json", ec);
  }
  const std::string path = (fs::path(dir) / "trials.jsonl").string();
  jsonl_ = std::fopen(path.c_str(), "w");
  if (jsonl_ == nullptr) {
    throw UserError(fmt::format("{}: cannot write: {}", path, std::strerror(errno)));
  }
}

ResultsWriter::~ResultsWriter() {
  if (jsonl_ != nullptr) std::fclose(jsonl_);
}

void ResultsWriter::trial_finished(const TrialRecord& t) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string line = dump_text(trial_json(t)) + "\n";
  std::fwrite(line.data(), 1, line.size(), jsonl_);
  std::fflush(jsonl_);
}

void ResultsWriter::finish(const SweepResult& result) {
  std::lock_guard<std::mutex> lock(mutex_);
  // All three made before any is written: a file is replaced only by a whole one.
  std::string jsonl;
  for (const auto& t : result.trials)
    jsonl += dump_text(trial_json(t)) + "\n";
  const std::string csv = results_csv(result);
  const std::string best = dump_text(best_json(result, config_), 2) + "\n";
  std::fclose(jsonl_);
  jsonl_ = nullptr;
  write_atomically(dir_, "trials.jsonl", jsonl);
  write_atomically(dir_, "results.csv", csv);
  write_atomically(dir_, "best.json", best);
}

}  // namespace cusweep
