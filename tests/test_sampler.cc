// TPE against random search on Hartmann-6, reproducibility for a seed and concurrency, every
// parameter kind suggested within its bounds, and config checks.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "cusweep/benchmark_function.h"
#include "cusweep/config.h"
#include "cusweep/error.h"
#include "cusweep/objective.h"
#include "cusweep/runner.h"
#include "cusweep/sampler.h"

namespace cusweep {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

json hartmann_config(const std::string& sampler, uint64_t seed, int concurrent) {
  json space = json::object();
  for (int i = 1; i <= 6; ++i) {
    space["x" + std::to_string(i)] = {{"type", "uniform"}, {"low", 0}, {"high", 1}};
  }
  return {{"name", "h6"},          {"benchmark_function", "hartmann6"},
          {"search_space", space}, {"sampler", sampler},
          {"n_trials", 100},       {"max_concurrent_trials", concurrent},
          {"seed", seed}};
}

double regret(const json& j) {
  const SweepResult r = run_sweep(parse_sweep_config(j, "h6.json", "."), RunOptions{});
  return r.trials[r.best[0]].objective[0] - benchmark_minimum("hartmann6");
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

TEST(SamplerTest, TpeHalvesRandomSearchRegretOnHartmann6) {
  std::vector<double> random, tpe;
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    random.push_back(regret(hartmann_config("random", seed, 1)));
    tpe.push_back(regret(hartmann_config("tpe", seed, 1)));
  }
  EXPECT_LT(median(tpe), 0.5 * median(random))
      << "median regret: tpe " << median(tpe) << ", random " << median(random);
}

// ZDT1's hypervolume after 100 trials (two objectives).
double zdt1_hypervolume(const std::string& sampler, uint64_t seed) {
  json j = hartmann_config(sampler, seed, 2);
  j["benchmark_function"] = "zdt1";
  j["objective"] = {"eval_y1", "eval_y2"};
  j["direction"] = {"minimize", "minimize"};
  const SweepResult r = run_sweep(parse_sweep_config(j, "zdt1.json", "."), RunOptions{});
  std::vector<std::vector<double>> points;
  for (const TrialRecord& t : r.trials) {
    EXPECT_EQ(t.status, TrialStatus::kTerminated);
    EXPECT_EQ(t.objective.size(), 2u);
    points.push_back(t.objective);
  }
  return hypervolume_2d(points, zdt1_reference_point());
}

TEST(SamplerTest, MultiObjectiveTpeImprovesTheParetoFront) {
  std::vector<double> random, tpe;
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    random.push_back(zdt1_hypervolume("random", seed));
    tpe.push_back(zdt1_hypervolume("tpe", seed));
  }
  // The true front's hypervolume is 11.77; random search leaves a gap of about 2.2.
  EXPECT_GT(median(tpe), median(random) + 0.5)
      << "median hypervolume: tpe " << median(tpe) << ", random " << median(random);
}

TEST(SamplerTest, MultiObjectiveGoodSetComesFromTheBestFronts) {
  // One parameter whose value records which point a trial was: after the start-up trials, TPE
  // proposes near the good set. With the front {(0,1), (1,0)} far from the dominated cluster
  // around (5,5), suggestions must land near the front's x values (0 and 1), not the cluster's.
  const SearchSpace space =
      SearchSpace::parse(json::parse(R"({"x": {"type": "uniform", "low": 0, "high": 10}})"), {"x"});
  SamplerConfig c = parse_sampler_config({{"type", "tpe"}, {"n_startup_trials", 2}});
  auto tpe = make_sampler(c, space, 5);
  std::vector<Observation> history;
  for (int i = 0; i < 18; ++i) {
    const double x = 5 + 0.1 * (i % 9);  // dominated cluster: losses (5.x, 5.x)
    history.push_back({{{"x", x}}, {5 + 0.1 * i, 5 + 0.1 * (17 - i)}, false});
  }
  history.push_back({{{"x", 0.5}}, {0, 1}, false});
  history.push_back({{{"x", 1.0}}, {1, 0}, false});
  int near_front = 0;
  for (uint64_t i = 0; i < 20; ++i) {
    const double x = tpe->suggest(20 + i, history, {})["x"].get<double>();
    near_front += x < 3;
  }
  EXPECT_GE(near_front, 15);
}

TEST(SamplerTest, TpeIsReproducibleForASeedAndConcurrency) {
  const json j = hartmann_config("tpe", 9, 3);
  const SweepResult a = run_sweep(parse_sweep_config(j, "h6.json", "."), RunOptions{});
  const SweepResult b = run_sweep(parse_sweep_config(j, "h6.json", "."), RunOptions{});
  for (size_t i = 0; i < a.trials.size(); ++i) {
    EXPECT_EQ(a.trials[i].searched, b.trials[i].searched) << "trial " << i;
  }
  // Concurrent suggestions do not pile onto one point (the running trials count as bad).
  std::set<std::string> distinct;
  for (const auto& t : a.trials)
    distinct.insert(t.searched.dump());
  EXPECT_EQ(distinct.size(), a.trials.size());
}

