// FIFO, ASHA and median-stopping schedulers.
#include "cusweep/scheduler.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "cusweep/error.h"
#include "json_util.h"

namespace cusweep {
namespace {

using nlohmann::json;

// "Better" as a sortable key: larger is better whatever the direction.
double score(double value, Direction d) {
  return d == Direction::kMaximize ? value : -value;
}

class FifoScheduler final : public Scheduler {
 public:
  bool should_continue(uint64_t, int, double) override { return true; }
  std::string describe() const override { return "fifo (no early stopping)"; }
};

// Asynchronous successive halving: at each rung a trial goes on only if its result is in the
// top 1/reduction_factor of the results recorded at that rung so far. The first trials to reach
// a rung see few results and go on (there is nothing yet to be worse than), as in the paper.
class AshaScheduler final : public Scheduler {
 public:
  AshaScheduler(const SchedulerConfig& c, Direction direction, int max_epochs)
      : config_(c),
        direction_(direction),
        rungs_(asha_rungs(c.grace_period, c.reduction_factor, max_epochs)) {}

  bool should_continue(uint64_t, int epoch, double value) override {
    if (std::find(rungs_.begin(), rungs_.end(), epoch) == rungs_.end()) return true;
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<double>& recorded = results_[epoch];
    recorded.push_back(score(value, direction_));
    if (!std::isfinite(value)) return false;
    const size_t keep = recorded.size() / static_cast<size_t>(config_.reduction_factor);
    if (keep == 0) return true;
    // The cutoff is the keep-th best score recorded at this rung.
    std::vector<double> sorted = recorded;
    std::nth_element(sorted.begin(), sorted.begin() + (keep - 1), sorted.end(),
                     std::greater<double>());
    return score(value, direction_) >= sorted[keep - 1];
  }

  std::string describe() const override {
    std::string rungs;
    for (int r : rungs_)
      rungs += (rungs.empty() ? "" : ", ") + std::to_string(r);
    return fmt::format("asha (rungs at epochs {}; keeps the top 1/{} at each)", rungs,
                       config_.reduction_factor);
  }

 private:
  SchedulerConfig config_;
  Direction direction_;
  std::vector<int> rungs_;
  std::mutex mutex_;
  std::map<int, std::vector<double>> results_;  // rung epoch -> scores recorded there
};

// Hyperband's brackets run asynchronously (as Ray Tune's AsyncHyperBand): bracket b is an ASHA
// whose first rung is grace_period * reduction_factor^b, so some trials are judged early and
// others only late; trial i goes to bracket i mod the number of brackets, so the assignment
// never depends on timing.
class HyperbandScheduler final : public Scheduler {
 public:
  HyperbandScheduler(const SchedulerConfig& c, Direction direction, int max_epochs) : config_(c) {
    for (int grace = c.grace_period; grace < max_epochs; grace *= c.reduction_factor) {
      SchedulerConfig bracket = c;
      bracket.grace_period = grace;
      brackets_.push_back(std::make_unique<AshaScheduler>(bracket, direction, max_epochs));
      graces_.push_back(grace);
    }
    if (brackets_.empty()) {
      brackets_.push_back(std::make_unique<AshaScheduler>(c, direction, max_epochs));
      graces_.push_back(c.grace_period);
    }
  }

  bool should_continue(uint64_t trial, int epoch, double value) override {
    return brackets_[trial % brackets_.size()]->should_continue(trial, epoch, value);
  }

  std::string describe() const override {
    std::string graces;
    for (int g : graces_)
      graces += (graces.empty() ? "" : ", ") + std::to_string(g);
    return fmt::format(
        "hyperband ({} asynchronous brackets, first rungs at epochs {}; keeps the "
        "top 1/{} at each rung)",
        brackets_.size(), graces, config_.reduction_factor);
  }

 private:
  SchedulerConfig config_;
  std::vector<std::unique_ptr<AshaScheduler>> brackets_;
  std::vector<int> graces_;
};

// Median stopping: past the grace period, a trial whose best result so far is worse than the
// median of the other trials' results at the same epoch is pruned.
class MedianScheduler final : public Scheduler {
 public:
  MedianScheduler(const SchedulerConfig& c, Direction direction)
      : config_(c), direction_(direction) {}

  bool should_continue(uint64_t trial, int epoch, double value) override {
    std::lock_guard<std::mutex> lock(mutex_);
    double& best = best_[trial];
    best = best_seen_[trial] ? std::max(best, score(value, direction_)) : score(value, direction_);
    best_seen_[trial] = true;
    std::vector<double>& at_epoch = results_[epoch];
    const std::vector<double> others = at_epoch;
    at_epoch.push_back(score(value, direction_));
    if (!std::isfinite(value)) return false;
    // From the end of epoch grace_period on, as ASHA's first rung and Ray's grace period: a
    // grace of num_train_epochs - 1 still leaves one epoch to prune at.
    if (epoch < config_.grace_period || others.size() < static_cast<size_t>(config_.min_samples)) {
      return true;
    }
    std::vector<double> sorted = others;
    std::sort(sorted.begin(), sorted.end());
    const size_t n = sorted.size();
    const double median = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
    return best >= median;
  }

