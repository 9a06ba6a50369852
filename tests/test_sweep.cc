// End-to-end sweeps on the CPU backend with real data: learning, determinism across
// concurrency, NaN trials, objectives recomputed from the recorded metrics, result files,
// trials that continue from their checkpoints.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sqlite3.h>
#include <zlib.h>

#include <atomic>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include "checkpoint.h"
#include "cusweep/config.h"
#include "cusweep/error.h"
#include "cusweep/log.h"
#include "cusweep/runner.h"
#include "log_capture.h"
#include "results.h"
#include "study_store.h"

namespace cusweep {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

const char* kFashionDir = "/usr/share/datasets/fashion-mnist";
const char* kDigitsCsv = "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz";

// Fails the test on any warning or error logged while it runs, except the ones it expects
// (STYLE.md habit 10: tests fail on unexpected warnings).
class LogGuard {
 public:
  explicit LogGuard(std::vector<std::string> expected = {}) : expected_(std::move(expected)) {
    previous_ = set_log_sink([this](LogLevel level, const std::string& m) {
      if (level < LogLevel::kWarning) return;
      for (const auto& e : expected_) {
        if (m.find(e) != std::string::npos) return;
      }
      ADD_FAILURE() << "unexpected " << log_level_name(level) << ": " << m;
    });
  }
  ~LogGuard() { set_log_sink(previous_); }

 private:
  std::vector<std::string> expected_;
  LogSink previous_;
};

std::string temp_dir(const std::string& name) {
  const auto dir = std::filesystem::path(::testing::TempDir()) / ("cusweep_" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

json fashion_config(int n_trials, int concurrent) {
  json j = json::parse(R"({
    "name": "fm_test",
    "data": {"format": "idx", "dir": "/usr/share/datasets/fashion-mnist", "scaling": "unit",
             "max_train_samples": 3000, "max_eval_samples": 1000},
    "training": {"num_train_epochs": 2, "per_device_train_batch_size": 64},
    "metrics": ["accuracy", "f1"],
    "search_space": {
      "learning_rate": {"type": "loguniform", "low": 1e-3, "high": 1e-2},
      "hidden_sizes": {"type": "choice", "values": [[32], [64, 32]]},
      "activation": ["relu", "tanh", "gelu"],
      "optim": {"type": "choice", "values": ["adamw", "sgd"]}
    },
    "seed": 7
  })");
  j["n_trials"] = n_trials;
  j["max_concurrent_trials"] = concurrent;
  return j;
}

SweepResult run(const json& j, const std::string& out_dir = "") {
  const SweepConfig config = parse_sweep_config(j, "test.json", ".");
  RunOptions options;
  options.out_dir = out_dir;
  options.backend = "cpu";
  return run_sweep(config, options);
}

// The metrics that describe the model (not the speed measurements, which vary run to run).
json quality(const json& metrics) {
  json q = metrics;
  for (const char* k : {"eval_runtime", "eval_samples_per_second", "eval_steps_per_second"}) {
    q.erase(k);
  }
  return q;
}

class SweepTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kFashionDir)) {
      GTEST_SKIP() << kFashionDir << " missing: apt-get install dataset-fashion-mnist";
    }
  }
};

TEST_F(SweepTest, LearnsFashionMnistWellAboveChance) {
  LogGuard guard;
  const SweepResult r = run(fashion_config(3, 2));
  ASSERT_EQ(r.best.size(), 1u);
  const TrialRecord& best = r.trials[r.best[0]];
  EXPECT_EQ(best.status, TrialStatus::kTerminated);
  // 10 classes: chance is 0.1. 3000 samples and 2 epochs reach about 0.75.
  EXPECT_GT(best.metrics["eval_accuracy"].get<double>(), 0.65);
  EXPECT_EQ(best.history.size(), 2u);
  EXPECT_LT(best.history[1]["train_loss"].get<double>(),
            best.history[0]["train_loss"].get<double>());
}

TEST_F(SweepTest, MetricsAreBitIdenticalWhateverTheConcurrency) {
  LogGuard guard;
  const SweepResult serial = run(fashion_config(5, 1));
  const SweepResult parallel = run(fashion_config(5, 3));
  ASSERT_EQ(serial.trials.size(), parallel.trials.size());
  for (size_t i = 0; i < serial.trials.size(); ++i) {
    EXPECT_EQ(serial.trials[i].searched, parallel.trials[i].searched);
    ASSERT_EQ(serial.trials[i].history.size(), parallel.trials[i].history.size());
    for (size_t e = 0; e < serial.trials[i].history.size(); ++e) {
      EXPECT_EQ(quality(serial.trials[i].history[e]["metrics"]).dump(),
                quality(parallel.trials[i].history[e]["metrics"]).dump())
          << "trial " << i << " evaluation " << e;
      EXPECT_EQ(serial.trials[i].history[e]["train_loss"],
                parallel.trials[i].history[e]["train_loss"]);
    }
    EXPECT_EQ(serial.trials[i].confusion.counts, parallel.trials[i].confusion.counts);
  }
}

