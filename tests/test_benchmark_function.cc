// Benchmark functions: published minima, the learning curve, reproducible noise, config checks,
// and sweeps of function trials (random search, ASHA) that run in milliseconds.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "cusweep/benchmark_function.h"
#include "cusweep/config.h"
#include "cusweep/error.h"
#include "cusweep/runner.h"
#include "log_capture.h"

namespace cusweep {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

TEST(BenchmarkFunctionTest, PublishedMinima) {
  const BenchmarkFunctionConfig branin = parse_benchmark_function("branin");
  // Branin's three minimizers (Dixon and Szego): (-pi, 12.275), (pi, 2.275), (9.42478, 2.475).
  for (const auto& [x1, x2] : {std::pair{-M_PI, 12.275}, {M_PI, 2.275}, {9.42478, 2.475}}) {
    EXPECT_NEAR(benchmark_value(branin, {{"x1", x1}, {"x2", x2}}, 1, 0), 0.397887, 1e-5);
  }
  EXPECT_GT(benchmark_value(branin, {{"x1", 0.0}, {"x2", 0.0}}, 1, 0), 50.0);

  const BenchmarkFunctionConfig h6 = parse_benchmark_function("hartmann6");
  const json best = {{"x1", 0.20169},  {"x2", 0.150011}, {"x3", 0.476874},
                     {"x4", 0.275332}, {"x5", 0.311652}, {"x6", 0.6573}};
  EXPECT_NEAR(benchmark_value(h6, best, 1, 0), benchmark_minimum("hartmann6"), 1e-4);
}

TEST(BenchmarkFunctionTest, Zdt1HasTwoObjectivesAndAKnownFront) {
  const BenchmarkFunctionConfig z = parse_benchmark_function("zdt1");
  EXPECT_EQ(benchmark_outputs("zdt1"), (std::vector<std::string>{"eval_y1", "eval_y2"}));
  EXPECT_EQ(benchmark_variables("zdt1").size(), 6u);
  for (double x1 : {0.0, 0.25, 1.0}) {
    // On the front (x2..x6 = 0): f2 = 1 - sqrt(f1).
    const std::vector<double> y = benchmark_values(
        z, {{"x1", x1}, {"x2", 0}, {"x3", 0}, {"x4", 0}, {"x5", 0}, {"x6", 0}}, 1, 0);
    ASSERT_EQ(y.size(), 2u);
    EXPECT_DOUBLE_EQ(y[0], x1);
    EXPECT_NEAR(y[1], 1 - std::sqrt(x1), 1e-12);
  }
  // Off the front: g = 1 + 9/5 * 5 = 10 at x2..x6 = 1; f2 = 10 (1 - sqrt(0.25 / 10)).
  const std::vector<double> off = benchmark_values(
      z, {{"x1", 0.25}, {"x2", 1}, {"x3", 1}, {"x4", 1}, {"x5", 1}, {"x6", 1}}, 1, 0);
  EXPECT_NEAR(off[1], 10 * (1 - std::sqrt(0.025)), 1e-12);
  // Its metrics are eval_y1 / eval_y2: the default objective cannot guess their direction.
  json j = {{"name", "z"}, {"benchmark_function", "zdt1"}, {"n_trials", 2}};
  try {
    parse_sweep_config(j, "z.json", ".");
    ADD_FAILURE() << "expected an error";
  } catch (const UserError& e) {
    EXPECT_THAT(e.what(), HasSubstr("cannot infer the direction"));
  }
  j["objective"] = {"eval_y1", "eval_y2"};
  j["direction"] = {"minimize", "minimize"};
  const SweepResult r = run_sweep(parse_sweep_config(j, "z.json", "."), RunOptions{});
  ASSERT_EQ(r.trials.size(), 2u);
  EXPECT_TRUE(r.trials[0].metrics.contains("eval_y2"));
  EXPECT_FALSE(r.best.empty());
}

TEST(BenchmarkFunctionTest, QuadraticLearningCurveAndReproducibleNoise) {
  BenchmarkFunctionConfig q = parse_benchmark_function({{"function", "quadratic"}, {"epochs", 9}});
  const json at_center = {{"x1", 0.3}, {"x2", 0.3}, {"x3", 0.3}, {"x4", 0.3}};
  EXPECT_NEAR(benchmark_value(q, at_center, 1, 0), 1.0, 1e-12);
  EXPECT_NEAR(benchmark_value(q, at_center, 4, 0), 0.25, 1e-12);
  q.noise = 0.1;
  EXPECT_EQ(benchmark_value(q, at_center, 2, 7), benchmark_value(q, at_center, 2, 7));
  EXPECT_NE(benchmark_value(q, at_center, 2, 7), benchmark_value(q, at_center, 2, 8));
}

TEST(BenchmarkFunctionTest, ConfigErrors) {
  EXPECT_THROW(parse_benchmark_function("hartman6"), UserError);
  EXPECT_THROW(parse_benchmark_function({{"function", "branin"}, {"epochs", 0}}), UserError);
  EXPECT_THROW(parse_benchmark_function({{"function", "branin"}, {"nois", 1}}), UserError);
  json j = {{"name", "b"},
            {"benchmark_function", "branin"},
            {"search_space", {{"x3", {{"type", "uniform"}, {"low", 0}, {"high", 1}}}}}};
  try {
    parse_sweep_config(j, "b.json", ".");
    FAIL();
  } catch (const UserError& e) {
    EXPECT_THAT(e.what(), HasSubstr("search_space.x3"));
  }
  j["search_space"] = json::object();
  j["data"] = {{"format", "csv"}, {"train", "x.csv"}};
  try {
    parse_sweep_config(j, "b.json", ".");
    FAIL();
  } catch (const UserError& e) {
    EXPECT_THAT(e.what(), HasSubstr("'data' is not used with benchmark_function"));
  }
  // Every bound and value stays in the function's domain (documented in README).
  j.erase("data");
  const auto refused = [&](const json& space, const std::string& says) {
    j["search_space"] = space;
    try {
      parse_sweep_config(j, "b.json", ".");
      ADD_FAILURE() << space.dump();
    } catch (const UserError& e) {
      EXPECT_THAT(e.what(), HasSubstr(says)) << space.dump();
    }
  };
  refused({{"x1", {{"type", "uniform"}, {"low", -50}, {"high", 10}}}},
          "search_space.x1.low = -50 is outside branin's domain of x1: [-5, 10]");
  refused({{"x2", {{"type", "uniform"}, {"low", 0}, {"high", 16}}}},
          "search_space.x2.high = 16 is outside branin's domain of x2: [0, 15]");
  refused({{"x2", {{"type", "choice"}, {"values", {1, -1}}}}},
          "search_space.x2.values[1] = -1 is outside");
  j["search_space"] = {{"x1", {{"type", "uniform"}, {"low", -5}, {"high", 10}}},
                       {"x2", {{"type", "grid"}, {"values", {0, 15}}}}};
  EXPECT_NO_THROW(parse_sweep_config(j, "b.json", "."));
  j["benchmark_function"] = "zdt1";
  refused({{"x3", {{"type", "uniform"}, {"low", 0}, {"high", 1.5}}}},
          "search_space.x3.high = 1.5 is outside zdt1's domain of x3: [0, 1]");
}

json uniform(double low, double high) {
  return {{"type", "uniform"}, {"low", low}, {"high", high}};
}

TEST(BenchmarkFunctionTest, VariablesLeftOutOfTheSearchSpaceAreNamed) {
  const auto warnings_of = [](const json& j) {
    const Warnings warnings;
    parse_sweep_config(j, "b.json", ".");
    return warnings.logged;
  };
  json j = {{"name", "b"},
            {"benchmark_function", "branin"},
            {"n_trials", 4},
            {"search_space", {{"x1", uniform(-5, 10)}}}};
  EXPECT_THAT(warnings_of(j), ::testing::ElementsAre("search_space leaves a variable of branin at "
                                                     "the middle of its domain: x2 = 7.5"));
  j["search_space"]["x2"] = uniform(0, 15);
  EXPECT_TRUE(warnings_of(j).empty());
  j["search_space"] = json::object();  // nothing searched: said, with the values kept
  EXPECT_THAT(warnings_of(j),
              ::testing::ElementsAre("search_space leaves variables of branin at the middle of "
                                     "their domains: x1 = 2.5, x2 = 7.5",
                                     "search_space is empty: the 4 trials train the same values"));
  j["benchmark_function"] = "hartmann6";
  j["search_space"] = {{"x1", uniform(0, 1)}, {"x3", uniform(0, 1)}};
  EXPECT_THAT(
      warnings_of(j),
      ::testing::ElementsAre("search_space leaves variables of hartmann6 at the middle of their "
                             "domains: x2 = 0.5, x4 = 0.5, x5 = 0.5, x6 = 0.5"));
}

TEST(BenchmarkFunctionTest, RandomSearchOnBraninGetsCloseToTheMinimum) {
  const json j = {{"name", "branin"},
                  {"benchmark_function", "branin"},
                  {"search_space", {{"x1", uniform(-5, 10)}, {"x2", uniform(0, 15)}}},
                  {"n_trials", 200},
                  {"max_concurrent_trials", 2},
                  {"seed", 5}};
  const SweepResult r = run_sweep(parse_sweep_config(j, "b.json", "."), RunOptions{});
  ASSERT_EQ(r.best.size(), 1u);
  EXPECT_EQ(r.directions[0], Direction::kMinimize);
  const double best = r.trials[r.best[0]].objective[0];
  EXPECT_GE(best, benchmark_minimum("branin") - 1e-9);
  EXPECT_LT(best - benchmark_minimum("branin"), 1.0);  // 200 random points on a 15 x 15 box
}

TEST(BenchmarkFunctionTest, AshaPrunesQuadraticTrialsEarly) {
  json space = json::object();
  for (const char* x : {"x1", "x2", "x3", "x4"})
    space[x] = uniform(0, 1);
  const json j = {{"name", "quad"},
                  {"benchmark_function", {{"function", "quadratic"}, {"epochs", 9}}},
                  {"search_space", space},
                  {"scheduler", {{"type", "asha"}, {"grace_period", 1}, {"reduction_factor", 3}}},
                  {"n_trials", 60},
                  {"max_concurrent_trials", 1},
                  {"seed", 2}};
  const SweepResult r = run_sweep(parse_sweep_config(j, "q.json", "."), RunOptions{});
  int pruned = 0, epochs = 0;
  for (const TrialRecord& t : r.trials) {
    pruned += t.status == TrialStatus::kPruned;
    epochs += t.epochs_done;
  }
  EXPECT_GT(pruned, 30);          // most trials stop at rung 1 or 3
  EXPECT_LT(epochs, 60 * 9 / 2);  // less than half the epochs of FIFO
  EXPECT_EQ(r.trials[r.best[0]].status, TrialStatus::kTerminated);
}

}  // namespace
}  // namespace cusweep
