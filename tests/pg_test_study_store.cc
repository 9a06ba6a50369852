// Studies shared by workers, on a real PostgreSQL server (started for the test run by the
// postgres_start fixture, scripts/pg_server.sh) and on SQLite: the store's round trip, atomic
// claims, heartbeats and handover, ownership, and `cusweep worker` processes sharing a study
// (one of them killed -9). PostgreSQL tests skip, saying why, when no server could be started.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <pqxx/pqxx>
#include <regex>
#include <set>
#include <thread>

#include <fmt/format.h>

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

std::string read_line(const fs::path& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

// The test server's URL, or "" with the reason in `why`.
std::string server_url(std::string* why) {
  const fs::path dir = CUSWEEP_PG_DIR;
  if (fs::exists(dir / "url")) return read_line(dir / "url");
  *why = fs::exists(dir / "unavailable")
             ? "no PostgreSQL server: " + read_line(dir / "unavailable")
             : "no PostgreSQL server: " + (dir / "url").string() +
                   " is missing (run through ctest, which starts one: postgres_start)";
  return "";
}

#define REQUIRE_SERVER(url)                 \
  std::string why;                          \
  const std::string url = server_url(&why); \
  if (url.empty()) GTEST_SKIP() << why

std::string temp_dir(const std::string& name) {
  return testing_util::temp_dir("cusweep_pg_", name);
}

// A study name no other test (or earlier run) uses.
std::string unique_study(const std::string& name) {
  return fmt::format("{}_{}", name, getpid());
}

json quadratic_config(int n_trials, int concurrent, int epochs) {
  return testing_util::quadratic_config(n_trials, concurrent, epochs, 5);
}

// Records the study of `j` as `cusweep run` would, without running a trial.
void create_study(StudyStore& store, const json& j) {
  const SweepConfig c = parse_sweep_config(j, "quad.json", ".");
  StudyInfo info;
  info.name = c.name;
  info.tag = "abcde";
  info.config = j;
  info.config_path = "quad.json";
  info.base_dir = fs::current_path().string();
  info.fingerprint = study_fingerprint(c);
  bool created = false;
  store.create_or_load_study(info, &created);
  ASSERT_TRUE(created);
}

// The store under test: "sqlite" (one file; every open is another connection to it) or
// "postgresql" (one study of the test server; every open is another connection).
class SharedStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    const std::string id = name.substr(0, name.find('/'));
    if (GetParam() == "postgresql") {
      url_ = server_url(&why_);
      if (url_.empty()) GTEST_SKIP() << why_;
      study_ = unique_study(id);
      open()->delete_study();
    } else {
      path_ = study_path(temp_dir("store_" + id));
    }
  }

  std::unique_ptr<StudyStore> open(const std::string& worker = "") {
    std::unique_ptr<StudyStore> store =
        url_.empty() ? open_sqlite_study(path_) : open_postgres_study(url_, study_);
    store->set_worker(worker);
    return store;
  }

  std::string url_, why_, study_, path_;
};

TrialRecord trial(uint64_t index) {
  TrialRecord t;
  t.index = index;
  t.name = trial_name("quad", "abcde", index);
  t.searched = {{"x1", 0.125 * static_cast<double>(index % 8)}, {"x2", 0.5}};
  t.params = t.searched;
  t.location = "cpu:0";
  t.status = TrialStatus::kRunning;
  return t;
}

TEST_P(SharedStoreTest, RoundTripsATrialWithItsHistory) {
  TrialRecord t = trial(3);
  t.searched = {{"learning_rate", 0.001234567890123}};
  t.params = {{"learning_rate", 0.001234567890123}, {"hidden_sizes", {64, 32}}};
  {
    const auto store = open();
    create_study(*store, quadratic_config(4, 1, 2));
    ASSERT_TRUE(store->claim_trial(t));
    for (int epoch = 1; epoch <= 2; ++epoch) {
      json entry = {{"metrics", {{"eval_loss", 1.0 / (3 * epoch)}, {"epoch", epoch}}},
                    {"objective", 1.0 / (3 * epoch)},
                    {"train_loss", 0.1 * epoch}};
      store->record_evaluation(t.index, epoch, entry);
      t.history.push_back(entry);
    }
    t.status = TrialStatus::kTerminated;
    t.objective = {1.0 / 6};
    t.ranked_evaluation = 1;
    t.confusion.num_classes = 2;
    t.confusion.counts = {5, 1, 2, 7};
    t.runtime_s = 0.123456789;
    t.error = "";
    t.metrics = t.history.back()["metrics"];
    t.epochs_done = 2;
    store->finish_trial(t);
    EXPECT_FALSE(store->claim_trial(t));  // finished: never claimed again
  }
  const auto store = open();
  StudyInfo info;
  ASSERT_TRUE(store->load_study(&info));
  EXPECT_EQ(info.name, "quad");
  EXPECT_EQ(info.tag, "abcde");
  EXPECT_EQ(info.config["n_trials"], 4);
  const std::vector<TrialRecord> trials = store->load_trials();
  ASSERT_EQ(trials.size(), 1u);
  json a = trial_json(trials[0]), b = trial_json(t);
  a.erase("objective_explanation");
  b.erase("objective_explanation");
  EXPECT_EQ(a, b);
  EXPECT_EQ(trials[0].confusion.counts, t.confusion.counts);
}