TEST_F(SweepTest, DivergingTrialFailsWithReasonAndTheSweepGoesOn) {
  LogGuard guard({"failed"});
  json j = fashion_config(2, 2);
  j["search_space"] = json::parse(R"({"learning_rate": {"type": "grid", "values": [0.01, 1e30]}})");
  j["training"]["optim"] = "sgd";
  const SweepResult r = run(j);
  EXPECT_EQ(r.trials[0].status, TrialStatus::kTerminated);
  EXPECT_EQ(r.trials[1].status, TrialStatus::kError);
  EXPECT_THAT(r.trials[1].error, HasSubstr("loss"));
  EXPECT_THAT(r.trials[1].error, ::testing::AnyOf(HasSubstr("nan"), HasSubstr("inf")));
  EXPECT_THAT(r.trials[1].error, ::testing::Not(HasSubstr("-nan")));  // NaN has no sign to say
  ASSERT_EQ(r.best, std::vector<size_t>{0});
}

// Read back from its study, a diverged trial keeps its NaN loss (JSON writes it as null) and
// no objective, as the run wrote it.
TEST_F(SweepTest, ADivergedTrialReadsBackFromItsStudyAsItRan) {
  LogGuard guard({"failed"});
  json j = fashion_config(2, 2);
  j["search_space"] = json::parse(R"({"learning_rate": {"type": "grid", "values": [0.01, 1e30]}})");
  j["training"]["optim"] = "sgd";
  const std::string out = temp_dir("diverged_study");
  const SweepResult ran = run(j, out);
  const StudySnapshot read = read_study(out);
  const TrialRecord& t = read.result.trials[1];
  ASSERT_EQ(t.status, TrialStatus::kError);
  EXPECT_TRUE(t.objective.empty());
  EXPECT_EQ(t.objective, ran.trials[1].objective);
  ASSERT_TRUE(t.metrics.contains("eval_loss"));
  EXPECT_TRUE(std::isnan(t.metrics["eval_loss"].get<double>()));
}

TEST_F(SweepTest, EveryObjectiveEqualsTheRuleAppliedToItsMetrics) {
  LogGuard guard;
  const std::string out = temp_dir("objective_rule");
  run(fashion_config(3, 2), out);
  std::ifstream in(out + "/trials.jsonl");
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    const json t = json::parse(line);
    ASSERT_EQ(t["status"], "TERMINATED");
    const json& m = t["metrics"];
    // Default rule with accuracy and F1 requested: their sum, maximized.
    EXPECT_DOUBLE_EQ(t["objective"].get<double>(),
                     m["eval_accuracy"].get<double>() + m["eval_f1"].get<double>());
    const json& explanation = t["objective_explanation"][0];
    EXPECT_EQ(explanation["direction"], "maximize");
    EXPECT_EQ(explanation["terms"].size(), 2u);
    EXPECT_EQ(t["confusion_matrix"].size(), 10u);
    EXPECT_EQ(t["history"].size(), 2u);
    ++n;
  }
  EXPECT_EQ(n, 3);
}

TEST_F(SweepTest, WritesResultsCsvAndBestJson) {
  LogGuard guard;
  const std::string out = temp_dir("files");
  const SweepResult r = run(fashion_config(2, 2), out);
  std::ifstream csv(out + "/results.csv");
  std::string header, row;
  std::getline(csv, header);
  EXPECT_THAT(header, HasSubstr("trial,status,loc,config/activation,config/hidden_sizes"));
  EXPECT_THAT(header, HasSubstr("eval_accuracy"));
  EXPECT_THAT(header, HasSubstr(",objective,error"));
  int rows = 0;
  while (std::getline(csv, row))
    ++rows;
  EXPECT_EQ(rows, 2);

  std::ifstream best_file(out + "/best.json");
  const json best = json::parse(best_file);
  EXPECT_EQ(best["best_trial"]["trial"], r.trials[r.best[0]].name);
  EXPECT_EQ(best["directions"], json::array({"maximize"}));
  EXPECT_EQ(best["objective_scope"], "last");
}

