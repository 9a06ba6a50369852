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

}  // namespace
}  // namespace cusweep