  std::string describe() const override {
    return fmt::format("median stopping (after {} epoch(s), against at least {} other trials)",
                       config_.grace_period, config_.min_samples);
  }

 private:
  SchedulerConfig config_;
  Direction direction_;
  std::mutex mutex_;
  std::map<uint64_t, double> best_;
  std::map<uint64_t, bool> best_seen_;
  std::map<int, std::vector<double>> results_;  // epoch -> scores of the trials reported there
};

}  // namespace

std::vector<int> asha_rungs(int grace_period, int reduction_factor, int max_epochs) {
  std::vector<int> rungs;
  for (int64_t r = grace_period; r < max_epochs; r *= reduction_factor) {
    rungs.push_back(static_cast<int>(r));
  }
  return rungs;
}

SchedulerConfig parse_scheduler_config(const json& j, int max_epochs, size_t n_objectives) {
  SchedulerConfig c;
  const std::vector<std::string> types = {"fifo", "asha", "hyperband", "median"};
  if (j.is_null()) return c;
  const json spec = j.is_string() ? json{{"type", j}} : j;
  if (!spec.is_object()) {
    throw UserError(
        fmt::format("scheduler must be a type name or an object, got {}", json_excerpt(j)));
  }
  check_known_keys(spec,
                   {"type", "grace_period", "reduction_factor", "min_samples", "prune_on",
                    "best_includes_pruned"},
                   "scheduler");
  if (spec.contains("type")) c.type = json_one_of(spec["type"], "scheduler.type", types);
  auto positive = [&](const char* key, int* out, int min) {
    if (spec.contains(key)) {
      *out =
          static_cast<int>(json_int_in(spec[key], std::string("scheduler.") + key, min, 1000000));
    }
  };
  positive("grace_period", &c.grace_period, 1);
  positive("reduction_factor", &c.reduction_factor, 2);
  positive("min_samples", &c.min_samples, 1);
  positive("prune_on", &c.prune_on, 0);
  if (spec.contains("best_includes_pruned")) {
    c.best_includes_pruned =
        json_bool(spec["best_includes_pruned"], "scheduler.best_includes_pruned");
  }
  // Settings of another type would be silently ignored: say so instead.
  const std::map<std::string, std::vector<std::string>> applies = {
      {"grace_period", {"asha", "hyperband", "median"}},
      {"reduction_factor", {"asha", "hyperband"}},
      {"min_samples", {"median"}},
      {"prune_on", {"asha", "hyperband", "median"}},
      {"best_includes_pruned", {"asha", "hyperband", "median"}}};
  for (const auto& [key, types_using] : applies) {
    if (spec.contains(key) &&
        std::find(types_using.begin(), types_using.end(), c.type) == types_using.end()) {
      throw UserError(fmt::format("scheduler.{} does not apply to type \"{}\" (it is for {})", key,
                                  c.type, join_quoted(types_using)));
    }
  }
  if (c.type != "fifo") {
    if (n_objectives > 1 && !spec.contains("prune_on")) {
      throw UserError(fmt::format("scheduler \"{}\" with {} objectives: say which one pruning "
                                  "uses",
                                  c.type, n_objectives),
                      "set \"prune_on\": 0 (the first objective) or another index, or use "
                      "\"fifo\" to turn pruning off");
    }
    if (static_cast<size_t>(c.prune_on) >= n_objectives) {
      throw UserError(fmt::format("scheduler.prune_on is {}, but there are {} objective(s)",
                                  c.prune_on, n_objectives));
    }
    if (c.grace_period >= max_epochs) {
      throw UserError(fmt::format("scheduler.grace_period {} leaves nothing to prune: trials train "
                                  "{} epoch(s)",
                                  c.grace_period, max_epochs),
                      "lower grace_period, or raise num_train_epochs (for a benchmark "
                      "function, benchmark_function.epochs)");
    }
  }
  return c;
}

std::unique_ptr<Scheduler> make_scheduler(const SchedulerConfig& config, Direction direction,
                                          int max_epochs) {
  if (config.type == "asha") return std::make_unique<AshaScheduler>(config, direction, max_epochs);
  if (config.type == "median") return std::make_unique<MedianScheduler>(config, direction);
  if (config.type == "hyperband") {
    return std::make_unique<HyperbandScheduler>(config, direction, max_epochs);
  }
  return std::make_unique<FifoScheduler>();
}

}  // namespace cusweep