TEST(SamplerTest, TpeSuggestsEveryKindWithinItsBounds) {
  if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist")) {
    GTEST_SKIP() << "/usr/share/datasets/fashion-mnist missing";
  }
  const json j = json::parse(R"({
    "name": "tpe_kinds",
    "data": {"format": "idx", "dir": "/usr/share/datasets/fashion-mnist", "scaling": "unit",
             "max_train_samples": 300, "max_eval_samples": 100},
    "training": {"num_train_epochs": 1},
    "metrics": ["accuracy"],
    "search_space": {
      "learning_rate": {"type": "loguniform", "low": 1e-4, "high": 1e-1},
      "weight_decay": {"type": "quniform", "low": 0, "high": 0.1, "q": 0.01},
      "seed": {"type": "randint", "low": 0, "high": 5},
      "per_device_train_batch_size": {"type": "qrandint", "low": 16, "high": 64, "q": 16},
      "hidden_sizes": {"type": "choice", "values": [[16], [32, 16]]}
    },
    "sampler": {"type": "tpe", "n_startup_trials": 4},
    "n_trials": 12, "max_concurrent_trials": 2, "seed": 1})");
  const SweepResult r = run_sweep(parse_sweep_config(j, "k.json", "."), RunOptions{});
  for (const TrialRecord& t : r.trials) {
    const json& s = t.searched;
    ASSERT_EQ(t.status, TrialStatus::kTerminated) << t.error;
    EXPECT_GE(s["learning_rate"].get<double>(), 1e-4);
    EXPECT_LE(s["learning_rate"].get<double>(), 1e-1);
    const double wd = s["weight_decay"].get<double>();
    EXPECT_NEAR(wd * 100, std::round(wd * 100), 1e-9);
    EXPECT_TRUE(s["seed"].is_number_integer());
    EXPECT_LT(s["seed"].get<int>(), 5);
    EXPECT_EQ(s["per_device_train_batch_size"].get<int>() % 16, 0);
    EXPECT_TRUE(s["hidden_sizes"] == json({16}) || s["hidden_sizes"] == json({32, 16}));
  }
}

TEST(SamplerTest, HaltonFillsTheSpaceEvenlyAndStaysInBounds) {
  const SearchSpace space =
      SearchSpace::parse(json::parse(R"({"a": {"type": "uniform", "low": 0, "high": 1},
                      "b": {"type": "loguniform", "low": 1e-4, "high": 1},
                      "c": {"type": "randint", "low": 0, "high": 4},
                      "d": {"type": "choice", "values": ["x", "y"]}})"),
                         {"a", "b", "c", "d"});
  const auto halton = make_sampler(parse_sampler_config("halton"), space, 3);
  std::vector<int> a_bins(8), c_counts(4);
  int d_x = 0;
  for (uint64_t i = 0; i < 64; ++i) {
    const json s = halton->suggest(i, {}, {});
    const double a = s["a"].get<double>(), b = s["b"].get<double>();
    ASSERT_GE(a, 0.0);
    ASSERT_LT(a, 1.0);
    ASSERT_GE(b, 1e-4);
    ASSERT_LT(b, 1.0);
    ++a_bins[static_cast<size_t>(a * 8)];
    ++c_counts[s["c"].get<size_t>()];
    d_x += s["d"] == "x";
  }
  // 64 points in 8 bins: a low-discrepancy sequence puts 8 +- 1 in each (random: 8 +- 2.6 sd).
  for (int n : a_bins)
    EXPECT_NEAR(n, 8, 1);
  for (int n : c_counts)
    EXPECT_NEAR(n, 16, 1);
  EXPECT_NEAR(d_x, 32, 1);
  // A different seed shifts the points.
  EXPECT_NE(make_sampler(parse_sampler_config("halton"), space, 4)->suggest(0, {}, {}),
            halton->suggest(0, {}, {}));
}