// pandas reads an empty cell and "NaN" alike, but a reader of the file sees the difference
// between a metric a trial does not have and one that is not a number.
TEST(ResultsCsvTest, MissingCellsAreEmptyAndNonNumbersAreNamed) {
  const std::string out = temp_dir("csv_cells");
  const SweepConfig config = parse_sweep_config(fashion_config(2, 1), "test.json", ".");
  SweepResult result;
  result.directions = {Direction::kMinimize};
  TrialRecord a, b;
  a.name = "a";
  a.status = TrialStatus::kTerminated;
  a.metrics = {{"eval_loss", std::nan("")}, {"eval_accuracy", 0.5}};
  a.objective = {std::numeric_limits<double>::infinity()};
  b.name = "b";
  b.status = TrialStatus::kTerminated;
  b.metrics = {{"eval_loss", -std::numeric_limits<double>::infinity()}};
  b.objective = {0.25};
  result.trials = {a, b};
  {
    ResultsWriter writer(out, config);
    writer.finish(result);
  }
  std::ifstream csv(out + "/results.csv");
  std::string header, row_a, row_b;
  std::getline(csv, header);
  std::getline(csv, row_a);
  std::getline(csv, row_b);
  EXPECT_EQ(header, "trial,status,loc,eval_accuracy,eval_loss,objective,error");
  EXPECT_EQ(row_a, "a,TERMINATED,,0.5,NaN,inf,");
  EXPECT_EQ(row_b, "b,TERMINATED,,,-inf,0.25,");
}

// A trial's error quotes whatever an exception said, a file name in another encoding among it:
// the result files are written all the same, such bytes as U+FFFD, and the CSV keeps them as
// they are.
TEST(ResultsCsvTest, TextThatIsNotUtf8IsWrittenNotThrownOn) {
  const std::string out = temp_dir("csv_bytes");
  const SweepConfig config = parse_sweep_config(fashion_config(2, 1), "test.json", ".");
  SweepResult result;
  result.directions = {Direction::kMinimize};
  TrialRecord t;
  t.name = "a";
  t.status = TrialStatus::kError;
  t.error = "cannot read /data/caf\xe9.csv";
  result.trials = {t};
  {
    ResultsWriter writer(out, config);
    writer.trial_finished(t);
    writer.finish(result);
  }
  std::ifstream jsonl(out + "/trials.jsonl");
  std::string line;
  std::getline(jsonl, line);
  EXPECT_EQ(json::parse(line)["error"], "cannot read /data/caf\uFFFD.csv");
  EXPECT_NO_THROW(json::parse(std::ifstream(out + "/best.json")));
  std::ifstream csv(out + "/results.csv");
  std::getline(csv, line);
  std::getline(csv, line);
  EXPECT_EQ(line, "a,ERROR,,,cannot read /data/caf\xe9.csv");
}

// A resume that is killed before it ends leaves the results of the study it continued (a
// consistent, earlier snapshot); a new sweep in the folder removes another sweep's at once.
TEST(ResultsCsvTest, AContinuedStudyKeepsItsResultFilesUntilReplaced) {
  const std::string out = temp_dir("csv_keep");
  const SweepConfig config = parse_sweep_config(fashion_config(2, 1), "test.json", ".");
  for (const bool continuing : {true, false}) {
    for (const char* name : {"results.csv", "best.json"})
      std::ofstream(out + "/" + name) << "earlier\n";
    {
      ResultsWriter writer(out, config, continuing);
      for (const char* name : {"results.csv", "best.json"})
        EXPECT_EQ(std::filesystem::exists(out + "/" + name), continuing) << name;
    }
  }
}

TEST_F(SweepTest, NoMetricsMeansEvalLossMinimized) {
  LogGuard guard;
  json j = fashion_config(2, 2);
  j.erase("metrics");
  const SweepResult r = run(j);
  ASSERT_EQ(r.directions, std::vector<Direction>{Direction::kMinimize});
  for (const auto& t : r.trials) {
    EXPECT_DOUBLE_EQ(t.objective[0], t.metrics["eval_loss"].get<double>());
    EXPECT_FALSE(t.metrics.contains("eval_accuracy"));
  }
}

TEST_F(SweepTest, ContradictingDirectionIsWarnedAndRecorded) {
  LogGuard guard({"contradicts"});
  json j = fashion_config(1, 1);
  j["direction"] = "minimize";
  const SweepResult r = run(j);
  ASSERT_EQ(r.warnings.size(), 1u);
  EXPECT_THAT(r.warnings[0], HasSubstr("contradicts"));
  EXPECT_EQ(r.directions[0], Direction::kMinimize);
}

