// Sweep config validation: every key known or reported with a suggestion, values checked
// against their ranges, search-space bounds checked against the fields they set.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "cusweep/config.h"
#include "cusweep/error.h"
#include "log_capture.h"

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

// The error loading the config file at `path` gives, or "" when it loads.
std::string file_error_of(const std::string& path) {
  try {
    load_sweep_config(path);
  } catch (const UserError& e) {
    return e.what();
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

// Warnings logged while parsing `j`.
std::vector<std::string> warnings_of(const json& j) {
  const Warnings warnings;
  parse_sweep_config(j, "cfg.json", ".");
  return warnings.logged;
}

TEST(ConfigTest, NothingSearchedWithSeveralTrialsIsPointedOut) {
  json j = base();
  j["search_space"] = json::object();
  EXPECT_THAT(warnings_of(j),
              ::testing::ElementsAre("search_space is empty: the 4 trials train the same values"));
  j["n_trials"] = 1;
  EXPECT_TRUE(warnings_of(j).empty());
  EXPECT_TRUE(warnings_of(base()).empty());  // 4 trials over 2 grid values: no warning
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
  j["learning_rate"] = 0.1;  // a training setting one level too high
  EXPECT_THAT(error_of(j),
              HasSubstr("unknown key 'learning_rate': it is a setting of \"training\""));
  j = base();
  j["activation"] = "relu";
  EXPECT_THAT(error_of(j), HasSubstr("unknown key 'activation': it is a setting of \"model\""));

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
  j["objective"] = " ";
  EXPECT_THAT(error_of(j), HasSubstr("objective: empty string; give \"default\""));

  j = base();
  j["max_concurrent_trials"] = "two";
  EXPECT_THAT(error_of(j), HasSubstr("max_concurrent_trials must be an integer"));
}

// A section given as null is refused like any other non-object, not read as left out: a
// config generated with a missing value should not silently train the defaults.
TEST(ConfigTest, NullSectionsAreRefusedWithTheirKey) {
  for (const char* key : {"model", "training", "search_space", "objective", "direction", "sampler",
                          "scheduler", "objective_scope", "n_trials"}) {
    json j = base();
    j[key] = nullptr;
    EXPECT_EQ(error_of(j), std::string(key) + " is null | hint: give a value, or leave '" + key +
                               "' out for its default")
        << key;
    j.erase(key);
    EXPECT_EQ(error_of(j), "") << key;
  }
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
  EXPECT_THAT(file_error_of(path.string()), HasSubstr(path.string() + ":3:"));
  // A key given twice would silently keep the last value: an error naming its path.
  std::ofstream(path) << R"({"name": "x", "training": {"learning_rate": 0.1, "learning_rate": 1},
    "search_space": {"hidden_sizes": [[1], {"a": 1, "b": 2, "a": 3}]}})";
  EXPECT_THAT(file_error_of(path.string()),
              HasSubstr("key 'training.learning_rate' is given twice"));
  // Sibling objects may share keys; the path counts array elements.
  std::ofstream(path) << R"({"list": [{"k": 1}, {"k": 2}],
    "search_space": {"hidden_sizes": [[1], {"a": 1, "b": 2, "a": 3}]}})";
  EXPECT_THAT(file_error_of(path.string()),
              HasSubstr("key 'search_space.hidden_sizes[1].a' is given twice"));
  EXPECT_THAT(file_error_of("/nonexistent/cfg.json"), HasSubstr("/nonexistent/cfg.json"));
  // JSON text has no NUL byte; the parser would read one as the end of the text.
  std::ofstream(path) << std::string("{\"name\": \"x\"}\0\0", 15);
  EXPECT_EQ(file_error_of(path.string()), path.string() + ": byte 14 is NUL: not a JSON text file");
  // A long value in a message is cut, its quote closed.
  json j = base();
  j["name"] = std::string(200, 'a') + "!";
  EXPECT_THAT(error_of(j), HasSubstr("\"" + std::string(59, 'a') + "...\" is not a valid"));
}

TEST(ConfigTest, IllFormedUtf8IsNamedByItsByteNotEchoed) {
  const auto path = std::filesystem::path(::testing::TempDir()) / "bad_utf8.json";
  std::ofstream(path) << "{\"name\": \"caf\xc3\xa9\", \"n\xff\": 1}";
  const std::string what = file_error_of(path.string());
  EXPECT_THAT(what, HasSubstr(path.string() + ":1:"));
  EXPECT_THAT(what, HasSubstr("ill-formed UTF-8 byte; last read: '\"n\\xFF'"));
  EXPECT_EQ(what.find('\xff'), std::string::npos) << "the raw byte is echoed";
}