// 4 connections claim at once: every number is handed out once, exactly n_trials of them.
TEST_P(SharedStoreTest, ClaimsAreAtomicAcrossConnections) {
  constexpr int kTrials = 40;
  create_study(*open(), quadratic_config(kTrials, 1, 1));
  std::vector<std::vector<uint64_t>> claimed(4);
  std::vector<std::thread> workers;
  for (int w = 0; w < 4; ++w) {
    workers.emplace_back([&, w] {
      const auto store = open(fmt::format("worker{}", w));
      for (;;) {
        const TrialClaim c = store->claim_next(kTrials, 60);
        if (c.kind == TrialClaim::kDone) return;
        if (c.kind == TrialClaim::kWait) {
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
          continue;
        }
        EXPECT_EQ(c.attempt, 1);
        TrialRecord t = trial(c.index);
        EXPECT_TRUE(store->claim_trial(t));
        t.status = TrialStatus::kTerminated;
        store->finish_trial(t);
        claimed[w].push_back(c.index);
      }
    });
  }
  for (auto& w : workers)
    w.join();
  std::multiset<uint64_t> all;
  for (const auto& c : claimed)
    all.insert(c.begin(), c.end());
  ASSERT_EQ(all.size(), static_cast<size_t>(kTrials));
  for (int i = 0; i < kTrials; ++i)
    EXPECT_EQ(all.count(i), 1u) << i;
  const std::vector<TrialRecord> trials = open()->load_trials();
  ASSERT_EQ(trials.size(), static_cast<size_t>(kTrials));
  for (const TrialRecord& t : trials)
    EXPECT_EQ(t.status, TrialStatus::kTerminated) << t.name;
}

// Two slots of a plain run may record trials 0, 1 and 3 before a kill -9 stops it before 2:
// a worker's claims fill the gap first, then go on after the highest number.
TEST_P(SharedStoreTest, ClaimsFillAGapInTheNumbersFirst) {
  create_study(*open(), quadratic_config(5, 1, 1));
  const auto plain = open();
  for (uint64_t i : {0, 1, 3}) {
    TrialRecord t = trial(i);
    ASSERT_TRUE(plain->claim_trial(t));
    t.status = TrialStatus::kTerminated;
    plain->finish_trial(t);
  }
  const auto worker = open("w");
  for (uint64_t expected : {2, 4}) {
    const TrialClaim c = worker->claim_next(5, 60);
    ASSERT_EQ(c.kind, TrialClaim::kTrial);
    EXPECT_EQ(c.index, expected);
    EXPECT_FALSE(c.handed_over);
    TrialRecord t = trial(c.index);
    ASSERT_TRUE(worker->claim_trial(t));
    t.status = TrialStatus::kTerminated;
    worker->finish_trial(t);
  }
  EXPECT_EQ(worker->claim_next(5, 60).kind, TrialClaim::kDone);
  EXPECT_EQ(worker->claim_next(6, 60).index, 5u);
}