// Conditional parameters: never emitted when their condition fails, for every sampler.
TEST(SamplerTest, ConditionalParametersAppearOnlyWhenTheirConditionHolds) {
  const json j = json::parse(R"({
    "optim": {"type": "choice", "values": ["sgd", "adamw"]},
    "momentum": {"type": "choice", "values": [0.7, 0.9], "when": {"optim": "sgd"}},
    "nesterov_scale": {"type": "uniform", "low": 0, "high": 1, "when": {"momentum": [0.7]}},
    "adam_beta2": {"type": "uniform", "low": 0.9, "high": 0.999, "when": {"optim": ["adamw"]}}
  })");
  const SearchSpace space =
      SearchSpace::parse(j, {"optim", "momentum", "nesterov_scale", "adam_beta2"});
  for (const char* type : {"random", "halton", "tpe"}) {
    auto sampler = make_sampler(parse_sampler_config(type), space, 1);
    std::vector<Observation> history;
    int sgd = 0, adamw = 0;
    for (uint64_t i = 0; i < 40; ++i) {
      const json s = sampler->suggest(i, history, {});
      const bool is_sgd = s["optim"] == "sgd";
      sgd += is_sgd;
      adamw += !is_sgd;
      EXPECT_EQ(s.contains("momentum"), is_sgd) << type << " " << s.dump();
      EXPECT_EQ(s.contains("adam_beta2"), !is_sgd) << type << " " << s.dump();
      // A chain: nesterov_scale needs momentum 0.7, which needs sgd.
      EXPECT_EQ(s.contains("nesterov_scale"), is_sgd && s["momentum"] == 0.7) << type << s.dump();
      history.push_back({s, {is_sgd ? s["momentum"].get<double>() : 1.0}, false});
    }
    EXPECT_GT(sgd, 0) << type;
    EXPECT_GT(adamw, 0) << type;
  }
  EXPECT_THROW(SearchSpace::parse(json::parse(R"({"momentum": {"type": "uniform", "low": 0,
                   "high": 1, "when": {"optim": "sgd"}}})"),
                                  {"momentum", "optim"}),
               UserError);
  EXPECT_THROW(SearchSpace::parse(json::parse(R"({"optim": {"type": "grid", "values": ["sgd"],
                   "when": {"momentum": 1}}, "momentum": [1]})"),
                                  {"momentum", "optim"}),
               UserError);
}

TEST(SamplerTest, ConditionsThatCanNeverHoldOrLoopAreErrors) {
  const std::vector<std::string> names = {"optim", "momentum", "activation", "hidden_sizes",
                                          "seed"};
  auto error = [&](const char* text) {
    try {
      SearchSpace::parse(json::parse(text), names);
    } catch (const UserError& e) {
      return std::string(e.what()) + " | " + e.hint();
    }
    return std::string();
  };
  EXPECT_THAT(error(R"({"optim": ["sgd", "adamw"],
                        "momentum": {"type": "uniform", "low": 0, "high": 1, "when": {"optim": "sdg"}}})"),
              HasSubstr("search_space.momentum.when: optim never takes \"sdg\" (its values: "
                        "\"sgd\", \"adamw\")"));
  // A list value means "one of": the lists themselves must be wrapped.
  EXPECT_THAT(error(R"({"hidden_sizes": [[16, 8], [32]],
                        "activation": {"type": "choice", "values": ["relu"], "when": {"hidden_sizes": [16, 8]}}})"),
              HasSubstr("wrap it"));
  EXPECT_EQ(error(R"({"hidden_sizes": [[16, 8], [32]],
                      "activation": {"type": "choice", "values": ["relu"], "when": {"hidden_sizes": [[16, 8]]}}})"),
            "");
  EXPECT_THAT(error(R"({"momentum": {"type": "uniform", "low": 0, "high": 1},
                        "optim": {"type": "choice", "values": ["sgd"], "when": {"momentum": 0.5}}})"),
              HasSubstr("a continuous parameter never takes one exact value"));
  EXPECT_THAT(error(R"({"seed": {"type": "randint", "low": 0, "high": 3},
                        "optim": {"type": "choice", "values": ["sgd"], "when": {"seed": [2, 3]}}})"),
              HasSubstr("seed never takes 3"));
  EXPECT_THAT(
      error(R"({"optim": {"type": "choice", "values": ["sgd"], "when": {"activation": "relu"}},
                        "activation": {"type": "choice", "values": ["relu"], "when": {"optim": "sgd"}}})"),
      HasSubstr("the conditions form a loop: activation -> optim -> activation"));
}

TEST(SamplerTest, ConfigErrors) {
  EXPECT_EQ(parse_sampler_config(json()).type, "random");
  EXPECT_EQ(parse_sampler_config("tpe").type, "tpe");
  try {
    parse_sampler_config("tp");
    FAIL();
  } catch (const UserError& e) {
    EXPECT_THAT(e.what(), HasSubstr("did you mean 'tpe'?"));
  }
  EXPECT_THROW(parse_sampler_config({{"type", "tpe"}, {"n_startup_trials", 0}}), UserError);
  EXPECT_THROW(parse_sampler_config({{"type", "tpe"}, {"n_startup", 3}}), UserError);
  // TPE's settings on another sampler would be ignored: refused instead.
  for (const char* type : {"random", "halton"}) {
    try {
      parse_sampler_config({{"type", type}, {"n_ei_candidates", 3}});
      ADD_FAILURE() << type;
    } catch (const UserError& e) {
      EXPECT_THAT(e.what(), HasSubstr("sampler.n_ei_candidates does not apply to type \"" +
                                      std::string(type) + "\""));
    }
  }
}

}  // namespace
}  // namespace cusweep