TEST(ConfigTest, SearchSpaceDrawsMustFitIntegerFields) {
  json j = base();
  j["search_space"] = {
      {"per_device_train_batch_size", {{"type", "uniform"}, {"low", 16}, {"high", 64}}}};
  EXPECT_THAT(error_of(j), HasSubstr("search_space.per_device_train_batch_size takes integers"));
  EXPECT_THAT(error_of(j), HasSubstr("randint"));

  // qrandint includes high: momentum 1 would be drawn, and momentum must be < 1.
  j = base();
  j["search_space"] = {{"momentum", {{"type", "qrandint"}, {"low", 0}, {"high", 1}, {"q", 1}}}};
  EXPECT_THAT(error_of(j), HasSubstr("search_space.momentum.high"));
  // randint's high is exclusive: the value checked, high - 1, is said to be that.
  j = base();
  j["search_space"] = {
      {"per_device_train_batch_size", {{"type", "randint"}, {"low", 16}, {"high", 1e9}}}};
  EXPECT_THAT(error_of(j), HasSubstr("search_space.per_device_train_batch_size.high - 1 "
                                     "(randint's largest draw)"));
  EXPECT_THAT(error_of(j), HasSubstr("999999999"));
}

TEST(ConfigTest, ModelAndNameChecks) {
  json j = base();
  j["model"] = {{"hidden_sizes", json::array()}};
  EXPECT_THAT(error_of(j), HasSubstr("an mlp needs at least one hidden layer"));

  j = base();
  j["name"] = "..";
  EXPECT_THAT(error_of(j), HasSubstr("not a valid sweep name"));
  j["name"] = "a\nb";
  EXPECT_THAT(error_of(j), HasSubstr("not a valid sweep name"));

  j = base();
  j.erase("name");
  try {
    parse_sweep_config(j, "/tmp/my config.json", "/tmp");
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_THAT(e.what(), HasSubstr("has no 'name' and its file name gives \"my config\""));
  }

  j = base();
  j["model"] = {{"architecture", "softmax_regression"}, {"hidden_sizes", {64}}};
  const json params = parse_sweep_config(j, "cfg.json", ".").trial_params(0, nullptr).to_json();
  EXPECT_FALSE(params.contains("hidden_sizes"));
}

TEST(ConfigTest, RangesOfNumbers) {
  json j = base();
  j["seed"] = json::parse("18446744073709551615");
  EXPECT_THAT(error_of(j), HasSubstr("seed must be an integer in [0, 9223372036854775807], got "
                                     "18446744073709551615"));
  for (const json seed : {json(1e19), json(-1)}) {  // the range allowed, not int64's
    j["seed"] = seed;
    EXPECT_THAT(error_of(j), HasSubstr("seed must be an integer in [0, 9223372036854775807], got " +
                                       seed.dump()));
  }
  j = base();
  j["search_space"]["seed"] = {{"type", "randint"}, {"low", -1}, {"high", 5}};
  EXPECT_THAT(error_of(j), HasSubstr("search_space.seed.low must be an integer in [0, "
                                     "9223372036854775807], got -1"));

  j = base();
  j["report_interval_s"] = 1e308;
  EXPECT_THAT(error_of(j), HasSubstr("report_interval_s must be in [0.1, 86400]"));

  j = base();
  j["n_trials"] = 1e30;
  EXPECT_THAT(error_of(j), HasSubstr("n_trials must be an integer in [1, 100000], got 1e+30"));
  j = base();
  j["checkpoint_every"] = 1e20;  // beyond int64: the allowed range is still named
  EXPECT_THAT(error_of(j), HasSubstr("checkpoint_every (epochs; 0 = off) must be an integer in "
                                     "[0, 100000], got 1e+20"));
}

TEST(ConfigTest, ObjectiveOnAMetricNotComputedIsCaughtAtLoadWithAHint) {
  json j = base();
  j["objective"] = "eval_f1";
  const std::string e = error_of(j);
  EXPECT_THAT(e, HasSubstr("objective:"));
  EXPECT_THAT(e, HasSubstr("eval_f1"));
  EXPECT_THAT(e, HasSubstr("add \"f1\" to \"metrics\""));
}

TEST(ConfigTest, JsonTooDeepOrOverflowingIsAnError) {
  const auto path = std::filesystem::path(::testing::TempDir()) / "deep.json";
  std::ofstream(path) << "{\"n_trials\": " << std::string(100000, '[') << std::string(100000, ']')
                      << "}";
  try {
    load_sweep_config(path.string());
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_THAT(e.what(), HasSubstr("nested deeper than"));
  }
  std::ofstream(path) << "{\"n_trials\": 1e999}";
  try {
    load_sweep_config(path.string());
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_THAT(e.what(), HasSubstr(path.string()));
    EXPECT_THAT(e.what(), HasSubstr("1e999"));
  }
}