TEST_P(SharedStoreTest, HeartbeatsKeepATrialAndSilenceHandsItOver) {
  create_study(*open(), quadratic_config(2, 1, 1));
  const auto a = open("a");
  const auto b = open("b");
  ASSERT_EQ(a->claim_next(2, 0.6).index, 0u);
  TrialRecord t0 = trial(0);
  ASSERT_TRUE(a->claim_trial(t0));
  ASSERT_EQ(b->claim_next(2, 0.6).index, 1u);  // trial 0 is alive: the next number
  for (int k = 0; k < 4; ++k) {                // a's heartbeats keep trial 0 its own
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
    a->heartbeat();
    b->heartbeat();
    EXPECT_EQ(b->claim_next(2, 0.6).kind, TrialClaim::kWait) << k;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(800));  // a falls silent
  b->heartbeat();
  const TrialClaim c = b->claim_next(2, 0.6);
  ASSERT_EQ(c.kind, TrialClaim::kTrial);
  EXPECT_EQ(c.index, 0u);
  EXPECT_TRUE(c.handed_over);
  EXPECT_EQ(c.attempt, 2);
  EXPECT_EQ(c.searched, t0.searched);  // run again with the values it had

  // a wakes up: none of its writes may touch b's trial.
  EXPECT_THROW(a->record_evaluation(0, 1, {{"objective", 9.0}, {"metrics", json::object()}}),
               StoreError);
  t0.status = TrialStatus::kTerminated;
  EXPECT_THROW(a->finish_trial(t0), StoreError);
  EXPECT_THROW(a->claim_trial(t0), StoreError);
  a->heartbeat();  // refreshes nothing of b's

  TrialRecord mine = trial(0);
  ASSERT_TRUE(b->claim_trial(mine));
  b->record_evaluation(0, 1, {{"objective", 1.0}, {"metrics", json::object()}});
  mine.status = TrialStatus::kTerminated;
  b->finish_trial(mine);
  TrialRecord other = trial(1);
  ASSERT_TRUE(b->claim_trial(other));
  other.status = TrialStatus::kPruned;
  b->finish_trial(other);
  EXPECT_EQ(b->claim_next(2, 0.6).kind, TrialClaim::kDone);
  const std::vector<TrialRecord> trials = b->load_trials();
  ASSERT_EQ(trials.size(), 2u);
  ASSERT_EQ(trials[0].history.size(), 1u);
  EXPECT_EQ(trials[0].history[0]["objective"], 1.0);
}

// An interrupted trial is claimed again at once. Taken from epoch 1, what the earlier attempt
// ended with (ranked by its second evaluation) goes with its evaluations, so the study reads as
// whole while the new attempt runs, and after a kill -9 in it.
TEST_P(SharedStoreTest, AnInterruptedTrialIsClaimedAgainAtOnce) {
  create_study(*open(), quadratic_config(1, 1, 3));
  const auto a = open("a");
  ASSERT_EQ(a->claim_next(1, 60).kind, TrialClaim::kTrial);
  TrialRecord t = trial(0);
  ASSERT_TRUE(a->claim_trial(t));
  for (int epoch = 1; epoch <= 2; ++epoch) {
    a->record_evaluation(0, epoch,
                         {{"objective", 1.0 / epoch}, {"metrics", {{"eval_loss", 1.0 / epoch}}}});
  }
  t.status = TrialStatus::kInterrupted;  // Ctrl-C
  t.objective = {0.5};
  t.ranked_evaluation = 1;
  a->finish_trial(t);
  const auto b = open("b");
  const TrialClaim c = b->claim_next(1, 60);
  EXPECT_EQ(c.kind, TrialClaim::kTrial);
  EXPECT_FALSE(c.handed_over);
  EXPECT_EQ(c.attempt, 2);
  t.status = TrialStatus::kRunning;
  ASSERT_TRUE(b->claim_trial(t));
  const std::vector<TrialRecord> trials = open()->load_trials();
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0].status, TrialStatus::kRunning);
  EXPECT_TRUE(trials[0].history.empty());
  EXPECT_EQ(trials[0].ranked_evaluation, -1);
  EXPECT_TRUE(trials[0].objective.empty());
}

// A checkpoint is written with its evaluation; a claim that continues from it keeps the
// evaluations up to it, a claim from epoch 1 drops both, and a final trial keeps none.
TEST_P(SharedStoreTest, CheckpointsTravelWithTheirEvaluations) {
  create_study(*open(), quadratic_config(2, 1, 4));
  const auto store = open();
  TrialRecord t = trial(1);
  ASSERT_TRUE(store->claim_trial(t));
  EXPECT_FALSE(store->load_checkpoint(1).has_value());
  std::string bytes(3 << 20, '\0');  // megabytes, with every byte value
  for (size_t k = 0; k < bytes.size(); ++k)
    bytes[k] = static_cast<char>((k * 131) & 0xff);
  for (int epoch = 1; epoch <= 3; ++epoch) {
    bytes[0] = static_cast<char>(epoch);
    const json entry = {{"objective", epoch}, {"metrics", {{"epoch", epoch}}}};
    store->record_evaluation(1, epoch, entry, epoch < 3 ? &bytes : nullptr);
  }
  std::optional<std::string> saved = open()->load_checkpoint(1);
  ASSERT_TRUE(saved.has_value());
  EXPECT_EQ(saved->size(), bytes.size());
  EXPECT_EQ((*saved)[0], 2);  // epoch 3 came without one: epoch 2's stays
  EXPECT_EQ(saved->substr(1), bytes.substr(1));

  ASSERT_TRUE(store->claim_trial(t, 2));  // continues after epoch 2
  std::vector<TrialRecord> trials = store->load_trials();
  ASSERT_EQ(trials.size(), 1u);
  ASSERT_EQ(trials[0].history.size(), 2u);
  EXPECT_EQ(trials[0].history[1]["objective"], 2);
  EXPECT_TRUE(store->load_checkpoint(1).has_value());

  ASSERT_TRUE(store->claim_trial(t, 0));  // from epoch 1: nothing of before stays
  EXPECT_TRUE(store->load_trials()[0].history.empty());
  EXPECT_FALSE(store->load_checkpoint(1).has_value());

  store->record_evaluation(1, 1, {{"objective", 1}, {"metrics", json::object()}}, &bytes);
  t.status = TrialStatus::kPruned;
  store->finish_trial(t);
  EXPECT_FALSE(store->load_checkpoint(1).has_value());  // never runs again
  EXPECT_EQ(store->load_trials()[0].history.size(), 1u);
}