TEST_F(SweepTest, BestScopeRanksByTheBestEvaluation) {
  LogGuard guard;
  json j = fashion_config(2, 2);
  j["objective_scope"] = "best";
  j["objective"] = "eval_loss";
  // The live table's last view says at which epoch each trial's objective was reached.
  std::vector<TrialRecord> shown;
  int running_with_objective = 0, running_with_epoch = 0;
  RunOptions options;
  options.backend = "cpu";
  options.progress_interval_s = 0.002;
  options.on_progress = [&](const ProgressView& view, bool final) {
    if (final) shown = view.trials;
    for (const TrialRecord& t : view.trials) {  // running trials say it too
      if (t.status != TrialStatus::kRunning || t.objective.empty()) continue;
      ++running_with_objective;
      if (t.ranked_evaluation == 0 && t.history.at(0)["metrics"]["epoch"].is_number())
        ++running_with_epoch;
    }
  };
  const SweepResult r = run_sweep(parse_sweep_config(j, "test.json", "."), options);
  ASSERT_EQ(shown.size(), r.trials.size());
  for (size_t i = 0; i < r.trials.size(); ++i) {
    const TrialRecord& t = r.trials[i];
    double best = 1e300;
    for (const auto& h : t.history)
      best = std::min(best, h["metrics"]["eval_loss"].get<double>());
    EXPECT_DOUBLE_EQ(t.objective[0], best);
    const json& ranked = t.history[t.ranked_evaluation]["metrics"]["epoch"];
    ASSERT_EQ(shown[i].ranked_evaluation, 0);
    EXPECT_EQ(shown[i].history.at(0)["metrics"]["epoch"], ranked) << t.name;
  }
  EXPECT_GT(running_with_objective, 0) << "no view caught a trial between its epochs";
  EXPECT_EQ(running_with_epoch, running_with_objective);
}

TEST_F(SweepTest, SeveralObjectivesGiveAParetoFront) {
  LogGuard guard;
  json j = fashion_config(4, 2);
  j["objective"] = json::array({"eval_accuracy", "eval_loss"});
  const SweepResult r = run(j);
  ASSERT_EQ(r.directions.size(), 2u);
  EXPECT_EQ(r.directions[0], Direction::kMaximize);
  EXPECT_EQ(r.directions[1], Direction::kMinimize);
  ASSERT_FALSE(r.best.empty());
  for (size_t i : r.best) {
    for (const auto& other : r.trials) {
      EXPECT_FALSE(dominates(other.objective, r.trials[i].objective, r.directions))
          << other.name << " dominates front member " << r.trials[i].name;
    }
  }
}

// Fused trials train in one Trainer with strided-batched GEMMs; on the CPU each trial's GEMMs
// are the same BLAS calls as alone, so the results must be bit-identical, including a trial
// that diverges inside the group (it fails alone, the others are untouched).
TEST_F(SweepTest, FusedTrialsEqualUnfusedTrialsBitForBit) {
  LogGuard guard({"failed"});
  json j = fashion_config(6, 2);
  j["search_space"] = json::parse(R"({
    "learning_rate": {"type": "grid", "values": [0.001, 0.003, 1e30]},
    "seed": {"type": "grid", "values": [1, 2]}})");
  j["training"]["optim"] = "sgd";
  j["fused_trials"] = 1;
  const SweepResult alone = run(j);
  j["fused_trials"] = 3;
  const SweepResult fused = run(j);
  size_t fused_locations = 0;
  for (size_t i = 0; i < alone.trials.size(); ++i) {
    const TrialRecord& a = alone.trials[i];
    const TrialRecord& f = fused.trials[i];
    EXPECT_EQ(a.status, f.status) << a.name;
    EXPECT_EQ(a.error, f.error);
    ASSERT_EQ(a.history.size(), f.history.size());
    for (size_t e = 0; e < a.history.size(); ++e) {
      EXPECT_EQ(quality(a.history[e]["metrics"]).dump(), quality(f.history[e]["metrics"]).dump())
          << a.name << " evaluation " << e;
      EXPECT_EQ(a.history[e]["train_loss"].dump(), f.history[e]["train_loss"].dump());
    }
    if (f.location.find("/f3") != std::string::npos) ++fused_locations;
  }
  EXPECT_EQ(fused_locations, 6u);  // two groups of three: the table's loc says so
  EXPECT_EQ(alone.trials[4].status, TrialStatus::kError);  // learning rate 1e30

  // One seed for the whole group: one shuffled order, one gathered batch for all three.
  json shared = fashion_config(3, 1);
  shared["search_space"] = json::parse(R"({"learning_rate": [0.001, 0.003, 0.01]})");
  shared["fused_trials"] = 1;
  const SweepResult shared_alone = run(shared);
  shared["fused_trials"] = 3;
  const SweepResult shared_fused = run(shared);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(quality(shared_alone.trials[i].metrics).dump(),
              quality(shared_fused.trials[i].metrics).dump());
    EXPECT_EQ(shared_fused.trials[i].location, "cpu:0/f3");
  }
}

