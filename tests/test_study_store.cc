// The study (study.db): round trips through SQLite, resuming a sweep (kept trials, numbering,
// samplers and schedulers that learn from recorded trials), refusals, and kill -9 at random
// moments followed by resumes.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "checkpoint.h"
#include "cusweep/config.h"
#include "cusweep/error.h"
#include "cusweep/log.h"
#include "cusweep/runner.h"
#include "log_capture.h"
#include "results.h"
#include "study_store.h"
#include "study_test_util.h"

namespace cusweep {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

std::string temp_dir(const std::string& name) {
  return testing_util::temp_dir("cusweep_study_", name);
}

json quadratic_config(int n_trials, int concurrent, int epochs = 5) {
  return testing_util::quadratic_config(n_trials, concurrent, epochs, 11);
}

SweepResult run(const json& j, const std::string& out,
                ExistingStudy existing = ExistingStudy::kRefuse) {
  RunOptions options;
  options.out_dir = out;
  options.existing_study = existing;
  return run_sweep(parse_sweep_config(j, "quad.json", "."), options);
}

// Everything recorded of a trial, as the result files write it, less the objective's
// explanation (derived from the metrics: a study does not store it, restore_explanations does).
std::string recorded(const TrialRecord& t) {
  json j = trial_json(t);
  j.erase("objective_explanation");
  return j.dump();
}

std::vector<TrialRecord> load(const std::string& out) {
  return open_sqlite_study(study_path(out))->load_trials();
}

std::string user_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const UserError& e) {
    return std::string(e.what()) + "\nhint: " + e.hint();
  }
  return "no UserError";
}

// Trial `index` as a kill -9 leaves it: claimed with the values (0.25, 0.75), one evaluation
// with `objective` (as eval_loss) recorded.
void leave_running(const std::string& dir, uint64_t index, const std::string& name,
                   double objective) {
  const auto store = open_sqlite_study(study_path(dir));
  TrialRecord t;
  t.index = index;
  t.name = name;
  t.searched = {{"x1", 0.25}, {"x2", 0.75}};
  t.params = t.searched;
  ASSERT_TRUE(store->claim_trial(t));
  store->record_evaluation(index, 1,
                           {{"objective", objective}, {"metrics", {{"eval_loss", objective}}}});
}

// The round trip of a trial is in pg_test_study_store.cc, for SQLite and PostgreSQL alike.

TEST(StudyStoreTest, ClaimingARunningTrialAgainDropsItsEvaluations) {
  const std::string dir = temp_dir("reclaim");
  const auto store = open_sqlite_study(study_path(dir));
  bool created = false;
  store->create_or_load_study(StudyInfo{}, &created);
  TrialRecord t;
  t.name = "t";
  ASSERT_TRUE(store->claim_trial(t));
  store->record_evaluation(0, 1, {{"objective", 1}, {"metrics", json::object()}});
  t.status = TrialStatus::kInterrupted;
  store->finish_trial(t);
  ASSERT_TRUE(store->claim_trial(t));
  const std::vector<TrialRecord> trials = store->load_trials();
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0].status, TrialStatus::kRunning);
  EXPECT_TRUE(trials[0].history.empty());
}

TEST(StudyStoreTest, AFileThatIsNoStudyIsAUserErrorNamingIt) {
  const std::string dir = temp_dir("corrupt");
  const std::string path = study_path(dir);
  std::ofstream(path) << "these are not the pages of an SQLite database, nor of anything else";
  EXPECT_THAT(user_error_of([&] { open_sqlite_study(path); }),
              ::testing::AllOf(HasSubstr(path), HasSubstr("not a cusweep study"),
                               HasSubstr("--overwrite")));
  // A sweep into that folder says so before it runs, and --overwrite replaces the file.
  EXPECT_THAT(user_error_of([&] { run(quadratic_config(2, 1), dir, ExistingStudy::kResume); }),
              HasSubstr("not a cusweep study"));
  const SweepResult r = run(quadratic_config(2, 1), dir, ExistingStudy::kOverwrite);
  EXPECT_EQ(load(dir).size(), 2u);
  EXPECT_TRUE(r.any_completed());
}

SweepResult run_fork(const json& j, const std::string& out, const std::string& from,
                     ExistingStudy existing = ExistingStudy::kRefuse) {
  RunOptions options;
  options.out_dir = out;
  options.existing_study = existing;
  options.fork_from = from;
  return run_sweep(parse_sweep_config(j, "quad.json", "."), options);
}