INSTANTIATE_TEST_SUITE_P(Stores, SharedStoreTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

// ---- `cusweep worker` processes.

pid_t spawn(const std::vector<std::string>& args, const std::string& log) {
  const pid_t pid = fork();
  if (pid == 0) {
    const int out = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(out, STDOUT_FILENO);
    dup2(out, STDERR_FILENO);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(CUSWEEP_BINARY));
    for (const std::string& a : args)
      argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(CUSWEEP_BINARY, argv.data());
    _exit(127);
  }
  return pid;
}

int wait_exit(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Per trial: how many times it was claimed (RUNNING transitions) and finished (TERMINATED).
struct Counts {
  std::map<int64_t, int> claims, finishes;
  std::set<std::string> workers;  // that finished a trial
};

Counts postgres_counts(const std::string& url, const std::string& study) {
  pqxx::connection c(url);
  pqxx::work w(c);
  Counts n;
  for (const auto& row : w.exec_params(
           "SELECT trial, status, worker FROM cusweep_transitions WHERE study = $1", study)) {
    const std::string status = row[1].as<std::string>();
    if (status == "RUNNING") ++n.claims[row[0].as<int64_t>()];
    if (status == "TERMINATED") {
      ++n.finishes[row[0].as<int64_t>()];
      n.workers.insert(row[2].as<std::string>());
    }
  }
  return n;
}

Counts sqlite_counts(const std::string& path) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_stmt* s = nullptr;
  sqlite3_prepare_v2(db, "SELECT trial, status, worker FROM transitions", -1, &s, nullptr);
  Counts n;
  while (sqlite3_step(s) == SQLITE_ROW) {
    const std::string status = reinterpret_cast<const char*>(sqlite3_column_text(s, 1));
    if (status == "RUNNING") ++n.claims[sqlite3_column_int64(s, 0)];
    if (status == "TERMINATED") {
      ++n.finishes[sqlite3_column_int64(s, 0)];
      n.workers.insert(reinterpret_cast<const char*>(sqlite3_column_text(s, 2)));
    }
  }
  sqlite3_finalize(s);
  sqlite3_close(db);
  return n;
}

// Every trial below n finished once; `claimed_twice` lists those claimed more than once.
void expect_each_finished_once(const Counts& n, int n_trials, std::set<int64_t>* claimed_twice) {
  EXPECT_EQ(n.finishes.size(), static_cast<size_t>(n_trials));
  for (int64_t i = 0; i < n_trials; ++i) {
    EXPECT_EQ(n.finishes.count(i) ? n.finishes.at(i) : 0, 1) << "trial " << i;
    if (n.claims.count(i) && n.claims.at(i) > 1) claimed_twice->insert(i);
  }
}

// Waits for workers `first`.. (each exits 0); checks that the study's 200 trials all
// terminated with every epoch recorded; returns its counts.
Counts finish_workers(const std::vector<pid_t>& pids, size_t first, const std::string& dir,
                      const std::string& url, const std::string& study, size_t epochs) {
  for (size_t w = first; w < pids.size(); ++w) {
    EXPECT_EQ(wait_exit(pids[w]), 0) << slurp(fmt::format("{}/worker{}.log", dir, w));
  }
  const std::vector<TrialRecord> trials = open_postgres_study(url, study)->load_trials();
  EXPECT_EQ(trials.size(), 200u);
  for (const TrialRecord& t : trials) {
    EXPECT_EQ(t.status, TrialStatus::kTerminated) << t.name;
    EXPECT_EQ(t.history.size(), epochs) << t.name;
  }
  return postgres_counts(url, study);
}