// A sweep stopped (as by Ctrl-C) once some trial has `epochs` epochs done; returns what the
// study recorded of each trial then: trial -> its evaluations, as text.
std::map<uint64_t, std::vector<std::string>> run_until(const json& j, const std::string& out,
                                                       int epochs) {
  std::atomic<int> stop{0};
  RunOptions options;
  options.out_dir = out;
  options.backend = "cpu";
  options.stop = &stop;
  options.progress_interval_s = 0.002;
  options.on_progress = [&](const ProgressView& view, bool) {
    for (const TrialRecord& t : view.trials) {
      if (t.epochs_done >= epochs) stop = 1;
    }
  };
  run_sweep(parse_sweep_config(j, "test.json", "."), options);
  std::map<uint64_t, std::vector<std::string>> recorded;
  for (const TrialRecord& t : open_sqlite_study(study_path(out))->load_trials()) {
    for (const json& entry : t.history)
      recorded[t.index].push_back(entry.dump());
  }
  return recorded;
}

SweepResult resume(const json& j, const std::string& out) {
  RunOptions options;
  options.out_dir = out;
  options.backend = "cpu";
  options.existing_study = ExistingStudy::kResume;
  return run_sweep(parse_sweep_config(j, "test.json", "."), options);
}

// Each trial's evaluations equal bit for bit (the model's metrics and training loss).
void expect_same_training(const SweepResult& a, const SweepResult& b) {
  ASSERT_EQ(a.trials.size(), b.trials.size());
  for (size_t i = 0; i < a.trials.size(); ++i) {
    EXPECT_EQ(b.trials[i].status, TrialStatus::kTerminated) << b.trials[i].name;
    ASSERT_EQ(a.trials[i].history.size(), b.trials[i].history.size()) << a.trials[i].name;
    for (size_t e = 0; e < a.trials[i].history.size(); ++e) {
      const json& x = a.trials[i].history[e];
      const json& y = b.trials[i].history[e];
      EXPECT_EQ(quality(x["metrics"]).dump(), quality(y["metrics"]).dump())
          << a.trials[i].name << " evaluation " << e;
      EXPECT_EQ(x["train_loss"].dump(), y["train_loss"].dump());
    }
  }
}

// TPE suggests a trial from those before it, so its shapes are not known in advance: fused_trials
// asked for is off, and said to be.
TEST_F(SweepTest, FusedTrialsAskedForWithTpeAreSaidToBeOff) {
  json j = fashion_config(2, 1);
  j["training"]["num_train_epochs"] = 1;
  j["fused_trials"] = 2;
  j["sampler"] = "tpe";
  const Warnings warnings;
  const SweepResult r = run(j);
  EXPECT_THAT(warnings.logged,
              ::testing::ElementsAre(HasSubstr("fused_trials 2 is off with the tpe sampler")));
  for (const TrialRecord& t : r.trials)
    EXPECT_EQ(t.location.find("/f"), std::string::npos) << t.location;
}