TEST(ConfigTest, LayerWidthsCanDependOnASearchedLayerCount) {
  json j = base();
  j["model"] = {{"hidden_sizes", {100}}};
  j["search_space"] = json::parse(R"({
    "num_hidden_layers": {"type": "choice", "values": [1, 2, 3]},
    "hidden_size_1": {"type": "choice", "values": [64, 128]},
    "hidden_size_2": {"type": "randint", "low": 16, "high": 33, "when": {"num_hidden_layers": [2, 3]}},
    "hidden_size_3": {"type": "choice", "values": [8], "when": {"num_hidden_layers": 3}}
  })");
  j["n_trials"] = 40;
  const SweepConfig c = parse_sweep_config(j, "cfg.json", ".");
  std::set<size_t> depths;
  for (uint64_t i = 0; i < 40; ++i) {
    json searched;
    const TrialParams p = c.trial_params(i, &searched);
    const size_t n = searched["num_hidden_layers"].get<size_t>();
    depths.insert(n);
    ASSERT_EQ(p.hidden_sizes.size(), n) << searched.dump();
    EXPECT_EQ(p.hidden_sizes[0], searched["hidden_size_1"].get<int>());
    // A width exists only when its layer does; never emitted otherwise.
    EXPECT_EQ(searched.contains("hidden_size_2"), n >= 2) << searched.dump();
    EXPECT_EQ(searched.contains("hidden_size_3"), n >= 3) << searched.dump();
    if (n >= 2) EXPECT_EQ(p.hidden_sizes[1], searched["hidden_size_2"].get<int>());
    if (n == 3) EXPECT_EQ(p.hidden_sizes[2], 8);
  }
  EXPECT_EQ(depths, (std::set<size_t>{1, 2, 3}));

  // A count alone copies the last width into the new layers.
  const TrialParams deep =
      make_trial_params({{"hidden_sizes", {100, 50}}}, json::object(), {{"num_hidden_layers", 4}});
  EXPECT_EQ(deep.hidden_sizes, (std::vector<int>{100, 50, 50, 50}));
}

TEST(ConfigTest, LayerWidthsWithoutTheirLayerAreCaughtAtLoad) {
  json j = base();
  j["search_space"] = json::parse(R"({
    "num_hidden_layers": {"type": "randint", "low": 1, "high": 3},
    "hidden_size_2": {"type": "choice", "values": [32]}
  })");
  EXPECT_THAT(error_of(j), HasSubstr("search_space.hidden_size_2 sets hidden layer 2, but trials "
                                     "can have 1 hidden layer"));
  EXPECT_THAT(error_of(j), HasSubstr("\"when\": {\"num_hidden_layers\": [2, ...]}"));

  j["search_space"]["hidden_size_2"]["when"] = {{"num_hidden_layers", 2}};
  EXPECT_EQ(error_of(j), "");

  // A width conditioned on the hidden_sizes lists long enough for it.
  j["search_space"] = json::parse(R"({"hidden_sizes": [[64], [64, 32, 16]],
    "hidden_size_3": {"type": "choice", "values": [8], "when": {"hidden_sizes": [[64, 32, 16]]}}})");
  EXPECT_EQ(error_of(j), "");
  j["search_space"]["hidden_size_3"]["when"] = {{"hidden_sizes", {{64}}}};
  EXPECT_THAT(error_of(j), HasSubstr("sets hidden layer 3, but trials can have 1"));

  j = base();  // the base model has one layer
  j["search_space"] = {{"hidden_size_2", {32, 64}}};
  EXPECT_THAT(error_of(j), HasSubstr("sets hidden layer 2"));
  j["model"] = {{"hidden_sizes", {128, 64}}};
  EXPECT_EQ(error_of(j), "");

  j = base();
  j["model"] = {{"hidden_size_3", 16}};
  j["search_space"] = {{"num_hidden_layers", {2, 3}}};
  EXPECT_THAT(error_of(j), HasSubstr("model.hidden_size_3 sets hidden layer 3"));

  j = base();
  j["search_space"] = {{"num_hidden_layers", {{"type", "uniform"}, {"low", 1}, {"high", 3}}}};
  EXPECT_THAT(error_of(j), HasSubstr("takes integers"));
  j["search_space"] = {{"hidden_size_9", {32}}};
  EXPECT_THAT(error_of(j), HasSubstr("unknown parameter 'search_space.hidden_size_9'"));
  j["search_space"] = {{"num_hidden_layers", {0, 1}}};
  EXPECT_THAT(error_of(j), HasSubstr("num_hidden_layers.values[0]"));
}

TEST(ConfigTest, TheExampleConfigLoads) {
  const SweepConfig c =
      load_sweep_config(std::string(CUSWEEP_SOURCE_DIR) + "/examples/fashion_mnist.json");
  EXPECT_EQ(c.n_trials, 16);
  EXPECT_EQ(c.max_concurrent_trials, 2);
}

}  // namespace
}  // namespace cusweep