// A study damaged by hand (a value that is not JSON, a dropped table) is a UserError naming
// the file, for show and resume alike; nothing else is touched.
TEST(StudyStoreTest, ADamagedStudyIsAUserErrorNamingTheFile) {
  for (const char* damage :
       {"UPDATE study SET config = '{broken'", "UPDATE trials SET searched = 'x' WHERE number = 1",
        "DROP TABLE evaluations", "UPDATE evaluations SET entry = '[]' WHERE trial = 1",
        "UPDATE evaluations SET entry = '{}' WHERE trial = 1",
        "UPDATE evaluations SET entry = '{garbage' WHERE trial = 1",
        "UPDATE evaluations SET entry = json_set(entry, '$.metrics.epoch', '3') WHERE trial = 1",
        "UPDATE evaluations SET entry = json_set(entry, '$.metrics.eval_loss', 'x')",
        "UPDATE evaluations SET entry = json_set(entry, '$.objective', json('{}'))",
        // The rows of a trial that do not fit together or are not what the runner writes:
        "DELETE FROM evaluations WHERE trial = 1",  // ranked by an evaluation that is gone
        "DELETE FROM evaluations WHERE trial = 1 AND epoch = 2",  // a gap
        "UPDATE trials SET ranked_evaluation = 99 WHERE number = 1",
        "UPDATE trials SET objective = '\"abc\"' WHERE number = 1",
        "UPDATE trials SET confusion = '[[1, 2], [3]]' WHERE number = 1",
        "UPDATE trials SET params = '[]' WHERE number = 1",
        "UPDATE trials SET status = 'WEIRD' WHERE number = 1",
        "UPDATE trials SET objective = '[1, 2]' WHERE number = 1",  // the study has one
        "UPDATE trials SET objective = NULL WHERE number = 1",
        // Text that is not UTF-8, which cusweep never writes:
        "UPDATE trials SET location = x'fffe' WHERE number = 1",
        "UPDATE trials SET name = x'ff' WHERE number = 1",
        "UPDATE trials SET error = x'c328' WHERE number = 1", "UPDATE study SET name = x'ff'",
        "UPDATE evaluations SET entry = x'fffe' WHERE trial = 1"}) {
    const std::string dir = temp_dir("damaged");
    run(quadratic_config(3, 1), dir);
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(study_path(dir).c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, damage, nullptr, nullptr, nullptr), SQLITE_OK) << damage;
    sqlite3_close(db);
    const std::string shown = user_error_of([&] { read_study(dir); });
    EXPECT_THAT(shown, HasSubstr(study_path(dir) + ": the study is damaged")) << damage;
    EXPECT_THAT(user_error_of([&] { run(quadratic_config(3, 1), dir, ExistingStudy::kResume); }),
                HasSubstr("the study is damaged"))
        << damage;
    if (std::string(damage).find("evaluations SET") != std::string::npos) {
      EXPECT_THAT(shown, HasSubstr("evaluation of epoch 1")) << damage;
      // Forking from it is refused alike, naming the source; the new folder stays unmade.
      const std::string target = temp_dir("damaged_fork") + "/new";
      EXPECT_THAT(user_error_of([&] { run_fork(quadratic_config(3, 1), target, dir); }),
                  HasSubstr(study_path(dir) + ": the study is damaged"))
          << damage;
      EXPECT_FALSE(fs::exists(target)) << damage;
    }
  }
}

