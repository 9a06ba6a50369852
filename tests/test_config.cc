// Sweep config validation: every key known or reported with a suggestion, values checked
// against their ranges, search-space bounds checked against the fields they set.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cusweep/config.h"
#include "cusweep/error.h"

namespace cusweep {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

json base() {
  return json::parse(R"({
    "name": "t",
    "data": {"format": "csv", "train": "/dev/null"},
    "training": {"learning_rate": 0.01},
    "metrics": ["accuracy"],
    "search_space": {"per_device_train_batch_size": [32, 64]},
    "n_trials": 4
  })");
}

std::string error_of(const json& j) {
  try {
    parse_sweep_config(j, "cfg.json", ".");
  } catch (const UserError& e) {
    return std::string(e.what()) + " | hint: " + e.hint();
  }
  return "";
}

TEST(ConfigTest, ParsesAValidConfig) {
  const SweepConfig c = parse_sweep_config(base(), "cfg.json", ".");
  EXPECT_EQ(c.name, "t");
  EXPECT_EQ(c.n_trials, 4);
  EXPECT_EQ(c.metrics, std::vector<std::string>{"accuracy"});
  json searched;
  const TrialParams p = c.trial_params(0, &searched);
  EXPECT_DOUBLE_EQ(p.learning_rate, 0.01);
  EXPECT_TRUE(searched.contains("per_device_train_batch_size"));
}

TEST(ConfigTest, UnknownKeysAreErrorsWithSuggestions) {
  json j = base();
  j["training"]["learning_rte"] = 0.1;
  EXPECT_THAT(error_of(j), HasSubstr("unknown key 'training.learning_rte'"));
  EXPECT_THAT(error_of(j), HasSubstr("did you mean 'learning_rate'?"));

  j = base();
  j["n_trail"] = 3;
  EXPECT_THAT(error_of(j), HasSubstr("did you mean 'n_trials'?"));

  j = base();
  j["search_space"]["learnin_rate"] = json::array({0.1});
  EXPECT_THAT(error_of(j), HasSubstr("learning_rate"));
}

TEST(ConfigTest, BadValuesNameTheKeyTheValueAndWhatIsAllowed) {
  json j = base();
  j["training"]["optim"] = "adam";
  EXPECT_THAT(error_of(j), HasSubstr("training.optim must be one of"));
  EXPECT_THAT(error_of(j), HasSubstr("\"adam\""));

  j = base();
  j["training"]["per_device_train_batch_size"] = 0;
  EXPECT_THAT(error_of(j),
              HasSubstr("training.per_device_train_batch_size must be an integer in [1"));

  j = base();
  j["metrics"] = json::array({"acuracy"});
  EXPECT_THAT(error_of(j), HasSubstr("did you mean 'accuracy'?"));

  j = base();
  j["model"] = {{"hidden_sizes", json::array({128, -1})}};
  EXPECT_THAT(error_of(j), HasSubstr("model.hidden_sizes[1]"));

  j = base();
  j["max_concurrent_trials"] = "two";
  EXPECT_THAT(error_of(j), HasSubstr("max_concurrent_trials must be an integer"));
}

TEST(ConfigTest, SearchSpaceValuesAreValidatedAgainstTheirFields) {
  json j = base();
  j["search_space"] = {{"learning_rate", {{"type", "uniform"}, {"low", -1.0}, {"high", 1.0}}}};
  EXPECT_THAT(error_of(j), HasSubstr("search_space.learning_rate.low"));

  j = base();
  j["search_space"] = {{"activation", json::array({"relu", "swish"})}};
  EXPECT_THAT(error_of(j), HasSubstr("search_space.activation.values[1]"));
}

TEST(ConfigTest, ObjectiveOptions) {
  json j = base();
  j["objective_scope"] = "best";
  j["objective"] = json::array({"eval_accuracy", "eval_loss"});
  EXPECT_THAT(error_of(j), HasSubstr("objective_scope \"best\" needs a single objective"));

  j = base();
  j["objective"] = json::array({"eval_accuracy", "eval_loss"});
  const SweepConfig c = parse_sweep_config(j, "cfg.json", ".");
  EXPECT_EQ(c.objective.objectives.size(), 2u);
}

TEST(ConfigTest, TrialConfigurationDependsOnlyOnSeedAndIndex) {
  json j = base();
  j["search_space"] = {{"learning_rate", {{"type", "loguniform"}, {"low", 1e-4}, {"high", 1e-1}}}};
  j["seed"] = 3;
  const SweepConfig a = parse_sweep_config(j, "cfg.json", ".");
  const SweepConfig b = parse_sweep_config(j, "cfg.json", ".");
  for (uint64_t i : {5u, 0u, 3u}) {
    EXPECT_EQ(a.trial_params(i, nullptr).learning_rate, b.trial_params(i, nullptr).learning_rate);
  }
  EXPECT_NE(a.trial_params(0, nullptr).learning_rate, a.trial_params(1, nullptr).learning_rate);
}

TEST(ConfigTest, FileErrorsNameTheFileAndLine) {
  const auto path = std::filesystem::path(::testing::TempDir()) / "bad_config.json";
  std::ofstream(path) << "{\n  \"name\": \"x\",\n  \"n_trials\": ,\n}\n";
  try {
    load_sweep_config(path.string());
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_THAT(e.what(), HasSubstr(path.string() + ":3:"));
  }
  try {
    load_sweep_config("/nonexistent/cfg.json");
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_THAT(e.what(), HasSubstr("/nonexistent/cfg.json"));
  }
}

TEST(ConfigTest, TheExampleConfigLoads) {
  const SweepConfig c =
      load_sweep_config(std::string(CUSWEEP_SOURCE_DIR) + "/examples/fashion_mnist.json");
  EXPECT_EQ(c.n_trials, 16);
  EXPECT_EQ(c.max_concurrent_trials, 2);
}

}  // namespace
}  // namespace cusweep