// With checkpoint_every, a stopped trial (here a fused group of two, Adam state included)
// continues after its last recorded epoch: the epochs before are not trained again (their
// records stay as they were) and every number equals the uninterrupted sweep's.
TEST_F(SweepTest, AStoppedTrialContinuesFromItsCheckpointBitForBit) {
  LogGuard guard;
  json j = fashion_config(2, 1);
  j["search_space"] =
      json::parse(R"({"learning_rate": {"type": "grid", "values": [0.002, 0.005]}})");
  j["training"]["num_train_epochs"] = 12;
  j["fused_trials"] = 2;
  j["checkpoint_every"] = 1;
  const SweepResult clean = run(j, temp_dir("ckpt_clean"));

  const std::string out = temp_dir("ckpt_stopped");
  const auto before = run_until(j, out, 2);
  ASSERT_EQ(before.size(), 2u);
  for (const auto& [trial, entries] : before) {
    ASSERT_GE(entries.size(), 2u);
    ASSERT_LT(entries.size(), 12u) << "the trial finished before the stop";
  }
  const SweepResult resumed = resume(j, out);
  expect_same_training(clean, resumed);
  for (const auto& [trial, entries] : before) {
    const TrialRecord& t = resumed.trials[trial];
    for (size_t e = 0; e < entries.size(); ++e)
      EXPECT_EQ(t.history[e].dump(), entries[e]) << t.name << ": epoch " << e + 1 << " ran again";
    EXPECT_EQ(t.location, "cpu:0");  // continued alone
  }
  // A finished trial keeps no checkpoint.
  EXPECT_FALSE(open_sqlite_study(study_path(out))->load_checkpoint(0).has_value());
}

// A checkpoint that is damaged, or made for another model, is never loaded: the trial says why
// and trains again from epoch 1, still equal to the uninterrupted sweep.
TEST_F(SweepTest, AnUnusableCheckpointIsRefusedAndTheTrialStartsAgain) {
  LogGuard guard({"its checkpoint cannot be used"});
  json j = fashion_config(1, 1);
  j["training"]["num_train_epochs"] = 12;
  j["training"]["optim"] = "sgd";
  j["checkpoint_every"] = 1;
  const SweepResult clean = run(j, temp_dir("ckpt_ref"));
  CheckpointState foreign;
  foreign.epoch = 2;
  foreign.model = "mlp|0|64|256|8|sgd|17";
  foreign.param_count = 3;
  foreign.arrays = 2;
  foreign.values.assign(6, 0.5f);
  // damaged: bytes overwritten; foreign: another model; other_trial: this model and epoch,
  // but another trial's (copied between trials, or from another study); wrapped: a valid CRC
  // over counts whose product wraps around to the right number of bytes.
  for (const std::string kind : {"damaged", "foreign", "other_trial", "wrapped"}) {
    const std::string out = temp_dir("ckpt_" + kind);
    const auto before = run_until(j, out, 2);
    ASSERT_EQ(before.size(), 1u);
    ASSERT_LT(before.at(0).size(), 12u);
    std::string bytes = encode_checkpoint(foreign);
    if (kind == "other_trial" || kind == "wrapped") {
      const std::optional<std::string> own = open_sqlite_study(study_path(out))->load_checkpoint(0);
      ASSERT_TRUE(own.has_value());
      CheckpointState state = decode_checkpoint(*own);
      ASSERT_FALSE(state.trial.empty());
      if (kind == "other_trial") state.trial = "fm_test_00000_of_another_study {}";
      bytes = encode_checkpoint(state);
      if (kind == "wrapped") {
        // param_count sits after magic, format, CRC, epoch, step and the two keys.
        const size_t at = 36 + state.model.size() + 4 + state.trial.size();
        int64_t count = 0;
        std::memcpy(&count, &bytes[at], sizeof(count));
        count += int64_t{1} << 62;  // x (2 or 3 arrays) x 4 bytes wraps to the same size
        std::memcpy(&bytes[at], &count, sizeof(count));
        const uint32_t crc = static_cast<uint32_t>(
            crc32(0L, reinterpret_cast<const Bytef*>(bytes.data() + 16), bytes.size() - 16));
        std::memcpy(&bytes[12], &crc, sizeof(crc));
      }
    }
    {
      sqlite3* db = nullptr;
      ASSERT_EQ(sqlite3_open(study_path(out).c_str(), &db), SQLITE_OK);
      const std::string sql =
          kind == "damaged"
              ? "UPDATE checkpoints SET state = substr(state, 1, 40) || zeroblob(4) || "
                "substr(state, 45)"
              : "UPDATE checkpoints SET state = ?";
      sqlite3_stmt* stmt = nullptr;
      ASSERT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK);
      if (kind != "damaged") {
        sqlite3_bind_blob(stmt, 1, bytes.data(), static_cast<int>(bytes.size()), SQLITE_STATIC);
      }
      EXPECT_EQ(sqlite3_step(stmt), SQLITE_DONE);
      EXPECT_EQ(sqlite3_changes(db), 1);
      sqlite3_finalize(stmt);
      sqlite3_close(db);
    }
    const SweepResult resumed = resume(j, out);
    expect_same_training(clean, resumed);
    // Trained again: epoch 1 was measured anew.
    EXPECT_NE(resumed.trials[0].history[0].dump(), before.at(0)[0]) << kind;
  }
}