// Trials without the study row that says what they are: a run refuses to add a new study to
// them, before it changes any file.
TEST(StudyStoreTest, TrialsWithoutAStudyRowAreADamagedStudy) {
  const std::string dir = temp_dir("no_study_row");
  run(quadratic_config(3, 1), dir);
  const auto csv_before = fs::last_write_time(dir + "/results.csv");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(study_path(dir).c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "DELETE FROM study", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  for (const ExistingStudy existing : {ExistingStudy::kRefuse, ExistingStudy::kResume}) {
    EXPECT_THAT(
        user_error_of([&] { run(quadratic_config(3, 1), dir, existing); }),
        HasSubstr(study_path(dir) + ": the study is damaged: it records trials but no study"));
  }
  EXPECT_TRUE(fs::exists(dir + "/best.json"));
  EXPECT_EQ(fs::last_write_time(dir + "/results.csv"), csv_before);
}

// A shared study's result files never replace those of a folder's own study.
TEST(StudyStoreTest, ASharedStudyWritesNoResultsOverAFoldersOwnStudy) {
  const std::string dir = temp_dir("local_beside_shared");
  EXPECT_NO_THROW(refuse_local_study_in(dir));  // no study.db
  std::ofstream(study_path(dir)).flush();
  EXPECT_NO_THROW(refuse_local_study_in(dir));  // an empty one records nothing
  run(quadratic_config(2, 1), dir, ExistingStudy::kOverwrite);
  EXPECT_THAT(user_error_of([&] { refuse_local_study_in(dir); }),
              HasSubstr(dir + ": holds a study of its own"));
}

// The recorded config is what show and workers read: a resume refuses a study whose recorded
// config no longer loads, though the config it brings matches the study's fingerprint.
TEST(StudyStoreTest, AResumeRefusesARecordedConfigThatDoesNotLoad) {
  const std::string dir = temp_dir("damaged_config");
  run(quadratic_config(3, 1), dir);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(study_path(dir).c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE study SET config = '{}'", nullptr, nullptr, nullptr),
            SQLITE_OK);
  sqlite3_close(db);
  EXPECT_THAT(
      user_error_of([&] { run(quadratic_config(3, 1), dir, ExistingStudy::kResume); }),
      HasSubstr(study_path(dir) + ": the study is damaged: its recorded config does not load"));
}

TEST(ResumeTest, KeepsFinishedTrialsBitForBitAndContinuesTheNumbering) {
  const std::string dir = temp_dir("continue");
  const SweepResult first = run(quadratic_config(10, 2), dir);
  const SweepResult resumed = run(quadratic_config(15, 2), dir, ExistingStudy::kResume);
  EXPECT_EQ(resumed.resumed_trials, 10u);
  ASSERT_EQ(resumed.trials.size(), 15u);
  // wall_s is this run's; study_wall_s adds the runs before it, in best.json and for show.
  EXPECT_DOUBLE_EQ(first.study_wall_s, first.wall_s);
  EXPECT_DOUBLE_EQ(resumed.study_wall_s, first.wall_s + resumed.wall_s);
  EXPECT_DOUBLE_EQ(read_study(dir).result.study_wall_s, resumed.study_wall_s);
  EXPECT_DOUBLE_EQ(json::parse(std::ifstream(dir + "/best.json"))["study_wall_s"].get<double>(),
                   resumed.study_wall_s);
  for (size_t i = 0; i < 10; ++i)
    EXPECT_EQ(recorded(resumed.trials[i]), recorded(first.trials[i])) << i;
  // New trials keep the study's tag (n_trials is part of a fresh sweep's tag) and its numbering,
  // with the values an uninterrupted sweep of 15 gives them.
  const std::string prefix = first.trials[0].name.substr(0, first.trials[0].name.size() - 5);
  const SweepResult whole = run(quadratic_config(15, 2), temp_dir("continue_whole"));
  for (size_t i = 10; i < 15; ++i) {
    EXPECT_EQ(resumed.trials[i].name, prefix + fmt::format("{:05d}", i));
    EXPECT_EQ(resumed.trials[i].status, TrialStatus::kTerminated);
    EXPECT_EQ(resumed.trials[i].searched, whole.trials[i].searched);
  }
  EXPECT_EQ(load(dir).size(), 15u);
  std::ifstream jsonl(dir + "/trials.jsonl");
  std::string line;
  size_t lines = 0;
  while (std::getline(jsonl, line))
    ++lines;
  EXPECT_EQ(lines, 15u);  // the kept trials are in the result files too
}

// The config's warnings are said when it is read, not again when a resume, a fork or show reads
// the copy the study recorded.
TEST(ResumeTest, TheRecordedConfigsWarningsAreNotRepeated) {
  const std::string dir = temp_dir("warned_once");
  const json j = quadratic_config(2, 1);  // x3 and x4 are left at 0.5, with a warning
  {
    const Warnings warnings;
    run(j, dir);
    EXPECT_THAT(warnings.logged, ::testing::ElementsAre(HasSubstr("x3 = 0.5, x4 = 0.5")));
  }
  SweepConfig config;
  {
    const Warnings warnings;
    config = parse_sweep_config(quadratic_config(3, 1), "quad.json", ".");
    EXPECT_EQ(warnings.logged.size(), 1u);
  }
  const Warnings warnings;
  RunOptions options;
  options.out_dir = dir;
  options.existing_study = ExistingStudy::kResume;
  EXPECT_EQ(run_sweep(config, options).resumed_trials, 2u);
  options.out_dir = temp_dir("warned_once_fork");
  options.existing_study = ExistingStudy::kRefuse;
  options.fork_from = dir;
  EXPECT_EQ(run_sweep(config, options).forked_trials, 3u);
  EXPECT_EQ(read_study(dir).result.trials.size(), 3u);
  EXPECT_THAT(warnings.logged, ::testing::IsEmpty());
}

TEST(ResumeTest, ARunningTrialRunsAgainFromItsFirstEpochWithItsValues) {
  const std::string dir = temp_dir("rerun");
  run(quadratic_config(4, 2), dir);
  leave_running(dir, 4, "quad_x_00004", 123.0);
  const SweepResult r = run(quadratic_config(6, 2), dir, ExistingStudy::kResume);
  EXPECT_EQ(r.resumed_trials, 4u);
  EXPECT_EQ(r.trials[4].searched, json({{"x1", 0.25}, {"x2", 0.75}}));
  EXPECT_EQ(r.trials[4].status, TrialStatus::kTerminated);
  ASSERT_EQ(r.trials[4].history.size(), 5u);
  EXPECT_NE(r.trials[4].history[0]["objective"], json(123.0));
  const std::vector<TrialRecord> trials = load(dir);
  ASSERT_EQ(trials.size(), 6u);
  EXPECT_EQ(recorded(trials[4]), recorded(r.trials[4]));
}

TEST(ResumeTest, RefusesAChangedSearchSpaceOrObjectiveUnlessOverwritten) {
  const std::string dir = temp_dir("refuse");
  run(quadratic_config(3, 1), dir);
  EXPECT_THAT(user_error_of([&] { run(quadratic_config(3, 1), dir); }),
              ::testing::AllOf(HasSubstr("holds the study of an earlier sweep 'quad' (3 trials"),
                               HasSubstr("--resume"), HasSubstr("--overwrite")));
  json narrower = quadratic_config(3, 1);
  narrower["search_space"]["x1"]["high"] = 0.5;
  EXPECT_THAT(user_error_of([&] { run(narrower, dir, ExistingStudy::kResume); }),
              ::testing::AllOf(HasSubstr("search_space.x1.high changed: recorded 1.0, now 0.5"),
                               HasSubstr("--overwrite")));
  json maximized = quadratic_config(3, 1);
  maximized["direction"] = "maximize";
  EXPECT_THAT(user_error_of([&] { run(maximized, dir, ExistingStudy::kResume); }),
              HasSubstr("objective.1.direction changed: recorded \"minimize\", now \"maximize\""));
  // Restating what was inferred or defaulted is no change.
  json restated = quadratic_config(3, 1);
  restated["direction"] = "minimize";
  restated["sampler"] = "random";
  restated["objective"] = "default";
  EXPECT_EQ(run(restated, dir, ExistingStudy::kResume).resumed_trials, 3u);
  EXPECT_THAT(user_error_of([&] { run(quadratic_config(2, 1), dir, ExistingStudy::kResume); }),
              HasSubstr("n_trials is 2, but the study records trial number 2 (quad_"));
  EXPECT_EQ(load(dir).size(), 3u);  // nothing recorded was lost by the refusals

  const SweepResult fresh = run(narrower, dir, ExistingStudy::kOverwrite);
  EXPECT_EQ(fresh.resumed_trials, 0u);
  for (const TrialRecord& t : load(dir))
    EXPECT_NE(t.name.find("quad_"), std::string::npos);
  EXPECT_EQ(load(dir).size(), 3u);
}

TEST(ResumeTest, ResumeWithoutAStudyStartsOne) {
  const std::string dir = temp_dir("resume_fresh");
  const SweepResult r = run(quadratic_config(2, 1), dir, ExistingStudy::kResume);
  EXPECT_EQ(r.resumed_trials, 0u);
  EXPECT_EQ(load(dir).size(), 2u);
}

// The sweep `j` run whole, and run to half its trials then resumed to all of them.
std::pair<SweepResult, SweepResult> whole_and_resumed(json j, const std::string& name) {
  const int n = j["n_trials"].get<int>();
  SweepResult whole = run(j, temp_dir(name + "_whole"));
  const std::string dir = temp_dir(name + "_resumed");
  j["n_trials"] = n / 2;
  run(j, dir);
  j["n_trials"] = n;
  return {std::move(whole), run(j, dir, ExistingStudy::kResume)};
}

// Trial i is suggested from trials 0..i-slots and sees i-slots+1..i-1 as running (points
// without results); kept trials count the same way after a resume, so a sweep resumed half way
// suggests what an uninterrupted one does, with one slot or several.
TEST(ResumeTest, TpeResumesAsIfNeverStopped) {
  for (int slots : {1, 3}) {
    json j = quadratic_config(12 * slots, slots);
    j["sampler"] = {{"type", "tpe"}, {"n_startup_trials", 4}};
    const auto [whole, resumed] = whole_and_resumed(j, "tpe" + std::to_string(slots));
    for (size_t i = 0; i < whole.trials.size(); ++i)
      EXPECT_EQ(resumed.trials[i].searched, whole.trials[i].searched) << slots << " " << i;
  }
}

// The scheduler is fed the kept trials' evaluations, so its rungs decide as if never stopped.
TEST(ResumeTest, AshaRungsHoldTheRecordedResults) {
  json j = quadratic_config(30, 1, 9);
  j["scheduler"] = {{"type", "asha"}, {"grace_period", 1}, {"reduction_factor", 3}};
  const auto [whole, resumed] = whole_and_resumed(j, "asha");
  int pruned = 0;
  for (size_t i = 0; i < 30; ++i) {
    EXPECT_EQ(resumed.trials[i].status, whole.trials[i].status) << i;
    EXPECT_EQ(resumed.trials[i].epochs_done, whole.trials[i].epochs_done) << i;
    pruned += resumed.trials[i].status == TrialStatus::kPruned;
  }
  EXPECT_GT(pruned, 10);
}

TEST(ResumeTest, ShowReadsTheStudyWithoutItsConfig) {
  const std::string dir = temp_dir("snapshot");
  const SweepResult r = run(quadratic_config(5, 2), dir);
  const StudySnapshot s = read_study(dir);
  EXPECT_EQ(s.config.n_trials, 5);
  ASSERT_EQ(s.result.trials.size(), 5u);
  EXPECT_EQ(s.result.best, r.best);
  for (size_t i = 0; i < 5; ++i)
    EXPECT_EQ(recorded(s.result.trials[i]), recorded(r.trials[i]));
  EXPECT_THAT(user_error_of([&] { read_study(temp_dir("empty")); }), HasSubstr("no study here"));

  // A trial still running shows the objective of its last evaluation, as the live table did.
  leave_running(dir, 5, "quad_extra", 0.25);  // a sixth trial
  const StudySnapshot running = read_study(dir);
  ASSERT_EQ(running.result.trials.size(), 6u);
  EXPECT_EQ(running.result.trials[5].status, TrialStatus::kRunning);
  EXPECT_EQ(running.result.trials[5].objective, std::vector<double>{0.25});
}

// What a trial measured, as the result files write it, without what its study made of it: the
// name, number, location, objective and ranked evaluation.
json measured(const TrialRecord& t) {
  json j = trial_json(t);
  for (const char* key :
       {"trial", "index", "loc", "objective", "ranked_evaluation", "objective_explanation"})
    j.erase(key);
  for (json& e : j["history"])
    e.erase("objective");
  return j;
}

// --fork: a narrower search space keeps the source's trials that lie in it, as they were
// measured, in the source's order, and runs only the rest; the source is never written.
TEST(ForkTest, CarriesTheTrialsInsideTheNewSearchSpaceAndRunsTheRest) {
  const std::string source = temp_dir("fork_source");
  run(quadratic_config(10, 2), source);
  const std::vector<TrialRecord> before = load(source);
  std::vector<const TrialRecord*> inside;
  for (const TrialRecord& t : before)
    if (t.searched["x1"].get<double>() <= 0.5) inside.push_back(&t);
  ASSERT_GT(inside.size(), 1u);
  ASSERT_LT(inside.size(), 10u);

  json narrower = quadratic_config(12, 2);
  narrower["search_space"]["x1"]["high"] = 0.5;
  const std::string out = temp_dir("fork_narrower");
  const SweepResult r = run_fork(narrower, out, source);
  EXPECT_EQ(r.forked_trials, inside.size());
  EXPECT_EQ(r.resumed_trials, 0u);
  ASSERT_EQ(r.trials.size(), 12u);
  for (size_t i = 0; i < inside.size(); ++i) {
    EXPECT_EQ(measured(r.trials[i]), measured(*inside[i])) << i;
    EXPECT_EQ(r.trials[i].location, "fork:" + inside[i]->name);
    EXPECT_EQ(r.trials[i].objective, inside[i]->objective) << "the same objective rule";
    EXPECT_EQ(r.trials[i].name.substr(r.trials[i].name.size() - 5), fmt::format("{:05d}", i));
  }
  for (size_t i = inside.size(); i < 12; ++i) {
    EXPECT_EQ(r.trials[i].status, TrialStatus::kTerminated) << i;
    EXPECT_LE(r.trials[i].searched["x1"].get<double>(), 0.5) << i;
    EXPECT_EQ(r.trials[i].location.rfind("fork:", 0), std::string::npos) << i;
  }
  // The forked study stands alone: it resumes with every trial kept and shows as run.
  const std::vector<TrialRecord> recorded_fork = load(out);
  ASSERT_EQ(recorded_fork.size(), 12u);
  for (size_t i = 0; i < 12; ++i)
    EXPECT_EQ(recorded(recorded_fork[i]), recorded(r.trials[i])) << i;
  EXPECT_EQ(run(narrower, out, ExistingStudy::kResume).resumed_trials, 12u);
  EXPECT_EQ(read_study(out).result.best, r.best);
  const std::vector<TrialRecord> after = load(source);
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < before.size(); ++i)
    EXPECT_EQ(recorded(after[i]), recorded(before[i])) << i;
}