// show opens a study read-only: a role that may only SELECT reads it (the schema is neither
// created nor altered), and a database without cusweep's tables is said to hold no study.
TEST(PostgresStoreTest, ARoleThatMayOnlyReadShowsAStudy) {
  REQUIRE_SERVER(url);
  const std::string study = unique_study("readonly");
  {
    const auto store = open_postgres_study(url, study);
    store->delete_study();
    create_study(*store, quadratic_config(2, 1, 1));
  }
  const std::string role = fmt::format("cusweep_reader_{}", getpid());
  {
    pqxx::connection admin(url);
    pqxx::work w(admin);
    w.exec("DROP ROLE IF EXISTS " + role);
    w.exec("CREATE ROLE " + role + " LOGIN");
    w.exec("GRANT SELECT ON ALL TABLES IN SCHEMA public TO " + role);
    w.commit();
  }
  const std::string reader = std::regex_replace(url, std::regex("//cusweep@"), "//" + role + "@");
  ASSERT_NE(reader, url);
  StudyInfo info;
  EXPECT_TRUE(open_postgres_study(reader, study, true)->load_study(&info));
  EXPECT_EQ(info.name, "quad");
  // Without read_only the tables' schema is checked and altered: refused for this role.
  EXPECT_THROW(open_postgres_study(reader, study), UserError);
  {
    pqxx::connection admin(url);
    pqxx::nontransaction w(admin);
    w.exec("CREATE DATABASE " + role);
  }
  const std::string empty_db = std::regex_replace(url, std::regex("/cusweep_test"), "/" + role);
  try {
    open_postgres_study(empty_db, study, true);
    ADD_FAILURE() << "no study there";
  } catch (const UserError& e) {
    EXPECT_THAT(e.what(), HasSubstr("holds no cusweep study"));
  }
  pqxx::connection admin(url);
  pqxx::nontransaction w(admin);
  w.exec("DROP DATABASE " + role);
  w.exec("DROP OWNED BY " + role);
  w.exec("DROP ROLE " + role);
}

// `url` with application_name=`app`, by which pg_stat_activity finds its backend.
std::string with_application_name(const std::string& url, const std::string& app) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + "application_name=" + app;
}

// A backend that stops answering while its host still does (SIGSTOP): no keepalive notices it,
// so the watchdog drops the connection after the stall time and the call goes on over a new
// one, instead of waiting for ever.
TEST(PostgresStoreTest, AStalledConnectionIsDroppedAndMadeAgain) {
  REQUIRE_SERVER(url);
  const std::string study = unique_study("stall");
  const std::string app = fmt::format("cusweep_stall_{}", getpid());
  const std::string tagged = with_application_name(url, app);
  const std::unique_ptr<StudyStore> store = open_postgres_study(tagged, study);
  store->delete_study();
  create_study(*store, quadratic_config(2, 1, 1));
  int backend = 0;
  {
    pqxx::connection admin(url);
    pqxx::work w(admin);
    const pqxx::result r =
        w.exec_params("SELECT pid FROM pg_stat_activity WHERE application_name = $1", app);
    ASSERT_EQ(r.size(), 1u);
    backend = r[0][0].as<int>();
  }
  const Warnings warnings;
  set_postgres_stall_s(2);
  ASSERT_EQ(kill(backend, SIGSTOP), 0);
  auto call = std::async(std::launch::async, [&] {
    StudyInfo info;
    return store->load_study(&info) && info.name == "quad";
  });
  const bool answered = call.wait_for(std::chrono::seconds(30)) == std::future_status::ready;
  kill(backend, SIGCONT);  // the call returns either way, and the backend ends
  set_postgres_stall_s(120);
  EXPECT_TRUE(answered) << "the call waited on the stopped backend";
  EXPECT_TRUE(call.get());
  EXPECT_THAT(warnings.logged,
              ::testing::Contains(HasSubstr("no answer from the server for 2 s; dropping the "
                                            "connection")));
  store->delete_study();
}

