// The objective: HF-compatible default rule and its extensions, custom weighted sums,
// direction inference and warnings, spec/JSON parsing, Pareto fronts and `cusweep objective`.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>

#include "cusweep/error.h"
#include "cusweep/objective.h"

namespace cusweep {
namespace {

using nlohmann::json;

// The evaluate() output of a Trainer with accuracy and F1, as in DESIGN.md.
json hf_metrics() {
  return json::parse(R"({"eval_loss": 0.4, "eval_accuracy": 0.9, "eval_f1": 0.8,
                         "eval_runtime": 12.3, "eval_samples_per_second": 81.3, "epoch": 3})");
}

ObjectiveValue evaluate_one(const std::string& objective, const std::string& direction,
                            const json& metrics) {
  const std::vector<ObjectiveValue> values =
      evaluate_objective(parse_objective_spec(objective, direction), metrics);
  EXPECT_EQ(values.size(), 1u);
  return values.at(0);
}

const DroppedMetric* find_dropped(const ObjectiveValue& v, const std::string& key) {
  for (const auto& d : v.dropped) {
    if (d.key == key) return &d;
  }
  return nullptr;
}

bool has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The message of the UserError `f` throws ("" and a test failure when it does not throw).
template <typename F>
std::string user_error(F f) {
  try {
    f();
  } catch (const UserError& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected a UserError";
  return "";
}

// ---- The default rule.

TEST(Objective, DefaultRuleSumsAccuracyAndF1) {
  const ObjectiveValue v = evaluate_one("", "", hf_metrics());
  EXPECT_DOUBLE_EQ(v.value, 0.9 + 0.8);
  EXPECT_NEAR(v.value, 1.7, 1e-12);
  EXPECT_EQ(v.direction, Direction::kMaximize);
  EXPECT_TRUE(v.direction_inferred);
  ASSERT_EQ(v.terms.size(), 2u);
  EXPECT_EQ(v.terms[0].metric, "eval_accuracy");
  EXPECT_EQ(v.terms[1].metric, "eval_f1");
  EXPECT_TRUE(v.warnings.empty());
  EXPECT_EQ(v.rule,
            "default rule: sum of 2 metrics (eval_accuracy + eval_f1), eval_loss, epoch and "
            "2 speed metrics dropped");
}

TEST(Objective, DefaultRuleFallsBackToEvalLoss) {
  json metrics = hf_metrics();
  metrics.erase("eval_accuracy");
  metrics.erase("eval_f1");
  const ObjectiveValue v = evaluate_one("default", "", metrics);
  EXPECT_DOUBLE_EQ(v.value, 0.4);
  EXPECT_EQ(v.direction, Direction::kMinimize);
  EXPECT_TRUE(v.direction_inferred);
  ASSERT_EQ(v.terms.size(), 1u);
  EXPECT_EQ(v.terms[0].metric, "eval_loss");
  EXPECT_EQ(find_dropped(v, "eval_loss"), nullptr) << "the objective is not also dropped";
  EXPECT_TRUE(has(v.rule, "default rule: no quality metric, objective = eval_loss")) << v.rule;
}

TEST(Objective, DefaultRuleReasonsSayWhetherHfDropsTheKey) {
  const ObjectiveValue v = evaluate_one("", "", hf_metrics());
  ASSERT_EQ(v.dropped.size(), 4u);
  for (const char* key : {"eval_loss", "epoch", "eval_runtime", "eval_samples_per_second"}) {
    const DroppedMetric* d = find_dropped(v, key);
    ASSERT_NE(d, nullptr) << key;
    EXPECT_TRUE(has(d->reason, "HF drops it")) << key << ": " << d->reason;
  }
  EXPECT_TRUE(has(find_dropped(v, "eval_runtime")->reason, "speed metric"));
}

TEST(Objective, DefaultRuleDropsTimeAndMemoryKeysHfWouldSum) {
  json metrics = hf_metrics();
  metrics["eval_mem_gpu_alloc_delta"] = 1.5e9;
  metrics["peak_memory_mb"] = 2048;
  metrics["eval_forward_ms"] = 3.2;
  metrics["train_time"] = 100.0;
  metrics["total_flos"] = 1e15;
  metrics["global_step"] = 500;
  metrics["eval_samples"] = 872;
  metrics["eval_steps_per_second"] = 10.1;  // HF's own speed suffix
  const ObjectiveValue v = evaluate_one("", "", metrics);
  EXPECT_NEAR(v.value, 1.7, 1e-12);
  const std::pair<const char*, const char*> expected[] = {{"eval_mem_gpu_alloc_delta", "memory"},
                                                          {"peak_memory_mb", "memory"},
                                                          {"eval_forward_ms", "time"},
                                                          {"train_time", "time"},
                                                          {"total_flos", "FLOs"},
                                                          {"global_step", "step"},
                                                          {"eval_samples", "sample count"}};
  for (const auto& [key, what] : expected) {
    const DroppedMetric* d = find_dropped(v, key);
    ASSERT_NE(d, nullptr) << key;
    EXPECT_TRUE(has(d->reason, "cusweep drops it")) << d->reason;
    EXPECT_TRUE(has(d->reason, what)) << d->reason;
    EXPECT_TRUE(has(d->reason, "HF would have summed it")) << d->reason;
  }
  EXPECT_TRUE(has(find_dropped(v, "eval_steps_per_second")->reason, "HF drops it"));
  EXPECT_TRUE(has(v.rule, "3 speed metrics and 7 non-quality keys dropped")) << v.rule;
}

TEST(Objective, DefaultRuleDropsNonScalarEntries) {
  json metrics = hf_metrics();
  metrics["eval_model"] = "bert-base";
  metrics["eval_per_class_f1"] = json::array({0.7, 0.9});
  metrics["eval_report"] = json::object({{"f1", 0.8}});
  metrics["eval_extra"] = nullptr;
  metrics["eval_converged"] = true;
  const ObjectiveValue v = evaluate_one("", "", metrics);
  EXPECT_NEAR(v.value, 1.7, 1e-12);
  for (const char* key :
       {"eval_model", "eval_per_class_f1", "eval_report", "eval_extra", "eval_converged"}) {
    const DroppedMetric* d = find_dropped(v, key);
    ASSERT_NE(d, nullptr) << key;
    EXPECT_TRUE(has(d->reason, "cusweep drops it")) << d->reason;
  }
  EXPECT_TRUE(has(find_dropped(v, "eval_converged")->reason, "summed it as 0/1"));
  EXPECT_TRUE(has(find_dropped(v, "eval_model")->reason, "string"));
  EXPECT_TRUE(has(v.rule, "5 non-numeric keys")) << v.rule;
}

TEST(Objective, DefaultRuleWithoutQualityMetricOrLossIsAnError) {
  const json metrics = json::parse(R"({"eval_runtime": 1.0, "epoch": 1})");
  const std::string what = user_error([&] { evaluate_one("", "", metrics); });
  EXPECT_TRUE(has(what, "no quality metric and no eval_loss")) << what;
  EXPECT_TRUE(has(what, "eval_runtime")) << what;
}

TEST(Objective, DefaultRuleErrorSaysWhyEachKeyWasDropped) {
  for (const char* value : {"null", "\"0.9\"", "{\"micro\":0.9}"}) {
    const json metrics = json::parse(std::string(R"({"eval_accuracy": )") + value + "}");
    const std::string what = user_error([&] { evaluate_one("", "", metrics); });
    EXPECT_TRUE(has(what, "no quality metric and no eval_loss")) << what;
    EXPECT_TRUE(has(what, std::string("eval_accuracy = ") + value + " (cusweep drops it: "))
        << what;
    EXPECT_TRUE(has(what, "not a number")) << what;
  }
  const json null_and_epoch = json::parse(R"({"eval_accuracy": null, "epoch": 2})");
  const std::string what = user_error([&] { evaluate_one("", "", null_and_epoch); });
  EXPECT_TRUE(has(what, "a NaN written by a JSON library becomes null")) << what;
  EXPECT_TRUE(has(what, "epoch = 2 (HF drops it: training progress)")) << what;
  EXPECT_TRUE(has(user_error([] { evaluate_one("", "", json::object()); }), "metrics are empty"));
}

TEST(Objective, DefaultRuleOverUnknownMetricNeedsADirection) {
  const json metrics = json::parse(R"({"eval_loss": 0.4, "eval_custom_score": 3})");
  const std::string what = user_error([&] { evaluate_one("", "", metrics); });
  EXPECT_TRUE(has(what, "cannot infer the direction")) << what;
  EXPECT_TRUE(has(what, "eval_custom_score")) << what;
  const ObjectiveValue v = evaluate_one("", "maximize", metrics);
  EXPECT_EQ(v.direction, Direction::kMaximize);
  EXPECT_FALSE(v.direction_inferred);
  EXPECT_TRUE(v.warnings.empty()) << "unknown orientation: nothing to contradict";
}

// ---- Custom objectives.

TEST(Objective, CustomSingleMetric) {
  const ObjectiveValue v = evaluate_one("accuracy", "", hf_metrics());
  EXPECT_DOUBLE_EQ(v.value, 0.9);
  EXPECT_EQ(v.direction, Direction::kMaximize);
  EXPECT_EQ(v.rule, "custom: 1*eval_accuracy");
  EXPECT_EQ(v.dropped.size(), 5u);
  const DroppedMetric* d = find_dropped(v, "eval_f1");
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(d->reason, "not in the objective");
}

TEST(Objective, CustomWeightedSum) {
  const ObjectiveValue v = evaluate_one("eval_accuracy + 0.5*eval_f1", "", hf_metrics());
  EXPECT_DOUBLE_EQ(v.value, 0.9 + 0.5 * 0.8);
  EXPECT_EQ(v.rule, "custom: 1*eval_accuracy + 0.5*eval_f1");
  EXPECT_EQ(v.direction, Direction::kMaximize);
  EXPECT_EQ(find_dropped(v, "eval_accuracy"), nullptr);
}

TEST(Objective, MissingMetricNamesItListsKeysAndSuggests) {
  const std::string what = user_error([] { evaluate_one("eval_accuracyy", "", hf_metrics()); });
  EXPECT_TRUE(has(what, "'eval_accuracyy'")) << what;
  EXPECT_TRUE(has(what, "available: ")) << what;
  EXPECT_TRUE(has(what, "eval_runtime")) << what;
  EXPECT_TRUE(has(what, "did you mean 'eval_accuracy'?")) << what;
}

TEST(Objective, NonNumericTermIsAnError) {
  json metrics = hf_metrics();
  metrics["eval_f1"] = "0.8";
  const std::string what = user_error([&] { evaluate_one("eval_f1", "", metrics); });
  EXPECT_TRUE(has(what, "'eval_f1'")) << what;
  EXPECT_TRUE(has(what, "not a number")) << what;
}

TEST(Objective, NanPropagatesIntoTheValue) {
  json metrics = hf_metrics();
  metrics["eval_loss"] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_TRUE(std::isnan(evaluate_one("eval_loss", "", metrics).value));
  metrics["eval_f1"] = std::numeric_limits<double>::quiet_NaN();
  EXPECT_TRUE(std::isnan(evaluate_one("", "", metrics).value));
  EXPECT_TRUE(std::isnan(evaluate_one("accuracy+f1", "", metrics).value));
  metrics["eval_accuracy"] = std::numeric_limits<double>::infinity();
  EXPECT_TRUE(std::isinf(evaluate_one("accuracy", "", metrics).value));
}

TEST(Objective, NonFiniteValueCarriesAWarningSayingWhy) {
  const json huge = json::parse(R"({"eval_accuracy": 1e308, "eval_f1": 1e308})");
  const ObjectiveValue sum = evaluate_one("", "", huge);
  EXPECT_TRUE(std::isinf(sum.value));
  ASSERT_EQ(sum.warnings.size(), 1u);
  EXPECT_TRUE(has(sum.warnings[0],
                  "objective is inf: eval_accuracy (1e+308) + eval_f1 (1e+308) "
                  "overflows a double"))
      << sum.warnings[0];
  const ObjectiveValue weighted = evaluate_one("2*accuracy", "", huge);
  ASSERT_EQ(weighted.warnings.size(), 1u);
  EXPECT_TRUE(has(weighted.warnings[0], "objective is inf: 2*eval_accuracy"))
      << weighted.warnings[0];

  json metrics = hf_metrics();
  metrics["eval_f1"] = std::numeric_limits<double>::quiet_NaN();
  const ObjectiveValue nan = evaluate_one("", "", metrics);
  ASSERT_EQ(nan.warnings.size(), 1u);
  EXPECT_TRUE(has(nan.warnings[0], "objective is nan: eval_f1 is nan")) << nan.warnings[0];
  metrics["eval_f1"] = -std::numeric_limits<double>::infinity();
  const std::vector<ObjectiveValue> two =
      evaluate_objective(parse_objective_spec("accuracy,f1", ""), metrics);
  EXPECT_TRUE(two[0].warnings.empty());
  ASSERT_EQ(two[1].warnings.size(), 1u);
  EXPECT_EQ(two[1].warnings[0].rfind("objective[1]: objective is -inf: eval_f1 is -inf", 0), 0u)
      << two[1].warnings[0];
}

TEST(Objective, UnprefixedHfKeysAreNotRenamed) {
  for (const char* key : {"epoch", "step", "global_step", "total_flos"}) {
    const ObjectiveSpec spec = parse_objective_spec(key, "maximize");
    EXPECT_EQ(spec.objectives[0].terms[0].metric, key);
  }
  const ObjectiveValue epoch = evaluate_one("epoch", "maximize", hf_metrics());
  EXPECT_DOUBLE_EQ(epoch.value, 3);
  EXPECT_EQ(epoch.rule, "custom: 1*epoch");
  EXPECT_EQ(find_dropped(epoch, "epoch"), nullptr);

  // Any other bare name gets eval_ unless only the bare key is there.
  json metrics = hf_metrics();
  metrics["num_samples"] = 120;
  const ObjectiveValue bare = evaluate_one("accuracy - 0.001*num_samples", "maximize", metrics);
  EXPECT_DOUBLE_EQ(bare.value, 0.9 - 0.12);
  ASSERT_EQ(bare.terms.size(), 2u);
  EXPECT_EQ(bare.terms[1].metric, "num_samples");
  EXPECT_EQ(find_dropped(bare, "num_samples"), nullptr);
  EXPECT_EQ(bare.rule, "custom: 1*eval_accuracy - 0.001*num_samples");
  metrics["eval_num_samples"] = 100;  // both there: the eval_ one
  EXPECT_DOUBLE_EQ(evaluate_one("num_samples", "maximize", metrics).value, 100);

  // Missing both ways: the error names the normalized name.
  const std::string what = user_error([] { evaluate_one("epochs", "maximize", hf_metrics()); });
  EXPECT_TRUE(has(what, "'eval_epochs'")) << what;
}

// ---- Directions.

TEST(Objective, MetricDirectionByName) {
  EXPECT_EQ(metric_direction("eval_accuracy"), Direction::kMaximize);
  EXPECT_EQ(metric_direction("eval_f1"), Direction::kMaximize);
  EXPECT_EQ(metric_direction("test_roc_auc"), Direction::kMaximize);
  EXPECT_EQ(metric_direction("eval_matthews_correlation"), Direction::kMaximize);
  EXPECT_EQ(metric_direction("eval_rouge1"), Direction::kMaximize);
  EXPECT_EQ(metric_direction("eval_exact_match"), Direction::kMaximize);
  EXPECT_EQ(metric_direction("eval_loss"), Direction::kMinimize);
  EXPECT_EQ(metric_direction("train_loss"), Direction::kMinimize);
  EXPECT_EQ(metric_direction("eval_wer"), Direction::kMinimize);
  EXPECT_EQ(metric_direction("eval_rmse"), Direction::kMinimize);
  EXPECT_EQ(metric_direction("eval_perplexity"), Direction::kMinimize);
  EXPECT_EQ(metric_direction("eval_mean_absolute_error"), Direction::kMinimize);
  EXPECT_EQ(metric_direction("eval_runtime"), std::nullopt);
  EXPECT_EQ(metric_direction("eval_custom_score"), std::nullopt);
  // Abbreviations are whole words: "answer" is not WER, "mape" is not MAP.
  EXPECT_EQ(metric_direction("eval_answer_f1"), Direction::kMaximize);
  EXPECT_EQ(metric_direction("eval_mape"), Direction::kMinimize);
}

TEST(Objective, DirectionInferredFromMetrics) {
  EXPECT_EQ(evaluate_one("accuracy", "", hf_metrics()).direction, Direction::kMaximize);
  const ObjectiveValue loss = evaluate_one("eval_loss", "", hf_metrics());
  EXPECT_EQ(loss.direction, Direction::kMinimize);
  EXPECT_TRUE(loss.direction_inferred);
}

TEST(Objective, MixedDirectionsCannotBeInferred) {
  const std::string what = user_error([] { evaluate_one("accuracy+loss", "", hf_metrics()); });
  EXPECT_TRUE(has(what, "cannot infer the direction")) << what;
  EXPECT_TRUE(has(what, "eval_accuracy")) << what;
  EXPECT_TRUE(has(what, "eval_loss")) << what;
  // With a direction there is nothing to infer, and no warning: the terms disagree anyway.
  const ObjectiveValue v = evaluate_one("accuracy+loss", "max", hf_metrics());
  EXPECT_EQ(v.direction, Direction::kMaximize);
  EXPECT_TRUE(v.warnings.empty());
}

TEST(Objective, NegativeWeightFlipsTheOrientation) {
  const ObjectiveValue v = evaluate_one("accuracy - loss", "", hf_metrics());
  EXPECT_DOUBLE_EQ(v.value, 0.9 - 0.4);
  EXPECT_EQ(v.direction, Direction::kMaximize);
  EXPECT_TRUE(v.direction_inferred);
  EXPECT_EQ(evaluate_one("-accuracy", "", hf_metrics()).direction, Direction::kMinimize);
  EXPECT_EQ(evaluate_one("loss - 0.1*f1", "", hf_metrics()).direction, Direction::kMinimize);
}

TEST(Objective, MinimizingAccuracyAndF1Warns) {
  const ObjectiveValue v = evaluate_one("", "minimize", hf_metrics());
  EXPECT_EQ(v.direction, Direction::kMinimize) << "the user's direction is kept";
  EXPECT_FALSE(v.direction_inferred);
  ASSERT_EQ(v.warnings.size(), 1u);
  const std::string& w = v.warnings[0];
  EXPECT_TRUE(has(w, "direction 'minimize' contradicts the objective")) << w;
  EXPECT_TRUE(has(w, "eval_accuracy + eval_f1 measure quality (higher is better)")) << w;
  EXPECT_TRUE(has(w, "HF's default direction is minimize")) << w;
  EXPECT_TRUE(has(w, "did you mean 'maximize'?")) << w;
}

TEST(Objective, MaximizingLossWarns) {
  const ObjectiveValue v = evaluate_one("eval_loss", "maximize", hf_metrics());
  EXPECT_EQ(v.direction, Direction::kMaximize);
  ASSERT_EQ(v.warnings.size(), 1u);
  EXPECT_TRUE(has(v.warnings[0], "eval_loss measures error (lower is better)")) << v.warnings[0];
  EXPECT_TRUE(has(v.warnings[0], "did you mean 'minimize'?")) << v.warnings[0];
  EXPECT_TRUE(evaluate_one("eval_loss", "minimize", hf_metrics()).warnings.empty());
}

// ---- Parsing the command-line form.

TEST(ObjectiveSpec, EmptyAndDefaultAreTheDefaultRule) {
  for (const char* text : {"", "  ", "default", " Default "}) {
    const ObjectiveSpec spec = parse_objective_spec(text, "");
    ASSERT_EQ(spec.objectives.size(), 1u) << text;
    EXPECT_TRUE(spec.objectives[0].use_default_rule) << text;
    EXPECT_FALSE(spec.objectives[0].direction.has_value());
  }
}

TEST(ObjectiveSpec, TermsWeightsAndPrefixes) {
  const ObjectiveSpec spec = parse_objective_spec(" accuracy +0.5 * f1 - 2e-1*test_loss", "max");
  ASSERT_EQ(spec.objectives.size(), 1u);
  const ObjectiveDef& def = spec.objectives[0];
  EXPECT_FALSE(def.use_default_rule);
  ASSERT_EQ(def.terms.size(), 3u);
  EXPECT_EQ(def.terms[0].metric, "eval_accuracy");
  EXPECT_DOUBLE_EQ(def.terms[0].weight, 1.0);
  EXPECT_EQ(def.terms[1].metric, "eval_f1");
  EXPECT_DOUBLE_EQ(def.terms[1].weight, 0.5);
  EXPECT_EQ(def.terms[2].metric, "test_loss");
  EXPECT_DOUBLE_EQ(def.terms[2].weight, -0.2);
  EXPECT_EQ(def.direction, Direction::kMaximize);
}

TEST(ObjectiveSpec, SeveralObjectivesWithOneDirectionEach) {
  const ObjectiveSpec spec = parse_objective_spec("eval_f1, eval_loss", "maximize,min");
  ASSERT_EQ(spec.objectives.size(), 2u);
  EXPECT_EQ(spec.objectives[0].terms[0].metric, "eval_f1");
  EXPECT_EQ(spec.objectives[1].terms[0].metric, "eval_loss");
  EXPECT_EQ(spec.objectives[0].direction, Direction::kMaximize);
  EXPECT_EQ(spec.objectives[1].direction, Direction::kMinimize);
  EXPECT_EQ(parse_objective_spec("default,eval_loss", "").objectives.size(), 2u);
}

TEST(ObjectiveSpec, TheSameObjectiveTwiceIsAnError) {
  EXPECT_TRUE(has(user_error([] { parse_objective_spec("eval_accuracy,accuracy", ""); }),
                  "objective 2 repeats objective 1"));
  const json list = {"eval_y1", "eval_y2", "eval_y1"};
  EXPECT_TRUE(has(user_error([&] { parse_objective_json(&list, nullptr, ""); }),
                  "objective 3 repeats objective 1"));
  // Different weights are different objectives.
  EXPECT_EQ(parse_objective_spec("eval_f1+eval_loss,eval_f1+2*eval_loss", "").objectives.size(),
            2u);
}

TEST(ObjectiveSpec, BadStringsNameTheSpecAndTheBadPart) {
  struct Case {
    const char* objective;
    const char* direction;
    const char* expected;
  };
  const Case cases[] = {
      {"eval_f1*2", "", "a weight goes before its metric"},
      {"0.5*", "", "expected a metric name at the end"},
      {"eval_f1 eval_loss", "", "at 'eval_loss'"},
      {"eval_f1,,eval_loss", "", "empty objective"},
      {"eval_f1,", "", "empty objective"},
      {"--eval_f1", "", "two signs in a row"},
      {"inf*eval_f1", "", "finite"},
      {"f1 + eval_f1", "", "appears twice"},
      {"default+eval_f1", "", "'default' stands alone"},
      {"eval_f1,eval_loss", "maximize", "1 direction for the 2 objectives"},
      {"eval_f1", "maximize,minimize", "2 directions for the objective"},
      {"eval_f1", "maximise", "did you mean 'maximize'?"},
  };
  for (const Case& c : cases) {
    const std::string what = user_error([&] { parse_objective_spec(c.objective, c.direction); });
    EXPECT_TRUE(has(what, c.expected)) << c.objective << " / " << c.direction << ": " << what;
    if (std::string(c.direction).empty()) {
      EXPECT_TRUE(has(what, std::string("objective '") + c.objective + "'")) << what;
    }
  }
}

// ---- Parsing the config form.

TEST(ObjectiveJson, AbsentNullAndStringForms) {
  EXPECT_TRUE(parse_objective_json(nullptr, nullptr).objectives.at(0).use_default_rule);
  const json null_value;
  EXPECT_TRUE(parse_objective_json(&null_value, &null_value).objectives.at(0).use_default_rule);
  const json text = "accuracy+0.5*f1";
  const json direction = "maximize";
  const ObjectiveSpec spec = parse_objective_json(&text, &direction);
  ASSERT_EQ(spec.objectives.at(0).terms.size(), 2u);
  EXPECT_EQ(spec.objectives[0].terms[1].metric, "eval_f1");
  EXPECT_EQ(spec.objectives[0].direction, Direction::kMaximize);
}

TEST(ObjectiveJson, ObjectOfWeights) {
  const json objective = json::parse(R"({"accuracy": 1, "eval_f1": 0.5})");
  const ObjectiveSpec spec = parse_objective_json(&objective, nullptr);
  const ObjectiveDef& def = spec.objectives.at(0);
  ASSERT_EQ(def.terms.size(), 2u);
  EXPECT_EQ(def.terms[0].metric, "eval_accuracy");
  EXPECT_EQ(def.terms[1].metric, "eval_f1");
  EXPECT_DOUBLE_EQ(def.terms[1].weight, 0.5);
  EXPECT_FALSE(def.direction.has_value());
}

TEST(ObjectiveJson, ListOfObjectivesWithDirections) {
  const json objective = json::parse(R"(["eval_f1", {"eval_loss": 1}, "default"])");
  const json direction = json::parse(R"(["maximize", "minimize", null])");
  const ObjectiveSpec spec = parse_objective_json(&objective, &direction);
  ASSERT_EQ(spec.objectives.size(), 3u);
  EXPECT_EQ(spec.objectives[0].direction, Direction::kMaximize);
  EXPECT_EQ(spec.objectives[1].direction, Direction::kMinimize);
  EXPECT_FALSE(spec.objectives[2].direction.has_value());
  EXPECT_TRUE(spec.objectives[2].use_default_rule);
}

TEST(ObjectiveJson, ErrorsNameTheKeyPath) {
  const json bad_entry = json::parse(R"(["eval_f1", 3])");
  EXPECT_TRUE(has(user_error([&] { parse_objective_json(&bad_entry, nullptr); }), "objective[1]"));
  const json bad_weight = json::parse(R"({"eval_f1": "high"})");
  EXPECT_TRUE(has(user_error([&] { parse_objective_json(&bad_weight, nullptr, "study"); }),
                  "study.objective.eval_f1"));
  const json two = json::parse(R"(["eval_f1", "eval_loss"])");
  const json one_direction = "maximize";
  EXPECT_TRUE(has(user_error([&] { parse_objective_json(&two, &one_direction); }),
                  "direction 'maximize' gives 1 direction for the 2 objectives"));
  const json short_list = json::parse(R"(["maximize"])");
  EXPECT_TRUE(has(user_error([&] { parse_objective_json(&two, &short_list); }), "direction:"));
  const json bad_direction = json::parse(R"(["maximize", "upward"])");
  EXPECT_TRUE(has(user_error([&] { parse_objective_json(&two, &bad_direction); }),
                  "direction[1]: unknown direction 'upward'"));
  const json number = 5;
  EXPECT_TRUE(has(user_error([&] { parse_objective_json(&number, nullptr); }), "objective:"));
  const json comma_entry = json::parse(R"(["eval_f1,eval_loss"])");
  EXPECT_TRUE(has(user_error([&] { parse_objective_json(&comma_entry, nullptr); }),
                  "one objective per list entry"));
}

// ---- Several objectives and the Pareto front.

TEST(Objective, SeveralObjectivesEvaluateEach) {
  const std::vector<ObjectiveValue> values =
      evaluate_objective(parse_objective_spec("f1,loss", ""), hf_metrics());
  ASSERT_EQ(values.size(), 2u);
  EXPECT_DOUBLE_EQ(values[0].value, 0.8);
  EXPECT_EQ(values[0].direction, Direction::kMaximize);
  EXPECT_DOUBLE_EQ(values[1].value, 0.4);
  EXPECT_EQ(values[1].direction, Direction::kMinimize);
  const std::string what = user_error(
      [] { evaluate_objective(parse_objective_spec("f1,eval_custom", ""), hf_metrics()); });
  EXPECT_TRUE(has(what, "objective[1]")) << what;
}

TEST(Pareto, DominatesNeedsStrictlyBetterSomewhere) {
  const std::vector<Direction> max2 = {Direction::kMaximize, Direction::kMaximize};
  EXPECT_TRUE(dominates({2, 2}, {1, 2}, max2));
  EXPECT_FALSE(dominates({2, 2}, {2, 2}, max2));
  EXPECT_FALSE(dominates({2, 1}, {1, 2}, max2));
  EXPECT_THROW(dominates({1}, {1, 2}, max2), std::invalid_argument);
}

TEST(Pareto, FrontKeepsNonDominatedPointsAndTies) {
  // maximize both:      (1,5) (2,4) (2,4) (3,3) (1,1) (2,3) (3,1)
  // (1,1) is dominated by all; (2,3) by (2,4) and (3,3); (3,1) by (3,3).
  // The two (2,4) tie: neither dominates the other, so both stay.
  const std::vector<std::vector<double>> points = {{1, 5}, {2, 4}, {2, 4}, {3, 3},
                                                   {1, 1}, {2, 3}, {3, 1}};
  const std::vector<Direction> max2 = {Direction::kMaximize, Direction::kMaximize};
  EXPECT_EQ(pareto_front(points, max2), (std::vector<size_t>{0, 1, 2, 3}));
}

TEST(Pareto, NondominationRanksPeelFrontsInTurn) {
  // minimize both: front 0 = (1,5) (2,2) (5,1); front 1 = (3,3) (6,2); front 2 = (4,4).
  const std::vector<std::vector<double>> points = {{3, 3}, {1, 5}, {4, 4}, {2, 2},
                                                   {5, 1}, {6, 2}, {2, 2}};
  EXPECT_EQ(nondomination_ranks(points), (std::vector<int>{1, 0, 2, 0, 0, 1, 0}));
  // Enough once the first front (4 points, with the tie) is in: the rest share rank 1.
  EXPECT_EQ(nondomination_ranks(points, 3), (std::vector<int>{1, 0, 1, 0, 0, 1, 0}));
  EXPECT_TRUE(nondomination_ranks({}).empty());
}

TEST(Pareto, CrowdingDistanceFavoursIsolatedPoints) {
  // Along a line of 2-D points, extremes are infinitely far; the others sum their normalized
  // neighbour gaps over both objectives.
  const std::vector<std::vector<double>> points = {{0, 4}, {1, 3}, {3, 1}, {4, 0}};
  const std::vector<double> d = crowding_distances(points);
  EXPECT_TRUE(std::isinf(d[0]) && std::isinf(d[3]));
  EXPECT_DOUBLE_EQ(d[1], 3.0 / 4 + 3.0 / 4);
  EXPECT_DOUBLE_EQ(d[2], 3.0 / 4 + 3.0 / 4);
  const std::vector<double> same = crowding_distances({{1, 1}, {1, 1}, {1, 1}});
  EXPECT_TRUE(std::isinf(same[0]));
  EXPECT_EQ(same[1], 0.0);
}

TEST(Pareto, HypervolumeOfTwoObjectives) {
  // Reference (4, 4): (1,3) adds 3x1, (2,1) adds 2x2 below it, (3,3) is dominated, (5,0) lies
  // outside the box.
  EXPECT_DOUBLE_EQ(hypervolume_2d({{1, 3}, {2, 1}, {3, 3}, {5, 0}}, {4, 4}), 3.0 + 4.0);
  EXPECT_DOUBLE_EQ(hypervolume_2d({}, {4, 4}), 0.0);
  EXPECT_DOUBLE_EQ(hypervolume_2d({{0, 0}}, {4, 4}), 16.0);
}

TEST(Pareto, MixedDirections) {
  // (f1 maximized, loss minimized): (0.9, 0.3) dominates (0.8, 0.4) and (0.9, 0.5);
  // (0.95, 0.6) trades loss for f1 and stays; (0.7, 0.2) has the best loss and stays.
  const std::vector<std::vector<double>> points = {
      {0.8, 0.4}, {0.9, 0.3}, {0.95, 0.6}, {0.9, 0.5}, {0.7, 0.2}};
  const std::vector<Direction> dirs = {Direction::kMaximize, Direction::kMinimize};
  EXPECT_EQ(pareto_front(points, dirs), (std::vector<size_t>{1, 2, 4}));
}

TEST(Pareto, NanPointsNeverJoinTheFront) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const std::vector<Direction> max2 = {Direction::kMaximize, Direction::kMaximize};
  EXPECT_EQ(pareto_front({{1, 1}, {nan, 9}}, max2), (std::vector<size_t>{0}));
  EXPECT_TRUE(pareto_front({}, max2).empty());
}

// ---- Explanations.

TEST(Objective, ExplainJsonHasExactlyTheDocumentedKeys) {
  const json metrics = hf_metrics();
  const json e = explain_json(evaluate_one("", "", metrics), metrics);
  std::vector<std::string> keys;
  for (auto it = e.begin(); it != e.end(); ++it)
    keys.push_back(it.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"direction", "direction_inferred", "dropped",
                                            "objective", "rule", "terms", "warnings"}));
  EXPECT_EQ(e["objective"].get<double>(), 1.7) << "printed with 15 significant digits";
  EXPECT_EQ(e["direction"], "maximize");
  EXPECT_EQ(e["terms"][1], json::parse(R"({"metric": "eval_f1", "weight": 1.0, "value": 0.8})"));
  EXPECT_EQ(e["dropped"].size(), 4u);
  EXPECT_TRUE(e["dropped"][0].contains("key"));
  EXPECT_TRUE(e["dropped"][0].contains("reason"));
  EXPECT_TRUE(e["warnings"].is_array());
}