// The objective is recomputed by the new config's rule for every evaluation, and the ranked
// evaluation follows the new objective_scope.
TEST(ForkTest, RecomputesEveryObjectiveUnderTheNewRule) {
  const std::string source = temp_dir("fork_objective_source");
  run(quadratic_config(6, 2), source);
  const std::vector<TrialRecord> before = load(source);
  json weighted = quadratic_config(6, 2);
  weighted["objective"] = {{"eval_loss", -2.0}};
  weighted["direction"] = "maximize";
  weighted["objective_scope"] = "best";
  const SweepResult r = run_fork(weighted, temp_dir("fork_objective"), source);
  ASSERT_EQ(r.forked_trials, 6u);
  for (size_t i = 0; i < 6; ++i) {
    const TrialRecord& t = r.trials[i];
    ASSERT_EQ(t.history.size(), 5u);
    for (const json& e : t.history) {
      EXPECT_DOUBLE_EQ(e["objective"].get<double>(), -2 * e["metrics"]["eval_loss"].get<double>());
    }
    // The loss falls with every epoch: the best evaluation under "maximize -2 loss" is the last.
    EXPECT_EQ(t.ranked_evaluation, 4) << i;
    EXPECT_DOUBLE_EQ(t.objective[0], -2 * before[i].objective[0]);
    ASSERT_EQ(t.explanation.size(), 1u);
    EXPECT_EQ(t.explanation[0].direction, Direction::kMaximize);
  }
}