// A connection the server drops between two calls (a restart, an outage, a terminated
// backend) is opened again and the call retried, with a warning; the study loses nothing.
TEST(PostgresStoreTest, ALostConnectionIsRestoredAndTheCallRetried) {
  REQUIRE_SERVER(url);
  const std::string study = unique_study("reconnect");
  const std::string app = fmt::format("cusweep_reconnect_{}", getpid());
  const std::string tagged = with_application_name(url, app);
  const auto store = open_postgres_study(tagged, study);
  store->delete_study();
  create_study(*store, quadratic_config(3, 1, 1));
  store->set_worker("w");
  std::vector<std::string> logged;
  const LogSink previous =
      set_log_sink([&](LogLevel, const std::string& m) { logged.push_back(m); });
  auto cut = [&] {
    pqxx::connection admin(url);
    pqxx::work w(admin);
    const pqxx::result r = w.exec_params(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", app);
    w.commit();
    ASSERT_EQ(r.size(), 1u) << "the store's one connection";
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the backend exits
  };
  for (uint64_t i = 0; i < 3; ++i) {
    cut();
    const TrialClaim c = store->claim_next(3, 60);
    ASSERT_EQ(c.kind, TrialClaim::kTrial);
    EXPECT_EQ(c.index, i);
    TrialRecord t = trial(i);
    ASSERT_TRUE(store->claim_trial(t));
    cut();
    store->record_evaluation(i, 1, {{"objective", 1.0}, {"metrics", {{"eval_loss", 1.0}}}});
    t.status = TrialStatus::kTerminated;
    store->finish_trial(t);
  }
  set_log_sink(previous);
  EXPECT_EQ(store->claim_next(3, 60).kind, TrialClaim::kDone);
  const std::vector<TrialRecord> trials = store->load_trials();
  ASSERT_EQ(trials.size(), 3u);
  for (const TrialRecord& t : trials) {
    EXPECT_EQ(t.status, TrialStatus::kTerminated);
    EXPECT_EQ(t.history.size(), 1u);
  }
  size_t lost = 0, restored = 0;
  for (const std::string& m : logged) {
    lost += m.find("connection lost") != std::string::npos;
    restored += m.find("connection restored") != std::string::npos;
  }
  EXPECT_EQ(lost, 6u);
  EXPECT_EQ(restored, 6u);
}

TEST(WorkerProcessTest, FourWorkersOnOnePostgresStudyRunEachTrialOnce) {
  REQUIRE_SERVER(url);
  const std::string study = unique_study("four_workers");
  const std::string dir = temp_dir("four_workers");
  open_postgres_study(url, study)->delete_study();
  create_study(*open_postgres_study(url, study), quadratic_config(200, 2, 4));
  std::vector<pid_t> pids;
  for (int w = 0; w < 4; ++w) {
    pids.push_back(spawn(
        {"worker", "--storage", url, "--study", study, "--out", fmt::format("{}/out{}", dir, w)},
        fmt::format("{}/worker{}.log", dir, w)));
  }
  const Counts n = finish_workers(pids, 0, dir, url, study, 4);
  std::set<int64_t> twice;
  expect_each_finished_once(n, 200, &twice);
  EXPECT_TRUE(twice.empty()) << "claimed twice: " << twice.size() << " trials";
  EXPECT_GE(n.workers.size(), 2u) << "the workers did not share the study";
  // Each worker's --out holds the whole study.
  std::ifstream jsonl(dir + "/out0/trials.jsonl");
  std::string line;
  size_t lines = 0;
  while (std::getline(jsonl, line))
    ++lines;
  EXPECT_EQ(lines, 200u);
}

TEST(WorkerProcessTest, AKilledWorkersTrialContinuesElsewhereAfterTheHeartbeatTimeout) {
  REQUIRE_SERVER(url);
  const std::string study = unique_study("killed_worker");
  const std::string dir = temp_dir("killed_worker");
  open_postgres_study(url, study)->delete_study();
  json j = quadratic_config(200, 2, 12);
  j["checkpoint_every"] = 1;  // the trial handed over continues where the dead worker left it
  create_study(*open_postgres_study(url, study), j);
  std::vector<pid_t> pids;
  for (int w = 0; w < 4; ++w) {
    pids.push_back(spawn({"worker", "--storage", url, "--study", study, "--heartbeat-timeout", "2"},
                         fmt::format("{}/worker{}.log", dir, w)));
  }
  // Kill worker 0 while it runs a trial that has recorded evaluations.
  pqxx::connection c(url);
  const std::string victim = fmt::format("%:{}:%", pids[0]);
  // Its RUNNING trials; with `evaluated`, only those that recorded an evaluation.
  const auto owned = [&](bool evaluated) {
    pqxx::work w(c);
    std::set<int64_t> running;
    for (const auto& row : w.exec_params(
             "SELECT t.number FROM cusweep_trials t WHERE t.study = $1 AND t.worker LIKE $2 "
             "AND t.status = 'RUNNING' AND (NOT $3 OR EXISTS (SELECT 1 FROM "
             "cusweep_evaluations e WHERE e.study = t.study AND e.trial = t.number))",
             study, victim, evaluated))
      running.insert(row[0].as<int64_t>());
    return running;
  };
  const auto t0 = std::chrono::steady_clock::now();
  while (owned(true).empty() && std::chrono::steady_clock::now() - t0 < std::chrono::seconds(20))
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  kill(pids[0], SIGKILL);
  EXPECT_EQ(wait_exit(pids[0]), 128 + SIGKILL);
  const std::set<int64_t> orphans = owned(false);
  ASSERT_FALSE(orphans.empty()) << "worker 0 ran no trial when it was killed";
  const Counts n = finish_workers(pids, 1, dir, url, study, 12);
  std::set<int64_t> twice;
  expect_each_finished_once(n, 200, &twice);
  EXPECT_EQ(twice, orphans) << "only the killed worker's trials run again";
  std::string logs;
  for (int w = 1; w < 4; ++w)
    logs += slurp(fmt::format("{}/worker{}.log", dir, w));
  EXPECT_THAT(logs, HasSubstr("heartbeat stopped; running it again here (attempt 2)"));
  EXPECT_THAT(logs, HasSubstr("continuing from its checkpoint of epoch"));
}

TEST(WorkerProcessTest, TwoWorkersShareOneStudyDb) {
  const std::string dir = temp_dir("sqlite_workers");
  create_study(*open_sqlite_study(study_path(dir)), quadratic_config(60, 2, 3));
  const pid_t a = spawn({"worker", "--out", dir}, dir + "/a.log");
  const pid_t b = spawn({"worker", "--out", dir}, dir + "/b.log");
  EXPECT_EQ(wait_exit(a), 0) << slurp(dir + "/a.log");
  EXPECT_EQ(wait_exit(b), 0) << slurp(dir + "/b.log");
  std::set<int64_t> twice;
  expect_each_finished_once(sqlite_counts(study_path(dir)), 60, &twice);
  EXPECT_TRUE(twice.empty());
  EXPECT_THAT(slurp(dir + "/a.log"), HasSubstr("Best trial"));
}

// A worker takes one trial per claim: fused_trials in the study's config is said to be off.
TEST(WorkerProcessTest, AWorkerSaysFusedTrialsAreOff) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist")) GTEST_SKIP() << "no Fashion-MNIST";
  const std::string dir = temp_dir("fused_worker");
  const json j = json::parse(R"({"name": "fw", "n_trials": 2, "fused_trials": 2,
    "data": {"format": "idx", "dir": "/usr/share/datasets/fashion-mnist",
             "max_train_samples": 256, "max_eval_samples": 64},
    "model": {"hidden_sizes": [16]}, "training": {"num_train_epochs": 1},
    "search_space": {"learning_rate": [0.001, 0.01]}})");
  create_study(*open_sqlite_study(study_path(dir)), j);
  const pid_t w = spawn({"worker", "--out", dir, "--backend", "cpu"}, dir + "/w.log");
  EXPECT_EQ(wait_exit(w), 0) << slurp(dir + "/w.log");
  EXPECT_THAT(slurp(dir + "/w.log"),
              HasSubstr("fused_trials 2 is off for a worker of a shared study"));
}