TEST(Objective, ExplainTextShowsFormulaValueDirectionAndDrops) {
  const json metrics = hf_metrics();
  const std::string text = explain_text(evaluate_one("", "minimize", metrics), metrics);
  EXPECT_TRUE(has(text, "eval_accuracy (0.9) + eval_f1 (0.8) = 1.7\n")) << text;
  EXPECT_TRUE(has(text, "direction: minimize (given)")) << text;
  EXPECT_TRUE(has(text, "eval_runtime: HF drops it: speed metric")) << text;
  EXPECT_TRUE(has(text, "warning: direction 'minimize' contradicts")) << text;
}

// ---- `cusweep objective`.

TEST(ObjectiveCommand, JsonOutputForOneObjective) {
  std::istringstream in(hf_metrics().dump());
  std::ostringstream out, err;
  ASSERT_EQ(run_objective_command("-", "", "", true, in, out, err), 0) << err.str();
  const json result = json::parse(out.str());
  EXPECT_EQ(result["objective"].get<double>(), 1.7);
  EXPECT_EQ(result["direction"], "maximize");
  EXPECT_EQ(result["direction_inferred"], true);
  EXPECT_EQ(result["terms"].size(), 2u);
  EXPECT_EQ(result["dropped"].size(), 4u);
  EXPECT_TRUE(result["warnings"].empty());
  EXPECT_TRUE(err.str().empty()) << err.str();
}