// A checkpoint too large for the study is left out, once said, and the sweep goes on; a
// checkpoint_every no trial reaches is pointed out.
TEST_F(SweepTest, ACheckpointTooLargeForTheStudyIsLeftOutAndSaid) {
  std::vector<std::string> warnings;
  const LogSink previous = set_log_sink([&](LogLevel level, const std::string& m) {
    if (level >= LogLevel::kWarning) warnings.push_back(m);
  });
  json j = fashion_config(1, 1);
  j["training"]["num_train_epochs"] = 3;
  j["checkpoint_every"] = 1;
  RunOptions options;
  options.out_dir = temp_dir("ckpt_too_large");
  options.backend = "cpu";
  options.max_checkpoint_bytes = 1000;  // a [32] or [64, 32] MLP on 784 inputs: > 100 KB
  const SweepResult r = run_sweep(parse_sweep_config(j, "test.json", "."), options);
  j["checkpoint_every"] = 3;
  RunOptions plain;
  plain.backend = "cpu";
  run_sweep(parse_sweep_config(j, "test.json", "."), plain);
  // With the epochs searched, the largest the search can draw counts.
  j["search_space"]["num_train_epochs"] = {1, 2};
  j["checkpoint_every"] = 2;
  run_sweep(parse_sweep_config(j, "test.json", "."), plain);
  // Benchmark functions train nothing to keep.
  const json uniform = {{"type", "uniform"}, {"low", 0}, {"high", 1}};
  const json branin = {{"name", "b"},
                       {"benchmark_function", "branin"},
                       {"search_space", {{"x1", uniform}, {"x2", uniform}}},
                       {"checkpoint_every", 1}};
  run_sweep(parse_sweep_config(branin, "b.json", "."), plain);
  set_log_sink(previous);
  ASSERT_EQ(r.trials.size(), 1u);
  EXPECT_EQ(r.trials[0].status, TrialStatus::kTerminated);
  EXPECT_EQ(r.trials[0].history.size(), 3u);
  ASSERT_EQ(warnings.size(), 4u) << "said once per trial, then once per checkpoint_every";
  EXPECT_THAT(warnings[0], ::testing::AllOf(HasSubstr("its checkpoint of"),
                                            HasSubstr("larger than the 1000 bytes")));
  EXPECT_THAT(warnings[1], HasSubstr("checkpoint_every is 3 but trials train at most 3 epochs"));
  EXPECT_THAT(warnings[2], HasSubstr("checkpoint_every is 2 but trials train at most 2 epochs"));
  EXPECT_THAT(warnings[3], HasSubstr("b.json: checkpoint_every has nothing to keep"));
}

// What can still refuse a run (its data, its backend) refuses it before the study is touched:
// a refused --overwrite keeps the study it would have replaced, and a refused new run leaves
// no study behind.
TEST_F(SweepTest, ARunRefusedForItsDataTouchesNoStudy) {
  LogGuard guard;
  const std::string out = temp_dir("refused_overwrite");
  run(fashion_config(2, 2), out);
  json missing = fashion_config(2, 2);
  missing["data"]["dir"] = out + "/no_such_data";
  const SweepConfig bad = parse_sweep_config(missing, "test.json", ".");
  RunOptions options;
  options.out_dir = out;
  options.backend = "cpu";
  options.existing_study = ExistingStudy::kOverwrite;
  EXPECT_THROW(run_sweep(bad, options), UserError);
  EXPECT_EQ(open_sqlite_study(study_path(out))->load_trials().size(), 2u)
      << "a refused --overwrite deleted the study";

  options.out_dir = temp_dir("refused_new") + "/run";
  options.existing_study = ExistingStudy::kRefuse;
  EXPECT_THROW(run_sweep(bad, options), UserError);
  EXPECT_FALSE(std::filesystem::exists(study_path(options.out_dir)));
}