TEST(WorkerProcessTest, AMissingStudyIsAUserErrorListingThoseThere) {
  REQUIRE_SERVER(url);
  const std::string study = unique_study("present");
  create_study(*open_postgres_study(url, study), quadratic_config(1, 1, 1));
  const std::string dir = temp_dir("missing");
  for (const char* command : {"worker", "show"}) {  // both list the studies there
    const pid_t pid = spawn({command, "--storage", url, "--study", "no_such_study"}, dir + "/log");
    EXPECT_EQ(wait_exit(pid), 2) << command;
    EXPECT_THAT(slurp(dir + "/log"),
                ::testing::AllOf(HasSubstr("study 'no_such_study': no such study (studies there:"),
                                 HasSubstr(study)))
        << command;
  }
}

// `cusweep run --storage` creates the study and runs as a worker; show reads it back.
TEST(WorkerProcessTest, RunWithStorageThenShow) {
  REQUIRE_SERVER(url);
  const std::string study = unique_study("run_show");
  const std::string dir = temp_dir("run_show");
  open_postgres_study(url, study)->delete_study();
  const std::string config = dir + "/quad.json";
  std::ofstream(config) << quadratic_config(12, 2, 2).dump();
  const pid_t run =
      spawn({"run", config, "--storage", url, "--study", study, "--out", dir + "/out", "--quiet"},
            dir + "/run.log");
  ASSERT_EQ(wait_exit(run), 0) << slurp(dir + "/run.log");
  const pid_t again =
      spawn({"run", config, "--storage", url, "--study", study}, dir + "/again.log");
  EXPECT_EQ(wait_exit(again), 2);
  EXPECT_THAT(slurp(dir + "/again.log"), HasSubstr("--resume"));
  const pid_t show = spawn({"show", "--storage", url, "--study", study}, dir + "/show.log");
  ASSERT_EQ(wait_exit(show), 0) << slurp(dir + "/show.log");
  EXPECT_THAT(slurp(dir + "/show.log"), HasSubstr("Number of trials: 12 (12 TERMINATED)"));

  // Stopped by Ctrl-C, it says how to continue that study, named: without --study the config's
  // name would start another.
  const std::string stopped_study = unique_study("run_stopped");
  open_postgres_study(url, stopped_study)->delete_study();
  std::ofstream(dir + "/long.json") << quadratic_config(4, 2, 100000).dump();
  const pid_t stopped = spawn({"run", dir + "/long.json", "--storage", url, "--study",
                               stopped_study, "--out", dir + "/long", "--quiet"},
                              dir + "/long.log");
  std::this_thread::sleep_for(std::chrono::seconds(2));
  kill(stopped, SIGINT);
  EXPECT_EQ(wait_exit(stopped), 130) << slurp(dir + "/long.log");
  EXPECT_THAT(slurp(dir + "/long.log"),
              HasSubstr("--resume --storage URL --study " + stopped_study));
}