TEST(ObjectiveCommand, LossOnlyGivesLossMinimized) {
  json metrics = hf_metrics();
  metrics.erase("eval_accuracy");
  metrics.erase("eval_f1");
  std::istringstream in(metrics.dump());
  std::ostringstream out, err;
  ASSERT_EQ(run_objective_command("", "", "", true, in, out, err), 0) << err.str();
  const json result = json::parse(out.str());
  EXPECT_EQ(result["objective"].get<double>(), 0.4);
  EXPECT_EQ(result["direction"], "minimize");
}

TEST(ObjectiveCommand, WarningsGoToErr) {
  std::istringstream in(hf_metrics().dump());
  std::ostringstream out, err;
  ASSERT_EQ(run_objective_command("-", "", "minimize", false, in, out, err), 0);
  EXPECT_TRUE(has(err.str(), "warning: direction 'minimize' contradicts")) << err.str();
  EXPECT_TRUE(has(out.str(), "= 1.7")) << out.str();
  EXPECT_FALSE(has(out.str(), "warning:")) << out.str();  // said once, on err
}

TEST(ObjectiveCommand, SeveralObjectivesAsJson) {
  std::istringstream in(hf_metrics().dump());
  std::ostringstream out, err;
  ASSERT_EQ(run_objective_command("-", "f1,loss", "minimize,minimize", true, in, out, err), 0);
  const json result = json::parse(out.str());
  EXPECT_EQ(result["objective"], json::parse("[0.8, 0.4]"));
  ASSERT_EQ(result["objectives"].size(), 2u);
  EXPECT_EQ(result["objectives"][1]["direction"], "minimize");
  ASSERT_EQ(result["warnings"].size(), 1u);
  EXPECT_TRUE(has(result["warnings"][0].get<std::string>(), "objective[0]"));
}