// Trials that did not finish or fall outside the new config stay behind, and the log says how
// many of each; another function, too many carried trials, --fork with --resume and a fork of
// the output folder itself are refused, and nothing is written by a refusal.
TEST(ForkTest, LeavesBehindWhatItCannotCarryAndRefusesWhatDoesNotFit) {
  const std::string source = temp_dir("fork_refusals_source");
  run(quadratic_config(5, 1), source);
  leave_running(source, 5, "quad_x_00005", 0.5);  // a sixth trial, unfinished
  std::vector<std::string> logged;
  const LogSink previous =
      set_log_sink([&](LogLevel, const std::string& m) { logged.push_back(m); });
  json j = quadratic_config(8, 1);
  j["search_space"]["x3"] = {{"type", "uniform"}, {"low", 0.0}, {"high", 1.0}};
  const std::string out = temp_dir("fork_refusals");
  // A parameter the source never searched, for a benchmark function, has no recorded value.
  EXPECT_EQ(run_fork(j, out, source).forked_trials, 0u);
  set_log_sink(previous);
  const auto summary = std::find_if(logged.begin(), logged.end(), [](const std::string& m) {
    return m.find("forked from") != std::string::npos;
  });
  ASSERT_NE(summary, logged.end());
  EXPECT_THAT(*summary,
              ::testing::AllOf(HasSubstr("carried 0 of its 6 trials"), HasSubstr("1 not finished"),
                               HasSubstr("5 not trials of this config"),
                               HasSubstr("it has no value for x3")));

  const std::string target = temp_dir("fork_refused");
  EXPECT_THAT(user_error_of([&] { run_fork(quadratic_config(8, 1), target, target + "/none"); }),
              HasSubstr("no study here"));
  EXPECT_THAT(user_error_of([&] { run_fork(quadratic_config(8, 1), source, source); }),
              HasSubstr("that is the output folder itself"));
  EXPECT_THAT(user_error_of([&] {
                run_fork(quadratic_config(8, 1), target, source, ExistingStudy::kResume);
              }),
              HasSubstr("cannot be combined with --resume"));
  json other = quadratic_config(8, 1);
  other["benchmark_function"]["function"] = "branin";
  EXPECT_THAT(user_error_of([&] { run_fork(other, target, source); }),
              ::testing::AllOf(HasSubstr("measured something else"),
                               HasSubstr("benchmark_function.function changed")));
  EXPECT_THAT(user_error_of([&] { run_fork(quadratic_config(3, 1), target, source); }),
              ::testing::AllOf(HasSubstr("n_trials is 3, but --fork"),
                               HasSubstr("carries 5 finished trials")));
  EXPECT_FALSE(fs::exists(study_path(target))) << "a refused fork writes nothing";
  EXPECT_THAT(user_error_of([&] { run_fork(other, target + "/new", source); }),
              HasSubstr("measured something else"));
  EXPECT_FALSE(fs::exists(target + "/new")) << "a refused fork does not even make the folder";
  // A source that is no study is named as the --fork source, not as the output folder.
  const std::string garbage = temp_dir("fork_garbage_source");
  std::ofstream(study_path(garbage)) << "this is not an SQLite database, only text";
  const std::string refused =
      user_error_of([&] { run_fork(quadratic_config(8, 1), target, garbage); });
  EXPECT_THAT(refused, HasSubstr("--fork " + garbage + ": its study cannot be read"));
  EXPECT_THAT(refused, ::testing::Not(HasSubstr("--overwrite")));
  // Into a folder that holds a study: refused as any new sweep is, unless --overwrite.
  EXPECT_THAT(user_error_of([&] { run_fork(quadratic_config(8, 1), out, source); }),
              HasSubstr("holds the study of an earlier sweep"));
  EXPECT_EQ(run_fork(quadratic_config(8, 1), out, source, ExistingStudy::kOverwrite).forked_trials,
            5u);
  EXPECT_EQ(load(source).size(), 6u);
}

