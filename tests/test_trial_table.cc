// The trial table: which rows it shows when there are more trials than rows.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cusweep/config.h"
#include "trial_table.h"

namespace cusweep {
namespace {

using nlohmann::json;

// With several objectives and too many trials to show, the Pareto front comes first, not the
// best trials by the first objective alone.
TEST(TrialTableTest, ParetoFrontFirstWhenRowsAreCut) {
  const json j = {{"name", "z"},
                  {"benchmark_function", "zdt1"},
                  {"objective", {"eval_y1", "eval_y2"}},
                  {"direction", {"minimize", "minimize"}},
                  {"n_trials", 6}};
  const SweepConfig config = parse_sweep_config(j, "z.json", ".");
  const std::vector<std::vector<double>> objectives = {{3, 3}, {1, 5}, {4, 4},
                                                       {2, 2}, {6, 6}, {5, 1}};
  std::vector<TrialRecord> trials(objectives.size());
  for (size_t i = 0; i < trials.size(); ++i) {
    trials[i].index = i;
    trials[i].name = "trial_" + std::to_string(i);
    trials[i].status = TrialStatus::kTerminated;
    trials[i].objective = objectives[i];
    trials[i].epochs_done = 1;
  }
  const TrialTable table(config, {Direction::kMinimize, Direction::kMinimize}, "y1, y2");
  const std::string backend = "host";
  const std::string shown = table.render(ProgressView{trials, 1, 0, 1.0, backend}, 3);
  for (const char* name : {"trial_1", "trial_3", "trial_5"})  // the front: (1,5) (2,2) (5,1)
    EXPECT_THAT(shown, ::testing::HasSubstr(name)) << shown;
  EXPECT_THAT(shown, ::testing::Not(::testing::HasSubstr("trial_0 "))) << shown;
}

// Under the best scope a trial's objective can come from an earlier epoch than its last: the
// table has a column that says which; under the last scope it has none.
TEST(TrialTableTest, BestScopeSaysWhichEpochTheObjectiveComesFrom) {
  json j = {{"name", "s"},
            {"benchmark_function", "quadratic"},
            {"objective", "eval_loss"},
            {"objective_scope", "best"},
            {"n_trials", 1}};
  std::vector<TrialRecord> trials(1);
  trials[0].name = "trial_0";
  trials[0].status = TrialStatus::kTerminated;
  trials[0].epochs_done = 3;
  trials[0].objective = {0.125};
  for (int e = 1; e <= 3; ++e)
    trials[0].history.push_back({{"metrics", {{"epoch", e}, {"eval_loss", 1.0 / e}}}});
  trials[0].ranked_evaluation = 1;
  const std::string backend = "host";
  const ProgressView view{trials, 1, 0, 1.0, backend};

  const SweepConfig best = parse_sweep_config(j, "s.json", ".");
  const std::string shown = TrialTable(best, {Direction::kMinimize}, "y").render(view, 10);
  EXPECT_THAT(shown, ::testing::HasSubstr("| epoch | best at epoch | objective |")) << shown;
  EXPECT_THAT(shown, ::testing::HasSubstr("| 3     | 2             | 0.125     |")) << shown;

  j.erase("objective_scope");
  const SweepConfig last = parse_sweep_config(j, "s.json", ".");
  const std::string plain = TrialTable(last, {Direction::kMinimize}, "y").render(view, 10);
  EXPECT_THAT(plain, ::testing::Not(::testing::HasSubstr("best at"))) << plain;
}

}  // namespace
}  // namespace cusweep
