// Early-stopping decisions on hand-made histories, config checks, and pruned-trial bookkeeping
// in a real sweep.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "cusweep/config.h"
#include "cusweep/error.h"
#include "cusweep/runner.h"
#include "cusweep/scheduler.h"

namespace cusweep {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

SchedulerConfig asha(int grace, int factor) {
  SchedulerConfig c;
  c.type = "asha";
  c.grace_period = grace;
  c.reduction_factor = factor;
  return c;
}

TEST(SchedulerTest, AshaRungsAreGraceTimesPowersOfTheFactorBelowMaxEpochs) {
  EXPECT_EQ(asha_rungs(1, 3, 9), (std::vector<int>{1, 3}));
  EXPECT_EQ(asha_rungs(1, 3, 10), (std::vector<int>{1, 3, 9}));
  EXPECT_EQ(asha_rungs(2, 2, 16), (std::vector<int>{2, 4, 8}));
  EXPECT_TRUE(asha_rungs(5, 3, 5).empty());
}

TEST(SchedulerTest, AshaKeepsTheTopThirdAtARung) {
  auto s = make_scheduler(asha(1, 3), Direction::kMaximize, 9);
  // Rung 1: the first two see too few results to be cut.
  EXPECT_TRUE(s->should_continue(0, 1, 0.50));
  EXPECT_TRUE(s->should_continue(1, 1, 0.40));
  // Third result: keep = 1, cutoff = best so far (0.50): 0.45 is below it.
  EXPECT_FALSE(s->should_continue(2, 1, 0.45));
  EXPECT_TRUE(s->should_continue(3, 1, 0.70));   // new best
  EXPECT_FALSE(s->should_continue(4, 1, 0.60));  // 5 results, keep 1: cutoff 0.70
  // Epochs that are not rungs never prune.
  EXPECT_TRUE(s->should_continue(0, 2, 0.01));
  // Rung 3 has its own results.
  EXPECT_TRUE(s->should_continue(0, 3, 0.10));
}

TEST(SchedulerTest, AshaMinimizeAndNonFiniteValues) {
  auto s = make_scheduler(asha(1, 2), Direction::kMinimize, 8);
  EXPECT_TRUE(s->should_continue(0, 1, 0.9));   // 1 result, keep 0
  EXPECT_TRUE(s->should_continue(1, 1, 0.3));   // 2 results, keep 1: best is 0.3
  EXPECT_FALSE(s->should_continue(2, 1, 0.5));  // 3 results, keep 1: cutoff 0.3
  EXPECT_FALSE(s->should_continue(3, 1, std::nan("")));
}

TEST(SchedulerTest, HyperbandBracketsJudgeTrialsAtDifferentFirstRungs) {
  SchedulerConfig c = asha(1, 3);
  c.type = "hyperband";
  auto s = make_scheduler(c, Direction::kMaximize, 9);  // brackets with first rungs 1 and 3
  EXPECT_THAT(s->describe(), HasSubstr("2 asynchronous brackets"));
  // Even trials are in bracket 0 (rungs 1, 3), odd ones in bracket 1 (rung 3 only).
  EXPECT_TRUE(s->should_continue(0, 1, 0.9));
  EXPECT_TRUE(s->should_continue(2, 1, 0.8));
  EXPECT_FALSE(s->should_continue(4, 1, 0.1));  // 3 results at bracket 0's rung 1, keep 1
  EXPECT_TRUE(s->should_continue(1, 1, 0.1));   // bracket 1 has no rung at epoch 1
  EXPECT_TRUE(s->should_continue(3, 1, 0.0));
  EXPECT_TRUE(s->should_continue(5, 1, 0.0));
}

TEST(SchedulerTest, MedianStoppingComparesBestSoFarWithTheOthersMedian) {
  SchedulerConfig c;
  c.type = "median";
  c.grace_period = 2;  // judged from the end of epoch 2 on
  c.min_samples = 3;
  auto s = make_scheduler(c, Direction::kMaximize, 10);
  for (uint64_t t = 0; t < 3; ++t) {
    EXPECT_TRUE(s->should_continue(t, 1, 0.5 + 0.1 * t));  // within the grace period
    EXPECT_TRUE(s->should_continue(t, 2, 0.6 + 0.1 * t));  // fewer than 3 others at epoch 2
  }
  // Epoch 2 has 0.6, 0.7, 0.8 from others: median 0.7.
  EXPECT_TRUE(s->should_continue(3, 1, 0.2));
  EXPECT_FALSE(s->should_continue(3, 2, 0.65));  // best so far 0.65 < 0.7, at epoch grace_period
  EXPECT_TRUE(s->should_continue(4, 1, 0.75));   // best so far counts earlier epochs too
  EXPECT_TRUE(s->should_continue(4, 2, 0.1));    // 0.75 >= median of 0.6, 0.7, 0.8, 0.65
}

TEST(SchedulerTest, ConfigErrors) {
  EXPECT_EQ(parse_scheduler_config(json(), 3, 1).type, "fifo");
  EXPECT_EQ(parse_scheduler_config("asha", 3, 1).type, "asha");
  try {
    parse_scheduler_config({{"type", "ashaa"}}, 3, 1);
    FAIL();
  } catch (const UserError& e) {
    EXPECT_THAT(e.what(), HasSubstr("did you mean 'asha'?"));
  }
  try {
    parse_scheduler_config({{"type", "asha"}}, 3, 2);
    FAIL();
  } catch (const UserError& e) {
    EXPECT_THAT(e.what(), HasSubstr("say which one pruning uses"));
  }
  EXPECT_EQ(parse_scheduler_config({{"type", "asha"}, {"prune_on", 1}}, 3, 2).prune_on, 1);
  EXPECT_THROW(parse_scheduler_config({{"type", "asha"}, {"grace_period", 3}}, 3, 1), UserError);
  EXPECT_THROW(parse_scheduler_config({{"type", "median"}, {"grace", 1}}, 3, 1), UserError);
  EXPECT_THROW(parse_scheduler_config({{"type", "asha"}, {"reduction_factor", 1}}, 3, 1),
               UserError);
  try {
    parse_scheduler_config({{"type", "median"}, {"reduction_factor", 3}}, 3, 1);
    FAIL();
  } catch (const UserError& e) {
    EXPECT_THAT(e.what(), HasSubstr("does not apply to type \"median\""));
  }
}

TEST(SchedulerTest, AshaSweepPrunesKeepsHistoryAndNeverPicksAPrunedBest) {
  if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist")) {
    GTEST_SKIP() << "/usr/share/datasets/fashion-mnist missing";
  }
  const json j = json::parse(R"({
    "name": "asha_test",
    "data": {"format": "idx", "dir": "/usr/share/datasets/fashion-mnist", "scaling": "unit",
             "max_train_samples": 2000, "max_eval_samples": 500},
    "model": {"hidden_sizes": [32]},
    "training": {"num_train_epochs": 4, "optim": "sgd"},
    "metrics": ["accuracy"],
    "search_space": {"learning_rate": {"type": "loguniform", "low": 1e-5, "high": 0.3}},
    "scheduler": {"type": "asha", "grace_period": 1, "reduction_factor": 2},
    "n_trials": 12, "max_concurrent_trials": 1, "seed": 3})");
  const SweepConfig config = parse_sweep_config(j, "asha.json", ".");
  RunOptions options;
  options.backend = "cpu";
  const SweepResult r = run_sweep(config, options);
  int pruned = 0;
  for (const TrialRecord& t : r.trials) {
    if (t.status != TrialStatus::kPruned) continue;
    ++pruned;
    EXPECT_LT(t.history.size(), 4u);  // stopped early
    EXPECT_EQ(t.history.size(), static_cast<size_t>(t.epochs_done));
    EXPECT_FALSE(t.objective.empty());  // keeps its last ranked objective
  }
  // One at a time, trial 2 onwards meets full rungs: some must be cut.
  EXPECT_GT(pruned, 0);
  ASSERT_EQ(r.best.size(), 1u);
  EXPECT_EQ(r.trials[r.best[0]].status, TrialStatus::kTerminated);
}

}  // namespace
}  // namespace cusweep