TEST(ObjectiveCommand, BadJsonNamesTheLineAndReturns2) {
  std::istringstream in("{\n  \"eval_loss\": 0.4,\n  \"eval_f1\": oops\n}\n");
  std::ostringstream out, err;
  EXPECT_EQ(run_objective_command("-", "", "", false, in, out, err), 2);
  EXPECT_TRUE(has(err.str(), "error: <stdin>:3:14: invalid JSON")) << err.str();
  EXPECT_TRUE(has(err.str(), "hint: ")) << err.str();
  EXPECT_TRUE(out.str().empty());
}

TEST(ObjectiveCommand, InfiniteObjectiveIsNullWithAWarning) {
  std::istringstream in(R"({"eval_accuracy": 1e308, "eval_f1": 1e308})");
  std::ostringstream out, err;
  ASSERT_EQ(run_objective_command("-", "", "", true, in, out, err), 0) << err.str();
  const json result = json::parse(out.str());
  EXPECT_TRUE(result["objective"].is_null());
  ASSERT_EQ(result["warnings"].size(), 1u);
  EXPECT_TRUE(has(result["warnings"][0].get<std::string>(), "objective is inf")) << out.str();
  EXPECT_TRUE(has(err.str(), "warning: objective is inf")) << err.str();
}

TEST(ObjectiveCommand, FolderDeepNestingAndFileErrorsUseTheSharedParser) {
  const std::string dir = ::testing::TempDir() + "cusweep_objective_XXXXXX";
  std::string folder = dir;
  ASSERT_NE(mkdtemp(folder.data()), nullptr);
  std::istringstream unused;
  std::ostringstream out, err;
  EXPECT_EQ(run_objective_command(folder, "", "", false, unused, out, err), 2);
  EXPECT_TRUE(has(err.str(), "error: " + folder + " is a folder, not a file")) << err.str();
  EXPECT_FALSE(has(err.str(), "invalid JSON")) << err.str();

  const std::string file = folder + "/metrics.json";
  std::ofstream(file) << "{\"eval_loss\": 0.4,\n \"eval_f1\": }\n";
  err.str("");
  EXPECT_EQ(run_objective_command(file, "", "", false, unused, out, err), 2);
  EXPECT_TRUE(has(err.str(), "error: " + file + ":2:")) << err.str();
  EXPECT_TRUE(has(err.str(), "hint: the metrics must be one JSON object")) << err.str();
  std::remove(file.c_str());
  rmdir(folder.c_str());

  std::istringstream deep(std::string(100000, '[') + std::string(100000, ']'));
  err.str("");
  EXPECT_EQ(run_objective_command("-", "", "", false, deep, out, err), 2);
  EXPECT_TRUE(has(err.str(), "<stdin>: JSON nested deeper than")) << err.str();
  EXPECT_TRUE(out.str().empty()) << out.str();
}

TEST(ObjectiveCommand, NotAnObjectMissingFileAndMissingMetric) {
  std::ostringstream out, err;
  std::istringstream array("[1, 2]");
  EXPECT_EQ(run_objective_command("-", "", "", false, array, out, err), 2);
  EXPECT_TRUE(has(err.str(), "expected a JSON object")) << err.str();

  std::istringstream unused;
  err.str("");
  EXPECT_EQ(run_objective_command("/nonexistent/metrics.json", "", "", false, unused, out, err), 2);
  EXPECT_TRUE(has(err.str(), "cannot read metrics file '/nonexistent/metrics.json'")) << err.str();

  std::istringstream in(hf_metrics().dump());
  err.str("");
  EXPECT_EQ(run_objective_command("-", "eval_acuracy", "", false, in, out, err), 2);
  EXPECT_TRUE(has(err.str(), "did you mean 'eval_accuracy'?")) << err.str();
}

}  // namespace
}  // namespace cusweep