// One process runs a folder's study at a time (workers may share it): a second run is refused
// at once, naming the holder, instead of training the same trials twice.
TEST(StudyFolderLockTest, ASecondRunIsRefusedWhileTheStudyIsInUse) {
  const std::string dir = temp_dir("locked");
  const std::string holder = fmt::format("in use by another cusweep (pid {})", getpid());
  {
    const StudyFolderLock running(dir, true);
    EXPECT_THAT(user_error_of([&] { run(quadratic_config(3, 1), dir); }), HasSubstr(holder));
    EXPECT_THAT(user_error_of([&] { StudyFolderLock worker(dir, false); }), HasSubstr(holder));
  }
  EXPECT_EQ(run(quadratic_config(3, 1), dir).trials.size(), 3u);   // released
  const StudyFolderLock worker1(dir, false), worker2(dir, false);  // workers share it
  EXPECT_THAT(user_error_of([&] { run(quadratic_config(3, 1), dir, ExistingStudy::kResume); }),
              HasSubstr("the study is in use"));
}

// Starts `cusweep run CONFIG --out OUT --resume --quiet` in a child process, its output
// discarded; returns its pid.
pid_t start_resume(const std::string& config, const std::string& out) {
  const pid_t pid = fork();
  if (pid == 0) {
    const int null = open("/dev/null", O_WRONLY);
    dup2(null, STDOUT_FILENO);
    dup2(null, STDERR_FILENO);
    execl(CUSWEEP_BINARY, CUSWEEP_BINARY, "run", config.c_str(), "--out", out.c_str(), "--resume",
          "--quiet", static_cast<char*>(nullptr));
    _exit(127);
  }
  return pid;
}