// max_grad_norm clips each trial's gradient by its own limit: a tight limit changes training, a
// fused group mixing limits (0 = off) gives each trial exactly what it gets alone.
TEST_F(SweepTest, GradientClippingChangesTrainingAndFusesBitForBit) {
  json j = fashion_config(3, 1);
  j["training"]["learning_rate"] = 0.01;
  j["search_space"] =
      json::parse(R"({"max_grad_norm": {"type": "grid", "values": [0, 0.05, 1000]}})");
  j["fused_trials"] = 1;
  const SweepResult alone = run(j);
  j["fused_trials"] = 3;
  const SweepResult fused = run(j);
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_EQ(alone.trials[i].status, TrialStatus::kTerminated);
    EXPECT_EQ(alone.trials[i].params["max_grad_norm"], fused.trials[i].params["max_grad_norm"]);
    EXPECT_EQ(quality(alone.trials[i].metrics).dump(), quality(fused.trials[i].metrics).dump());
    EXPECT_EQ(alone.trials[i].history.back()["train_loss"].dump(),
              fused.trials[i].history.back()["train_loss"].dump());
    EXPECT_EQ(fused.trials[i].location, "cpu:0/f3");
  }
  // Grid order is the values' order: 0 (off), 0.05 (clipped every step), 1000 (never reached).
  const auto loss = [&](size_t i) { return alone.trials[i].history.back()["train_loss"]; };
  EXPECT_NE(loss(0).dump(), loss(1).dump()) << "a norm of 0.05 must change training";
  EXPECT_EQ(loss(0).dump(), loss(2).dump()) << "a limit never reached changes nothing";
}

// --fork of a model sweep: a parameter the new config no longer searches must equal what the
// trial trained with (activation), a newly searched one takes the value it trained with (batch
// size), and metrics the new config does not compute leave the carried evaluations.
TEST_F(SweepTest, AForkKeepsTheTrialsTheNewConfigWouldTrainAlike) {
  LogGuard guard;
  const std::string source = temp_dir("fork_model_source");
  const SweepResult first = run(fashion_config(6, 2), source);
  std::vector<size_t> relu;
  for (size_t i = 0; i < first.trials.size(); ++i)
    if (first.trials[i].searched["activation"] == "relu") relu.push_back(i);
  ASSERT_FALSE(relu.empty());
  ASSERT_LT(relu.size(), 6u);

  json j = fashion_config(relu.size() + 1, 2);
  j["search_space"].erase("activation");  // the model's default, relu
  j["search_space"]["per_device_train_batch_size"] = {64, 128};
  j["metrics"] = {"accuracy"};
  RunOptions options;
  options.out_dir = temp_dir("fork_model");
  options.backend = "cpu";
  options.fork_from = source;
  const SweepResult r = run_sweep(parse_sweep_config(j, "test.json", "."), options);
  ASSERT_EQ(r.forked_trials, relu.size());
  for (size_t i = 0; i < relu.size(); ++i) {
    const TrialRecord& from = first.trials[relu[i]];
    const TrialRecord& t = r.trials[i];
    EXPECT_EQ(t.location, "fork:" + from.name);
    EXPECT_EQ(t.params, from.params);
    EXPECT_EQ(t.searched["per_device_train_batch_size"], 64);
    EXPECT_FALSE(t.searched.contains("activation"));
    ASSERT_EQ(t.history.size(), from.history.size());
    for (size_t e = 0; e < t.history.size(); ++e) {
      const json& m = t.history[e]["metrics"];
      EXPECT_FALSE(m.contains("eval_f1"));
      EXPECT_EQ(m["eval_accuracy"], from.history[e]["metrics"]["eval_accuracy"]);
      EXPECT_EQ(t.history[e]["objective"], m["eval_accuracy"]);
    }
  }
  const TrialRecord& added = r.trials.back();
  EXPECT_EQ(added.status, TrialStatus::kTerminated) << added.error;
  EXPECT_EQ(added.params["activation"], "relu");
}

TEST(SweepCsvTest, LearnsDigitsFromCsv) {
  if (!std::filesystem::exists(kDigitsCsv)) {
    GTEST_SKIP() << kDigitsCsv << " missing: apt-get install python3-sklearn";
  }
  LogGuard guard;
  const json j = {{"name", "digits"},
                  {"data",
                   {{"format", "csv"},
                    {"train", kDigitsCsv},
                    {"header", false},
                    {"label_column", -1},
                    {"eval_fraction", 0.25},
                    {"scaling", "standard"}}},
                  {"model", {{"architecture", "softmax_regression"}}},
                  {"training", {{"num_train_epochs", 5}, {"learning_rate", 0.01}}},
                  {"metrics", {"accuracy"}},
                  {"n_trials", 1}};
  const SweepResult r = run(j);
  ASSERT_EQ(r.trials[0].status, TrialStatus::kTerminated) << r.trials[0].error;
  EXPECT_GT(r.trials[0].metrics["eval_accuracy"].get<double>(), 0.9);  // chance is 0.1
}

}  // namespace
}  // namespace cusweep