// --fork within one database: the new study starts with the trials of the first that lie in its
// narrower search space, runs the rest, and the first is left as it was.
TEST(WorkerProcessTest, RunWithStorageForksAStudyOfTheSameDatabase) {
  REQUIRE_SERVER(url);
  const std::string first = unique_study("fork_first"), second = unique_study("fork_second");
  const std::string dir = temp_dir("fork");
  open_postgres_study(url, first)->delete_study();
  open_postgres_study(url, second)->delete_study();
  std::ofstream(dir + "/wide.json") << quadratic_config(10, 2, 2).dump();
  json narrow = quadratic_config(10, 2, 2);
  narrow["search_space"]["x2"]["high"] = 0.5;
  std::ofstream(dir + "/narrow.json") << narrow.dump();
  const pid_t run =
      spawn({"run", dir + "/wide.json", "--storage", url, "--study", first, "--quiet"},
            dir + "/first.log");
  ASSERT_EQ(wait_exit(run), 0) << slurp(dir + "/first.log");
  const std::vector<TrialRecord> before = open_postgres_study(url, first)->load_trials();
  std::vector<std::string> inside;
  for (const TrialRecord& t : before)
    if (t.searched["x2"].get<double>() <= 0.5) inside.push_back(t.name);
  ASSERT_GT(inside.size(), 0u);

  const pid_t self = spawn(
      {"run", dir + "/narrow.json", "--storage", url, "--study", first, "--fork", first, "--quiet"},
      dir + "/self.log");
  EXPECT_EQ(wait_exit(self), 2);
  EXPECT_THAT(slurp(dir + "/self.log"), HasSubstr("that is the study this run records into"));
  const pid_t fork = spawn({"run", dir + "/narrow.json", "--storage", url, "--study", second,
                            "--fork", first, "--quiet"},
                           dir + "/second.log");
  ASSERT_EQ(wait_exit(fork), 0) << slurp(dir + "/second.log");
  EXPECT_THAT(slurp(dir + "/second.log"),
              HasSubstr(fmt::format("Forked: {} finished trials were carried from {}",
                                    inside.size(), first)));
  const std::vector<TrialRecord> forked = open_postgres_study(url, second)->load_trials();
  ASSERT_EQ(forked.size(), 10u);
  for (size_t i = 0; i < forked.size(); ++i) {
    EXPECT_EQ(forked[i].status, TrialStatus::kTerminated) << i;
    EXPECT_LE(forked[i].searched["x2"].get<double>(), 0.5) << i;
    if (i < inside.size()) {
      EXPECT_EQ(forked[i].location, "fork:" + inside[i]);
    } else {
      EXPECT_EQ(forked[i].location.rfind("fork:", 0), std::string::npos) << i;
    }
  }
  const std::vector<TrialRecord> after = open_postgres_study(url, first)->load_trials();
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i)
    EXPECT_EQ(trial_json(after[i]).dump(), trial_json(before[i]).dump()) << i;
}

}  // namespace
}  // namespace cusweep