// kill -9 at random moments, each followed by a resume: finished trials never change, every
// trial finishes exactly once.
TEST(CrashTest, KillNineAtRandomMomentsThenResume) {
  const std::string dir = temp_dir("crash");
  const std::string config = dir + "/crash.json";
  json j = quadratic_config(500, 2);
  j["scheduler"] = {{"type", "asha"}, {"grace_period", 1}, {"reduction_factor", 3}};
  std::ofstream(config) << j.dump();
  const std::string out = dir + "/out";

  auto start = [&] { return start_resume(config, out); };
  std::map<uint64_t, std::string> finished;  // trial -> what was recorded when it finished
  auto check = [&](const std::string& when) {
    if (!fs::exists(study_path(out))) return;  // killed before it opened the study
    std::set<std::string> names;
    for (const TrialRecord& t : load(out)) {
      EXPECT_TRUE(names.insert(t.name).second) << when << ": " << t.name << " twice";
      EXPECT_LT(t.index, 500u) << when;
      const auto it = finished.find(t.index);
      if (it != finished.end()) {
        EXPECT_EQ(recorded(t), it->second) << when << ": " << t.name << " changed";
      } else if (is_final(t.status)) {
        finished[t.index] = recorded(t);
      }
    }
  };

  std::mt19937 rng(20261203);
  std::uniform_int_distribution<int> delay_ms(10, 120);
  int kills = 0;
  for (int attempt = 0; attempt < 60 && kills < 24; ++attempt) {
    const pid_t pid = start();
    ASSERT_GT(pid, 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status) || WEXITSTATUS(status) == 0) << "exit " << WEXITSTATUS(status);
    if (!WIFSIGNALED(status)) break;  // it finished before the kill
    ++kills;
    check(fmt::format("after kill {}", kills));
  }
  EXPECT_GE(kills, 20);
  EXPECT_LT(finished.size(), 500u) << "the kills came too late to interrupt the sweep";

  const pid_t pid = start();
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  check("at the end");
  const std::vector<TrialRecord> trials = load(out);
  ASSERT_EQ(trials.size(), 500u);
  for (size_t i = 0; i < trials.size(); ++i) {
    EXPECT_EQ(trials[i].index, i);
    EXPECT_TRUE(trials[i].status == TrialStatus::kTerminated ||
                trials[i].status == TrialStatus::kPruned)
        << trials[i].name << " " << trial_status_name(trials[i].status);
  }
}

// kill -9 with checkpoint_every 1: a trial killed part way continues after its last recorded
// epoch (those records stay exactly as they were), and the study ends as the uninterrupted
// sweep would have (FIFO: nothing in it depends on timing).
TEST(CrashTest, KillNineWithCheckpointsContinuesEachTrialWhereItStopped) {
  const std::string dir = temp_dir("crash_ckpt");
  json j = quadratic_config(24, 2, 40);
  j["checkpoint_every"] = 1;
  const SweepResult clean = run(j, dir + "/clean");
  const std::string config = dir + "/crash.json";
  std::ofstream(config) << j.dump();
  const std::string out = dir + "/out";
  auto start = [&] { return start_resume(config, out); };

  // Evaluations recorded so far (a reader beside the writer: WAL).
  auto evaluations = [&] {
    int64_t n = 0;
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(study_path(out).c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
      sqlite3_busy_timeout(db, 1000);
      sqlite3_stmt* stmt = nullptr;
      if (sqlite3_prepare_v2(db, "SELECT count(*) FROM evaluations", -1, &stmt, nullptr) ==
              SQLITE_OK &&
          sqlite3_step(stmt) == SQLITE_ROW) {
        n = sqlite3_column_int64(stmt, 0);
      }
      sqlite3_finalize(stmt);
    }
    sqlite3_close(db);
    return n;
  };

  // What a kill left of each unfinished trial: the evaluations its checkpoint covers (one
  // short of the last epoch, after which no checkpoint is taken).
  std::map<uint64_t, std::vector<std::string>> kept;
  std::mt19937 rng(3122026);
  std::uniform_int_distribution<int> delay_ms(0, 40);
  int kills = 0;
  for (int attempt = 0; attempt < 40 && kills < 12; ++attempt) {
    const int64_t recorded = fs::exists(study_path(out)) ? evaluations() : 0;
    const pid_t pid = start();
    ASSERT_GT(pid, 0);
    // Each run gets somewhere before its kill, however slow the machine is today: the kill
    // lands a random moment after its first new evaluation.
    const auto t0 = std::chrono::steady_clock::now();
    int status = 0;
    bool exited = false;
    while (!(exited = waitpid(pid, &status, WNOHANG) == pid) &&
           (!fs::exists(study_path(out)) || evaluations() == recorded) &&
           std::chrono::steady_clock::now() - t0 < std::chrono::seconds(20)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    if (!exited) {
      std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms(rng)));
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
    }
    if (!WIFSIGNALED(status)) break;  // it finished before the kill
    ++kills;
    if (!fs::exists(study_path(out))) continue;
    for (const TrialRecord& t : load(out)) {
      if (is_final(t.status)) continue;
      std::vector<std::string>& k = kept[t.index];
      k.clear();
      for (size_t e = 0; e < std::min<size_t>(t.history.size(), 39); ++e)
        k.push_back(t.history[e].dump());
    }
  }
  EXPECT_GE(kills, 8);
  const pid_t pid = start();
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  const std::vector<TrialRecord> trials = load(out);
  ASSERT_EQ(trials.size(), 24u);
  size_t continued = 0;
  for (const TrialRecord& t : trials) {
    EXPECT_EQ(t.status, TrialStatus::kTerminated) << t.name;
    ASSERT_EQ(t.history.size(), 40u) << t.name;
    for (size_t e = 0; e < 40; ++e) {
      EXPECT_EQ(t.history[e]["objective"], clean.trials[t.index].history[e]["objective"])
          << t.name << " epoch " << e + 1;
    }
    const auto it = kept.find(t.index);
    if (it == kept.end() || it->second.empty()) continue;
    ++continued;
    for (size_t e = 0; e < it->second.size(); ++e)
      EXPECT_EQ(t.history[e].dump(), it->second[e]) << t.name << ": epoch " << e + 1 << " redone";
  }
  EXPECT_GE(continued, 3u) << "too few kills landed inside a trial";
}

// A data file named relative to the working folder, or absolute, or relative to another config
// folder, is one setting: resume and --fork compare the files, not how they were written.
TEST(FingerprintTest, ADataFileNamedRelativeOrAbsoluteIsTheSameSetting) {
  const json j = {{"name", "d"},
                  {"data", {{"format", "csv"}, {"train", "data/digits.csv.gz"}}},
                  {"n_trials", 1}};
  const json relative = study_fingerprint(parse_sweep_config(j, "d.json", ""));
  json k = j;
  k["data"]["train"] = "../data/digits.csv.gz";
  const json elsewhere = study_fingerprint(parse_sweep_config(k, "conf/d.json", "conf"));
  k["data"]["train"] = (fs::current_path() / "data" / "digits.csv.gz").string();
  const json absolute = study_fingerprint(parse_sweep_config(k, "/x/d.json", "/x"));
  EXPECT_EQ(fingerprint_changes(relative, absolute), std::vector<std::string>{});
  EXPECT_EQ(fingerprint_changes(elsewhere, absolute), std::vector<std::string>{});
  // Recorded before paths were made absolute: the text as written, read from the working folder.
  json recorded = relative;
  recorded["data"]["train"] = "data/digits.csv.gz";
  EXPECT_EQ(fingerprint_changes(recorded, absolute), std::vector<std::string>{});
  // Through a symbolic link to the same (existing) folder.
  const fs::path real = temp_dir("data_real");
  const fs::path link = fs::path(::testing::TempDir()) / "cusweep_data_link";
  fs::remove(link);
  fs::create_directory_symlink(real, link);
  json through = k;
  through["data"]["train"] = (link / "digits.csv.gz").string();
  k["data"]["train"] = (real / "digits.csv.gz").string();
  EXPECT_EQ(fingerprint_changes(study_fingerprint(parse_sweep_config(k, "d.json", "")),
                                study_fingerprint(parse_sweep_config(through, "d.json", ""))),
            std::vector<std::string>{});
  k["data"]["train"] = "/other/digits.csv.gz";
  EXPECT_THAT(fingerprint_changes(relative, study_fingerprint(parse_sweep_config(k, "d.json", ""))),
              ::testing::ElementsAre(HasSubstr("data.train changed")));
}

TEST(CheckpointTest, BytesRoundTripAndDamageIsNamed) {
  CheckpointState s;
  s.epoch = 3;
  s.step = 141;
  s.model = "mlp|0|64|256|5|adamw|32";
  s.trial = "fm_1a2b3_00004 {\"learning_rate\":0.01}";
  s.param_count = 5;
  s.arrays = 3;
  for (int k = 0; k < 15; ++k)
    s.values.push_back(0.1f * static_cast<float>(k) - 0.7f);
  const std::string bytes = encode_checkpoint(s);
  const CheckpointState back = decode_checkpoint(bytes);
  EXPECT_EQ(back.epoch, 3);
  EXPECT_EQ(back.step, 141);
  EXPECT_EQ(back.model, s.model);
  EXPECT_EQ(back.trial, s.trial);
  EXPECT_EQ(back.param_count, 5);
  EXPECT_EQ(back.arrays, 3);
  EXPECT_EQ(back.values, s.values);

  auto why = [](const std::string& b) {
    try {
      decode_checkpoint(b);
    } catch (const CheckpointError& e) {
      return std::string(e.what());
    }
    return std::string("decoded");
  };
  std::string flipped = bytes;
  flipped[bytes.size() - 3] ^= 0x10;
  EXPECT_THAT(why(flipped), HasSubstr("CRC-32"));
  EXPECT_THAT(why(bytes.substr(0, 30)), HasSubstr("CRC-32"));  // cut short
  EXPECT_THAT(why(bytes.substr(0, 10)), HasSubstr("ends at byte 8"));
  EXPECT_THAT(why("not a checkpoint at all, just text"), HasSubstr("not a cusweep checkpoint"));
  EXPECT_THAT(why(""), HasSubstr("ends at byte 0"));
  // Rewritten with a valid CRC: an epoch beyond int, counts that wrap around to the size, an
  // earlier format. Each is refused, never read as something else.
  const auto forged = [&](size_t at, auto value) {
    std::string b = bytes;
    std::memcpy(&b[at], &value, sizeof(value));
    const uint32_t crc = static_cast<uint32_t>(
        crc32(0L, reinterpret_cast<const Bytef*>(b.data() + 16), b.size() - 16));
    std::memcpy(&b[12], &crc, sizeof(crc));
    return b;
  };
  EXPECT_THAT(why(forged(16, int64_t{(int64_t{1} << 32) + 3})), HasSubstr("checkpoint damaged"));
  const size_t count_at = 36 + s.model.size() + 4 + s.trial.size();
  EXPECT_THAT(why(forged(count_at, int64_t{5} + (int64_t{1} << 62))),
              HasSubstr("checkpoint damaged"));
  EXPECT_THAT(why(forged(count_at + 8, int32_t{1 << 30})), HasSubstr("checkpoint damaged"));
  EXPECT_THAT(why(forged(8, uint32_t{1})), HasSubstr("checkpoint format 1; this cusweep reads "
                                                     "format 2"));
  s.values.pop_back();
  EXPECT_THROW(encode_checkpoint(s), std::invalid_argument);
}

}  // namespace
}  // namespace cusweep
