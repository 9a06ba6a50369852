// The cusweep binary as a user runs it: exit statuses, error messages, output files.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "backend.h"
#include "blas_kernels.h"
#include "study_store.h"

namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

struct Result {
  int status;
  std::string output;  // stdout and stderr together
};

Result run_shell(const std::string& command) {
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0)
    out.append(buf.data(), n);
  const int raw = pclose(pipe);
  return {WIFEXITED(raw) ? WEXITSTATUS(raw) : -1, out};
}

Result run(const std::string& args, const std::string& stdin_text = "") {
  // ctest runs tests as parallel processes: each needs its own stdin file.
  static int calls = 0;
  const fs::path in = fs::path(::testing::TempDir()) /
                      ("cli_stdin_" + std::to_string(getpid()) + "_" + std::to_string(calls++));
  std::ofstream(in) << stdin_text;
  return run_shell(std::string(CUSWEEP_BINARY) + " " + args + " < " + in.string());
}

std::string write_temp(const std::string& name, const std::string& text) {
  const fs::path p = fs::path(::testing::TempDir()) / name;
  std::ofstream(p) << text;
  return p.string();
}

TEST(CliTest, VersionAndDevicesSayWhichBackendsWereBuilt) {
  const Result v = run("--version");
  EXPECT_EQ(v.status, 0);
  EXPECT_THAT(v.output, HasSubstr("backends built: cpu"));
  const Result d = run("devices");
  EXPECT_EQ(d.status, 0);
  EXPECT_THAT(d.output, HasSubstr("cpu: usable"));
}

// OpenBLAS 0.3.21 picks SSE3 kernels on CPUs it does not know; cusweep starts itself again
// with the widest the CPU runs. Run as a user would, without the variables this test binary's
// own choice left in its environment.
TEST(CliTest, DevicesReportsTheWidestOpenblasKernelsThisCpuRuns) {
  const std::string clean = "env -u OPENBLAS_CORETYPE -u CUSWEEP_OPENBLAS_PICKED ";
  const Result d = run_shell(clean + CUSWEEP_BINARY + " devices");
  ASSERT_EQ(d.status, 0) << d.output;
  const size_t end = d.output.find(" kernels");
  ASSERT_NE(end, std::string::npos) << d.output;
  const size_t begin = d.output.rfind(", ", end);
  ASSERT_NE(begin, std::string::npos) << d.output;
  const std::string core = d.output.substr(begin + 2, end - begin - 2);
  EXPECT_EQ(cusweep::better_openblas_core(cusweep::detect_cpu_vector_support(), core), "")
      << d.output;

  // The user's OPENBLAS_CORETYPE is obeyed, and named as the reason.
  const Result forced =
      run_shell(clean + "OPENBLAS_CORETYPE=Prescott " + CUSWEEP_BINARY + " devices");
  ASSERT_EQ(forced.status, 0) << forced.output;
  EXPECT_THAT(forced.output, HasSubstr("Prescott kernels (set by OPENBLAS_CORETYPE)"));
  // A name OpenBLAS does not know: it chooses itself, and devices does not claim otherwise.
  const Result bogus =
      run_shell(clean + "OPENBLAS_CORETYPE=NoSuchCore " + CUSWEEP_BINARY + " devices");
  ASSERT_EQ(bogus.status, 0) << bogus.output;
  EXPECT_THAT(bogus.output,
              HasSubstr("(OPENBLAS_CORETYPE=NoSuchCore asked; OpenBLAS chose these)"));
}

TEST(CliTest, AnEmptyForkIsRefused) {
  const Result r = run("run /nonexistent.json --fork ''");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("error: --fork: empty; give the output folder"));
}

TEST(CliTest, ObjectiveOfTheHfExample) {
  const std::string metrics =
      R"({"eval_loss": 0.4, "eval_accuracy": 0.9, "eval_f1": 0.8, "eval_runtime": 12.3,
          "eval_samples_per_second": 81.3, "epoch": 3})";
  const Result r = run("objective - --json", metrics);
  ASSERT_EQ(r.status, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  EXPECT_NEAR(j["objective"].get<double>(), 1.7, 1e-12);
  EXPECT_EQ(j["direction"], "maximize");
  EXPECT_EQ(j["terms"].size(), 2u);
  EXPECT_EQ(j["dropped"].size(), 4u);

  const Result loss =
      run("objective - --json", R"({"eval_loss": 0.4, "eval_runtime": 1, "epoch": 3})");
  ASSERT_EQ(loss.status, 0) << loss.output;
  EXPECT_NEAR(nlohmann::json::parse(loss.output)["objective"].get<double>(), 0.4, 1e-12);
}

TEST(CliTest, ObjectiveBadInputExitsTwo) {
  EXPECT_EQ(run("objective -", "{\"eval_loss\": }").status, 2);
  const Result missing = run("objective - --objective eval_f1", R"({"eval_loss": 0.4})");
  EXPECT_EQ(missing.status, 2);
  EXPECT_THAT(missing.output, HasSubstr("eval_f1"));
  EXPECT_EQ(run("objective /nonexistent.json").status, 2);
}

TEST(CliTest, BadConfigExitsTwoNamingFileAndKey) {
  const std::string cfg = write_temp("cli_bad.json", R"({"name": "x", "n_trails": 3,
    "data": {"format": "csv", "train": "/dev/null"}})");
  const Result r = run("run " + cfg + " --out " + ::testing::TempDir() + "/cli_bad_out");
  EXPECT_EQ(r.status, 2);
  EXPECT_THAT(r.output, HasSubstr(cfg));
  EXPECT_THAT(r.output, HasSubstr("n_trails"));
  EXPECT_THAT(r.output, HasSubstr("did you mean 'n_trials'?"));
}

TEST(CliTest, MissingConfigAndBadFlagsExitTwo) {
  EXPECT_EQ(run("run /nonexistent/config.json").status, 2);
  EXPECT_EQ(run("run").status, 2);
  const Result unknown = run("--log-level debug frobnicate");
  EXPECT_EQ(unknown.status, 2);
  EXPECT_THAT(unknown.output, HasSubstr("error: 'frobnicate' is not a cusweep command; commands: "
                                        "run, worker, show, objective, devices"));
  const Result none = run("");
  EXPECT_EQ(none.status, 2);
  EXPECT_THAT(none.output, HasSubstr("error: no command given; commands: run, worker"));
  EXPECT_EQ(run("run x.json --backend tpu").status, 2);
}

// One trial on `csv` (written to NAME.csv, labels in column "label") on the CPU.
Result run_on_csv(const std::string& name, const std::string& csv) {
  const std::string data = write_temp(name + ".csv", csv);
  const std::string cfg =
      write_temp(name + ".json", R"({"name": ")" + name + R"(", "data": {"format": "csv", )" +
                                     R"("train": ")" + data +
                                     R"(", "label_column": "label"}, "n_trials": 1})");
  return run("run " + cfg + " --backend cpu --out " + ::testing::TempDir() + "/" + name + "_out");
}

TEST(CliTest, BadDataExitsTwoNamingTheFile) {
  const Result r = run_on_csv("cli_ragged", "a,b,label\n1,2,0\n3,4\n");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("cli_ragged.csv:3: 2 fields, expected 3"));
}

// Bytes that are not text are shown as \xNN, never sent to the terminal raw; an endless or huge
// file given as a config is refused, not read into memory.
TEST(CliTest, StrayBytesEndlessConfigsAndUnknownGemmsAreRefusedByName) {
  const Result r = run_on_csv("cli_latin1", "a,b,label\n1,2,0\n3,\xff\xfe,1\n");
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("value '\\xFF\\xFE' is not a number"));
  EXPECT_EQ(r.output.find('\xff'), std::string::npos);
  std::string with_nul = "a,b,label\n1,2,0\n3,0";  // a NUL cut the message short
  with_nul += '\0';
  with_nul += "2,1\n";
  const Result nul = run_on_csv("cli_nul", with_nul);
  EXPECT_EQ(nul.status, 2) << nul.output;
  EXPECT_THAT(nul.output, HasSubstr("cli_nul.csv:3: byte 20 is NUL: not a CSV text file"));

  const Result endless = run("run /dev/zero --out " + ::testing::TempDir() + "/cli_zero_out");
  EXPECT_EQ(endless.status, 2) << endless.output;
  EXPECT_THAT(endless.output, HasSubstr("/dev/zero: larger than 64 MB"));
  // Data that never ends is not read: only regular files are.
  const std::string zero_cfg = write_temp("cli_zero_data.json", R"({"name": "z",
    "data": {"format": "csv", "train": "/dev/zero"}, "n_trials": 1})");
  const Result zero_data =
      run("run " + zero_cfg + " --out " + ::testing::TempDir() + "/cli_zero_data_out");
  EXPECT_EQ(zero_data.status, 2) << zero_data.output;
  EXPECT_THAT(zero_data.output, HasSubstr("/dev/zero is not a regular file"));
  // A CUSWEEP_CPU_GEMM that is not a choice refuses a run, not --version.
  ::setenv("CUSWEEP_CPU_GEMM", "mkl", 1);
  const Result gemm = run_on_csv("cli_gemm", "a,label\n1,0\n2,1\n3,0\n4,1\n");
  const Result version = run("--version");
  ::unsetenv("CUSWEEP_CPU_GEMM");
  EXPECT_EQ(gemm.status, 2) << gemm.output;
  EXPECT_THAT(gemm.output, HasSubstr("CUSWEEP_CPU_GEMM=mkl: not a choice; allowed: auto, "
                                     "openblas, eigen"));
  EXPECT_FALSE(fs::exists(::testing::TempDir() + "/cli_gemm_out"));
  EXPECT_EQ(version.status, 0) << version.output;
  const Result metrics = run("objective /dev/zero");
  EXPECT_EQ(metrics.status, 2) << metrics.output;
  EXPECT_THAT(metrics.output, HasSubstr("/dev/zero: larger than 64 MB"));
}

TEST(CliTest, SweepWhereEveryTrialFailsExitsOne) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist")) GTEST_SKIP() << "no Fashion-MNIST";
  const std::string cfg = write_temp("cli_diverge.json", R"({"name": "diverge",
    "data": {"format": "idx", "dir": "/usr/share/datasets/fashion-mnist",
             "max_train_samples": 500, "max_eval_samples": 100},
    "training": {"optim": "sgd", "learning_rate": 1e30, "num_train_epochs": 1},
    "n_trials": 2})");
  const std::string out = ::testing::TempDir() + "/cli_diverge_out";
  fs::remove_all(out);  // a study left by an earlier run would be refused
  const Result r = run("run " + cfg + " --backend cpu --quiet --out " + out);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("ERROR"));
  std::ifstream jsonl(out + "/trials.jsonl");
  std::string line;
  int n = 0;
  while (std::getline(jsonl, line)) {
    EXPECT_EQ(nlohmann::json::parse(line)["status"], "ERROR");
    ++n;
  }
  EXPECT_EQ(n, 2);
}

// Numbers on the command line name the value and the range, NaN and words included; flags
// that do not go together are refused rather than ignored.
TEST(CliTest, FlagValuesAndCombinationsAreCheckedAndNamed) {
  ::unsetenv("CUSWEEP_STORAGE");  // --study is refused only when no storage is named at all
  const auto refused = [](const std::string& args, const std::string& says) {
    const Result r = run(args);
    EXPECT_EQ(r.status, 2) << args << "\n" << r.output;
    EXPECT_THAT(r.output, HasSubstr(says)) << args;
  };
  refused("worker --out x --heartbeat-timeout nan",
          "--heartbeat-timeout: 'nan' is not a number from 0.1 to 86400");
  refused("worker --out x --heartbeat-timeout 0x10", "'0x10' is not a number from 0.1 to 86400");
  refused("worker --out x --heartbeat-timeout 1e400", "1e400 is out of range; give a number");
  refused("run x.json --max-rows 1e3", "'1e3' is not a whole number from 1 to 100000");
  refused("run x.json --max-rows +5", "'+5' is not a whole number");
  refused("run x.json --max-rows 0", "0 is out of range; give a whole number from 1 to 100000");
  refused("worker --out x --heartbeat-timeout abc", "'abc' is not a number from 0.1 to 86400");
  refused("worker --out x --max-concurrent-trials 2.5",
          "'2.5' is not a whole number from 1 to 4096");
  refused("run x.json --max-rows abc", "--max-rows: 'abc' is not a whole number from 1 to 100000");
  refused("run x.json --out a --out b", "--out is given 2 times; give it once");
  // CLI11's own wording, said as the other refusals are.
  refused("run x.json --out", "error: --out needs a value (text)");
  refused("run x.json --max-rows", "error: --max-rows needs a value (a whole number)");
  refused("run x.json --backend tpu", "error: --backend must be one of auto, cpu, cuda, got 'tpu'");
  refused("run x.json y.json", "error: unexpected argument: y.json");
  refused("run x.json --study foo", "--study 'foo' names a study in --storage");
  refused("worker --out x --study foo", "--study 'foo' names a study in --storage");
  refused("show somewhere --study foo", "--study 'foo' names a study in --storage");
  refused("show somewhere --storage postgresql://u@127.0.0.1/db --study s",
          "both a folder (somewhere) and --storage are given");
}

TEST(CliTest, BadMaxRowsAndResultPathTakenByAFolderExitTwoBeforeTraining) {
  EXPECT_EQ(run("run x.json --max-rows -1").status, 2);
  const std::string cfg = write_temp("cli_folder.json", R"({"name": "folder",
    "data": {"format": "csv", "train": "/dev/null"}, "n_trials": 1})");
  const std::string out = ::testing::TempDir() + "/cli_folder_out";
  fs::create_directories(out + "/results.csv");
  const Result r = run("run " + cfg + " --backend cpu --quiet --out " + out);
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("results.csv: is a folder"));
  // show, on a folder where study.db is a folder: said so, not SQLite's "disk I/O error".
  const std::string shown = ::testing::TempDir() + "/cli_folder_show";
  fs::create_directories(shown + "/study.db");
  const Result s = run("show " + shown);
  EXPECT_EQ(s.status, 2) << s.output;
  EXPECT_THAT(s.output, HasSubstr(shown + "/study.db: is a folder, not a study"));
}

TEST(CliTest, TrialThatCannotFitInMemoryFailsWithTheFigure) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist")) GTEST_SKIP() << "no Fashion-MNIST";
  const std::string cfg = write_temp("cli_huge.json", R"({"name": "huge",
    "data": {"format": "idx", "dir": "/usr/share/datasets/fashion-mnist",
             "max_train_samples": 100, "max_eval_samples": 10},
    "model": {"hidden_sizes": [65536, 65536]}, "n_trials": 1})");
  const std::string out = ::testing::TempDir() + "/cli_huge_out";
  fs::remove_all(out);
  const Result r = run("run " + cfg + " --backend cpu --quiet --out " + out);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("GiB for its model"));
}

// More concurrent trials than the memory allows (ulimit -v: each of the 8 takes about 1 GB,
// and 5 GB are allowed) wait for one another instead of failing for good.
TEST(CliTest, TrialsOutOfMemoryWaitForOthersToEnd) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist")) GTEST_SKIP() << "no Fashion-MNIST";
  const std::string cfg = write_temp("cli_oom.json", R"({"name": "oom",
    "data": {"format": "idx", "dir": "/usr/share/datasets/fashion-mnist",
             "max_train_samples": 64, "max_eval_samples": 64},
    "model": {"hidden_sizes": [65536]}, "training": {"num_train_epochs": 1,
    "per_device_train_batch_size": 64, "per_device_eval_batch_size": 64},
    "search_space": {"learning_rate": {"type": "loguniform", "low": 1e-4, "high": 1e-2}},
    "n_trials": 8, "max_concurrent_trials": 8})");
  const std::string out = ::testing::TempDir() + "/cli_oom_out";
  fs::remove_all(out);
  const Result r = run_shell("ulimit -v 5000000; " + std::string(CUSWEEP_BINARY) + " run " + cfg +
                             " --backend cpu --quiet --out " + out);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("out of memory with "));
  EXPECT_THAT(r.output, HasSubstr("it starts again when one of them ends"));
  EXPECT_EQ(run("show " + out).output.find("ERROR"), std::string::npos);
  EXPECT_THAT(run("show " + out).output, HasSubstr("8 (8 TERMINATED)"));
}

// A sweep of `n_trials` learning rates on 20,000 Fashion-MNIST images, written as `name`.json,
// its output folder emptied: {config, out}.
std::pair<std::string, std::string> long_fashion_sweep(const std::string& name, int epochs,
                                                       int batch, int n_trials) {
  const std::string cfg =
      write_temp("cli_" + name + ".json", R"({"name": ")" + name + R"(",
    "data": {"format": "idx", "dir": "/usr/share/datasets/fashion-mnist", "scaling": "unit",
             "max_train_samples": 20000, "max_eval_samples": 1000},
    "training": {"num_train_epochs": )" + std::to_string(epochs) +
                                              R"(, "per_device_train_batch_size": )" +
                                              std::to_string(batch) +
                                              R"(},
    "search_space": {"learning_rate": {"type": "loguniform", "low": 1e-4, "high": 1e-2}},
    "n_trials": )" + std::to_string(n_trials) +
                                              "}");
  const std::string out = ::testing::TempDir() + "/cli_" + name + "_out";
  fs::remove_all(out);
  return {cfg, out};
}

// Runs `cusweep run CONFIG --out OUT` in the background and `then` (shell, $pid is the run's)
// beside it; the run's exit status is the result's.
Result run_and_then(const std::string& cfg, const std::string& out, const std::string& then) {
  return run_shell("timeout 120 sh -c '" + std::string(CUSWEEP_BINARY) + " run " + cfg +
                   " --backend cpu --quiet --out " + out + " & pid=$!; " + then + "; wait $pid'");
}

TEST(CliTest, CtrlCStopsCleanlyWithExit130AndKeepsResults) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist")) GTEST_SKIP() << "no Fashion-MNIST";
  const auto [cfg, out] = long_fashion_sweep("stop", 6, 16, 50);
  // Interrupt once the first trials have finished, so that others are surely mid-way.
  const Result r = run_and_then(
      cfg, out,
      "while [ ! -s " + out + "/trials.jsonl ]; do sleep 0.05; done; sleep 0.3; kill -INT $pid");
  EXPECT_EQ(r.status, 130) << r.output;
  EXPECT_THAT(r.output, HasSubstr("stopping"));
  std::ifstream jsonl(out + "/trials.jsonl");
  std::string line;
  int lines = 0, interrupted = 0;
  while (std::getline(jsonl, line)) {
    ++lines;
    interrupted += nlohmann::json::parse(line)["status"] == "INTERRUPTED";
  }
  EXPECT_EQ(lines, 50);  // every trial, PENDING ones included
  EXPECT_GE(interrupted, 1);
  EXPECT_TRUE(fs::exists(out + "/results.csv"));
  EXPECT_TRUE(fs::exists(out + "/best.json"));
}

// With more concurrent trials than cores, those waiting for their turn stop at once when the
// sweep is stopped (each trained an epoch more before, one turn after another).
TEST(CliTest, CtrlCStopsTrialsWaitingForTheirTurnAtOnce) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist")) GTEST_SKIP() << "no Fashion-MNIST";
  const std::string cfg = write_temp("cli_turns.json", R"({"name": "turns",
    "data": {"format": "idx", "dir": "/usr/share/datasets/fashion-mnist", "scaling": "unit",
             "max_eval_samples": 1000},
    "model": {"hidden_sizes": [512]}, "training": {"num_train_epochs": 1},
    "search_space": {"learning_rate": {"type": "loguniform", "low": 1e-4, "high": 1e-2}},
    "n_trials": 16, "max_concurrent_trials": 16})");
  const std::string out = ::testing::TempDir() + "/cli_turns_out";
  fs::remove_all(out);
  const Result r = run_and_then(
      cfg, out,
      "while [ ! -s " + out + "/trials.jsonl ]; do sleep 0.05; done; sleep 0.2; kill -INT $pid");
  EXPECT_EQ(r.status, 130) << r.output;
  std::ifstream jsonl(out + "/trials.jsonl");
  std::string line;
  int interrupted = 0;
  while (std::getline(jsonl, line))
    interrupted += nlohmann::json::parse(line)["status"] == "INTERRUPTED";
  // At most the trials that had a turn (2 on 2 cores) and those done before finish their epoch.
  EXPECT_GE(interrupted, 8) << r.output;
  const Result resumed = run("run " + cfg + " --backend cpu --quiet --resume --out " + out);
  EXPECT_EQ(resumed.status, 0) << resumed.output;
  EXPECT_THAT(run("show " + out).output, HasSubstr("16 (16 TERMINATED)"));
}

// A run killed with -9 still counts its time in the study: the summary is brought up to date
// every 2 s as trials record (before, the study's time was written only at a run's end).
TEST(CliTest, AKilledRunsTimeIsRecorded) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist")) GTEST_SKIP() << "no Fashion-MNIST";
  const auto [cfg, out] = long_fashion_sweep("killed", 3, 64, 200);
  const Result killed = run_and_then(cfg, out, "sleep 4.5; kill -9 $pid");
  EXPECT_EQ(killed.status, 137) << killed.output;
  const Result show = run("show " + out);
  const std::string marker = "Recorded study (its last run: ";
  const size_t at = show.output.find(marker);
  ASSERT_NE(at, std::string::npos) << show.output;
  const std::string hms = show.output.substr(at + marker.size(), 11);  // 00:00:03.51
  const double seconds = 3600 * std::stod(hms.substr(0, 2)) + 60 * std::stod(hms.substr(3, 2)) +
                         std::stod(hms.substr(6));
  EXPECT_GE(seconds, 1.5) << show.output;
  EXPECT_LE(seconds, 4.5) << show.output;
}

TEST(CliTest, RunWritesTheThreeResultFiles) {
  if (!fs::exists("/usr/share/datasets/fashion-mnist")) GTEST_SKIP() << "no Fashion-MNIST";
  const std::string cfg = write_temp("cli_ok.json", R"({"name": "ok",
    "data": {"format": "idx", "dir": "/usr/share/datasets/fashion-mnist", "scaling": "unit",
             "max_train_samples": 1000, "max_eval_samples": 200},
    "training": {"num_train_epochs": 1}, "metrics": ["accuracy"],
    "search_space": {"learning_rate": [0.001, 0.01]}, "n_trials": 2})");
  const std::string out = ::testing::TempDir() + "/cli_ok_out";
  fs::remove_all(out);
  const Result r = run("run " + cfg + " --backend cpu --out " + out);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("Trial name"));
  EXPECT_THAT(r.output, HasSubstr("Best trial"));
  for (const char* f : {"trials.jsonl", "results.csv", "best.json"}) {
    EXPECT_TRUE(fs::exists(fs::path(out) / f)) << f;
  }
}

std::string quadratic_config(const std::string& name, int n_trials) {
  return write_temp(name, R"({"name": "quad", "benchmark_function": {"function": "quadratic",
    "epochs": 3}, "search_space": {"x1": {"type": "uniform", "low": 0, "high": 1}},
    "n_trials": )" + std::to_string(n_trials) +
                              "}");
}

TEST(CliTest, AStudyIsRefusedResumedExtendedAndShown) {
  const std::string out = ::testing::TempDir() + "/cli_study_out";
  fs::remove_all(out);
  const std::string six = quadratic_config("cli_study6.json", 6);
  ASSERT_EQ(run("run " + six + " --quiet --out " + out).status, 0);
  const Result again = run("run " + six + " --quiet --out " + out);
  EXPECT_EQ(again.status, 2);
  EXPECT_THAT(again.output, HasSubstr("study.db: holds the study of an earlier sweep"));
  EXPECT_THAT(again.output, HasSubstr("hint: --resume continues it; --overwrite"));
  EXPECT_EQ(run("run " + six + " --resume --overwrite --out " + out).status, 2);

  const Result more = run("run " + quadratic_config("cli_study8.json", 8) +
                          " --quiet --resume "
                          "--out " +
                          out);
  EXPECT_EQ(more.status, 0) << more.output;
  EXPECT_THAT(more.output, HasSubstr("Resumed: 6 finished trials were kept"));
  // Resumed again with nothing left to run: it says so, and starts no slot.
  const Result done =
      run("run " + quadratic_config("cli_study8.json", 8) + " --resume --out " + out);
  EXPECT_EQ(done.status, 0) << done.output;
  EXPECT_THAT(done.output, HasSubstr("| nothing left to run"));
  EXPECT_THAT(done.output, Not(HasSubstr("slots:")));
  EXPECT_THAT(done.output, HasSubstr("Resumed: 8 finished trials were kept"));

  const Result show = run("show " + out);
  EXPECT_EQ(show.status, 0) << show.output;
  EXPECT_THAT(show.output, HasSubstr("Number of trials: 8 (8 TERMINATED)"));
  EXPECT_THAT(show.output, HasSubstr("Best trial:"));
  EXPECT_THAT(show.output, HasSubstr("rule: default rule"));
  const auto best_before = nlohmann::json::parse(std::ifstream(out + "/best.json"));
  for (const char* f : {"trials.jsonl", "results.csv", "best.json"})
    fs::remove(fs::path(out) / f);
  ASSERT_EQ(run("show " + out + " --write-results").status, 0);
  const auto best_after = nlohmann::json::parse(std::ifstream(out + "/best.json"));
  EXPECT_EQ(best_after["best_trial"], best_before["best_trial"]);
  EXPECT_TRUE(fs::exists(out + "/results.csv"));
  {
    // While a run holds the folder, its files are its own: showing works, writing them does not.
    const cusweep::StudyFolderLock running(out, true);
    EXPECT_EQ(run("show " + out).status, 0);
    const Result refused = run("show " + out + " --write-results");
    EXPECT_EQ(refused.status, 2);
    EXPECT_THAT(refused.output, HasSubstr("the study is in use by another cusweep"));
  }

  const Result none = run("show " + ::testing::TempDir());
  EXPECT_EQ(none.status, 2);
  EXPECT_THAT(none.output, HasSubstr("no study here"));
}

// A run stopped by Ctrl-C says how to continue it, as a command that pastes as it reads: names
// with spaces or quotes are quoted for the shell.
TEST(CliTest, TheContinueLineOfAStoppedRunPastesIntoAShell) {
  const fs::path dir = fs::path(::testing::TempDir()) / "cli stop's dir";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string cfg = (dir / "my cfg.json").string();
  std::ofstream(cfg) << R"({"name": "stop", "n_trials": 4, "max_concurrent_trials": 2,
    "benchmark_function": {"function": "quadratic", "epochs": 100000},
    "search_space": {"x1": {"type": "uniform", "low": 0, "high": 1},
                     "x2": {"type": "uniform", "low": 0, "high": 1},
                     "x3": {"type": "uniform", "low": 0, "high": 1},
                     "x4": {"type": "uniform", "low": 0, "high": 1}}})";
  const std::string out = (dir / "out dir").string();
  const auto quoted = [](const std::string& s) {  // for the command this test runs
    std::string q = "'";
    for (const char c : s)
      q += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return q + "'";
  };
  const Result r = run_shell("timeout --preserve-status -s INT 2 " + std::string(CUSWEEP_BINARY) +
                             " run " + quoted(cfg) + " --quiet --out " + quoted(out));
  EXPECT_EQ(r.status, 130) << r.output;
  const size_t at = r.output.find("To continue: cusweep run ");
  ASSERT_NE(at, std::string::npos) << r.output;
  const std::string line = r.output.substr(at + 13, r.output.find('\n', at) - at - 13);
  // The shell splits the line into the words it was made of.
  const Result words = run_shell("set -- " + line.substr(std::string("cusweep").size()) +
                                 "; printf '[%s]\\n' \"$@\"");
  EXPECT_EQ(words.output, "[run]\n[" + cfg + "]\n[--out]\n[" + out + "]\n[--resume]\n") << line;
}

// Names given empty on the command line are refused, not read as left out.
TEST(CliTest, EmptyNamesOnTheCommandLineAreRefused) {
  const std::string cfg = quadratic_config("cli_empty_names.json", 1);
  for (const std::string& args : std::vector<std::string>{
           "run " + cfg + " --study ''", "run " + cfg + " --fork ' '", "worker --study ''",
           "show --study ''", "objective /dev/null --objective ''", "run " + cfg + " --storage ''",
           "worker --storage '' --study s", "show --storage ''"}) {
    const Result r = run(args);
    EXPECT_EQ(r.status, 2) << args << "\n" << r.output;
    EXPECT_THAT(r.output, HasSubstr(": empty; give")) << args;
  }
}

// Result files with no study.db beside them (deleted, or the user's own files) are not replaced
// by a new run or a --resume; --overwrite replaces them.
TEST(CliTest, ResultFilesWithoutAStudyAreKeptUnlessOverwritten) {
  const std::string out = ::testing::TempDir() + "/cli_unrecorded_out";
  fs::remove_all(out);
  fs::create_directories(out);
  std::ofstream(out + "/results.csv") << "my own results\n";
  std::ofstream(out + "/best.json") << "{}\n";
  const std::string cfg = quadratic_config("cli_unrecorded.json", 2);
  const Result refused = run("run " + cfg + " --quiet --out " + out);
  EXPECT_EQ(refused.status, 2);
  EXPECT_THAT(refused.output, HasSubstr(out + ": holds results of an earlier run (results.csv, "
                                              "best.json) and no study.db"));
  EXPECT_THAT(refused.output, HasSubstr("--overwrite replaces them"));
  EXPECT_EQ(run("run " + cfg + " --quiet --resume --out " + out).status, 2);  // nothing to resume
  EXPECT_FALSE(fs::exists(out + "/study.db"));
  std::ofstream(out + "/study.db").flush();  // an empty file records nothing either
  EXPECT_THAT(run("run " + cfg + " --quiet --resume --out " + out).output,
              HasSubstr("and no study.db (or an empty one)"));
  std::ifstream kept(out + "/results.csv");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(kept), {}), "my own results\n");
  EXPECT_EQ(fs::file_size(out + "/study.db"), 0u);

  EXPECT_EQ(run("run " + cfg + " --quiet --overwrite --out " + out).status, 0);
  EXPECT_TRUE(fs::exists(out + "/study.db"));
  EXPECT_EQ(run("run " + cfg + " --quiet --resume --out " + out).status, 0);  // its own study
}

// Asking for CUDA where no device answers is refused, naming where the request came from.
TEST(CliTest, CudaAskedForWithoutADeviceNamesTheFlagOrTheConfigKey) {
  if (cusweep::probe_backends().cuda_usable) GTEST_SKIP() << "a CUDA device answers here";
  const std::string data = write_temp("cli_nocuda.csv", "a,label\n1,0\n2,1\n3,0\n4,1\n");
  const std::string cfg = write_temp(
      "cli_nocuda.json", R"({"name": "nocuda", "backend": "cuda", "data": {"format": "csv",
      "train": ")" + data + R"(", "eval_fraction": 0.5}, "n_trials": 1})");
  const std::string out = ::testing::TempDir() + "/cli_nocuda_out";
  fs::remove_all(out);
  const Result by_config = run("run " + cfg + " --out " + out);
  EXPECT_EQ(by_config.status, 2);
  EXPECT_THAT(by_config.output, HasSubstr(cfg + ": backend cuda: no usable CUDA device"));
  EXPECT_THAT(by_config.output, HasSubstr("set \"backend\" to \"auto\" or \"cpu\""));
  const Result by_flag = run("run " + cfg + " --backend cuda --out " + out);
  EXPECT_EQ(by_flag.status, 2);
  EXPECT_THAT(by_flag.output, HasSubstr("error: --backend cuda: no usable CUDA device"));
  EXPECT_FALSE(fs::exists(out)) << "a refused run left its folder (and study.lock) behind";
  fs::create_directories(out);  // a folder the user made stays, with nothing of the run's
  EXPECT_EQ(run("run " + cfg + " --backend cuda --out " + out).status, 2);
  EXPECT_TRUE(fs::exists(out));
  EXPECT_TRUE(fs::is_empty(out));
  EXPECT_EQ(run("run " + cfg + " --backend cuda --out " + out + "/a/b/c").status, 2);
  EXPECT_TRUE(fs::is_empty(out)) << "the folders a refused run made stayed";
  EXPECT_EQ(run("run " + cfg + " --backend cpu --quiet --out " + out).status, 0);
}

// The study records what its data files held: a resume, a worker or a fork reading other values
// from them is refused (the same settings naming changed files would mix two datasets' trials).
TEST(CliTest, DataFilesThatChangedAreRefusedOnResumeToWorkersAndForks) {
  std::string rows = "a,b,label\n";
  for (int i = 0; i < 60; ++i)
    rows +=
        std::to_string(i % 7) + "," + std::to_string(i % 5) + "," + std::to_string(i % 2) + "\n";
  const std::string data = write_temp("cli_digest.csv", rows);
  const auto config = [&](const std::string& name, int n_trials) {
    return write_temp(name, R"({"name": "digest", "data": {"format": "csv", "train": ")" + data +
                                R"(", "eval_fraction": 0.25}, "training": {"num_train_epochs": 1},
      "search_space": {"learning_rate": {"type": "loguniform", "low": 1e-3, "high": 1e-1}},
      "n_trials": )" + std::to_string(n_trials) +
                                "}");
  };
  const std::string out = ::testing::TempDir() + "/cli_digest_out";
  fs::remove_all(out);
  ASSERT_EQ(run("run " + config("cli_digest2.json", 2) + " --quiet --out " + out).status, 0);
  const std::string three = config("cli_digest3.json", 3);
  const Result same = run("run " + three + " --quiet --resume --out " + out);
  EXPECT_EQ(same.status, 0) << same.output;  // the same values: it resumes

  std::ofstream(data) << rows << "6,4,1\n";  // one more row
  const Result changed = run("run " + config("cli_digest4.json", 4) + " --resume --out " + out);
  EXPECT_EQ(changed.status, 2) << changed.output;
  EXPECT_THAT(changed.output, HasSubstr("data.content changed: recorded \"train 45x2 crc32 "));
  EXPECT_THAT(changed.output, HasSubstr("now \"train 46x2 crc32 "));
  const Result worker = run("worker --out " + out);
  EXPECT_EQ(worker.status, 2) << worker.output;
  EXPECT_THAT(worker.output, HasSubstr("this worker's data is not the study's"));
  const std::string forked = out + "_fork";
  fs::remove_all(forked);
  const Result fork =
      run("run " + config("cli_digest5.json", 4) + " --fork " + out + " --out " + forked);
  EXPECT_EQ(fork.status, 2) << fork.output;
  EXPECT_THAT(fork.output, HasSubstr("its trials measured something else than this config:\n"
                                     "  data.content changed: recorded \"train 45x2"));
  EXPECT_FALSE(fs::exists(forked + "/study.db"));
  EXPECT_THAT(run("show " + out).output, HasSubstr("Number of trials: 3 (3 TERMINATED)"));
}

// A changed objective cannot resume a study; the refusal points to --fork, which starts a new
// study in another folder with the recorded trials, their objective recomputed.
TEST(CliTest, AChangedObjectiveIsRefusedOnResumeAndForkedInstead) {
  const std::string out = ::testing::TempDir() + "/cli_fork_source";
  const std::string forked = ::testing::TempDir() + "/cli_fork_target";
  fs::remove_all(out);
  fs::remove_all(forked);
  ASSERT_EQ(run("run " + quadratic_config("cli_fork6.json", 6) + " --quiet --out " + out).status,
            0);
  const std::string doubled = write_temp("cli_fork_doubled.json", R"({"name": "quad",
    "benchmark_function": {"function": "quadratic", "epochs": 3},
    "search_space": {"x1": {"type": "uniform", "low": 0, "high": 1}},
    "objective": {"eval_loss": 2}, "n_trials": 8})");
  const Result resumed = run("run " + doubled + " --quiet --resume --out " + out);
  EXPECT_EQ(resumed.status, 2);
  EXPECT_THAT(resumed.output, HasSubstr("cannot resume"));
  EXPECT_THAT(resumed.output, HasSubstr("--fork THIS_DIR --out NEW_DIR"));
  EXPECT_EQ(run("run " + doubled + " --quiet --resume --fork " + out + " --out " + forked).status,
            2);
  const Result fork = run("run " + doubled + " --quiet --fork " + out + " --out " + forked);
  EXPECT_EQ(fork.status, 0) << fork.output;
  EXPECT_THAT(fork.output, HasSubstr("Forked: 6 finished trials were carried from " + out));
  EXPECT_THAT(run("show " + forked).output, HasSubstr("Number of trials: 8 (8 TERMINATED)"));
  const Result missing = run("run " + doubled + " --quiet --fork " + forked + "/nothing --out " +
                             ::testing::TempDir() + "/cli_fork_none");
  EXPECT_EQ(missing.status, 2);
  EXPECT_THAT(missing.output, HasSubstr("no study here"));
}

TEST(CliTest, ACorruptStudyExitsTwoNamingTheFile) {
  const std::string out = ::testing::TempDir() + "/cli_corrupt_out";
  fs::remove_all(out);
  fs::create_directories(out);
  std::ofstream(out + "/study.db") << "not a database at all, just some text in the way";
  const Result r = run("run " + quadratic_config("cli_corrupt.json", 2) + " --resume --out " + out);
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr(out + "/study.db: not a cusweep study"));
  EXPECT_EQ(run("show " + out).status, 2);
}

// --storage (or CUSWEEP_STORAGE): an unknown scheme exits 2 naming the flag and what is
// allowed; a server that cannot be reached exits 2; the password never appears.
TEST(CliTest, StorageUrlsAreCheckedAndTheirPasswordsNeverShown) {
  const std::string cfg =
      write_temp("cli_storage.json",
                 R"({"name": "st", "benchmark_function": "branin", "n_trials": 2,
          "search_space": {"x1": {"type": "uniform", "low": -5, "high": 10},
                           "x2": {"type": "uniform", "low": 0, "high": 15}}})");
  const std::string out = (fs::path(::testing::TempDir()) / "cli_storage_out").string();
  const Result scheme = run("run " + cfg + " --out " + out + " --storage mysql://u:hunter2x@h/db");
  EXPECT_EQ(scheme.status, 2);
  EXPECT_THAT(scheme.output, ::testing::AllOf(HasSubstr("--storage 'mysql://u:***@h/db'"),
                                              HasSubstr("unknown scheme 'mysql'"),
                                              HasSubstr("allowed: postgresql://")));
  EXPECT_THAT(scheme.output, ::testing::Not(HasSubstr("hunter2x")));

  // Port 1 on the loopback: nothing listens there.
  const std::string closed = "postgresql://cusweep:hunter2x@127.0.0.1:1/db?password=hunter2x";
  for (const std::string& args : {"run " + cfg + " --out " + out + " --storage '" + closed + "'",
                                  "worker --storage '" + closed + "' --study st",
                                  "show --storage '" + closed + "' --study st"}) {
    const Result r = run(args);
    EXPECT_EQ(r.status, 2) << args << "\n" << r.output;
    EXPECT_THAT(r.output, HasSubstr("postgresql://cusweep:***@127.0.0.1:1/db")) << args;
    EXPECT_THAT(r.output, HasSubstr("cannot connect")) << args;
    EXPECT_THAT(r.output, ::testing::Not(HasSubstr("hunter2x"))) << args;
  }
  // A password with '@' and '/' not percent-encoded: hidden whole, and libpq's quotes of its
  // pieces (as a host) hidden too.
  const std::string odd = "postgresql://cusweep:Sec:r@t/pw@hunter2x@127.0.0.1:1/db";
  const Result shown = run("show --storage '" + odd + "' --study st");
  EXPECT_EQ(shown.status, 2) << shown.output;
  EXPECT_THAT(shown.output, HasSubstr("postgresql://cusweep:***@127.0.0.1:1/db")) << shown.output;
  for (const char* piece : {"t/pw", "hunter2x", "Sec:r"})
    EXPECT_THAT(shown.output, ::testing::Not(HasSubstr(piece))) << shown.output;
  // A server that takes the connection and never answers: refused once the connect timeout
  // (10 s unless the URL sets connect_timeout) has passed, not waited on without end.
  const int silent = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(silent, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  ASSERT_EQ(bind(silent, reinterpret_cast<sockaddr*>(&address), length), 0);
  ASSERT_EQ(listen(silent, 8), 0);  // the kernel completes the handshake; nothing ever answers
  ASSERT_EQ(getsockname(silent, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const std::string mute =
      fmt::format("postgresql://cusweep:hunter2x@127.0.0.1:{}/db", ntohs(address.sin_port));
  for (const std::string& url : {mute, mute + "?connect_timeout=2"}) {
    const auto start = std::chrono::steady_clock::now();
    const Result r = run("show --storage '" + url + "' --study st");
    const double waited_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    EXPECT_EQ(r.status, 2) << r.output;
    EXPECT_THAT(r.output, HasSubstr("cannot connect: no answer from the server in time"));
    EXPECT_THAT(r.output, ::testing::Not(HasSubstr("hunter2x")));
    EXPECT_LT(waited_s, url == mute ? 30 : 9) << url;  // 10 s and 2 s, with room for a busy CI
  }
  close(silent);

  const Result env = run_shell("CUSWEEP_STORAGE=sqlite:///tmp/x.db " + std::string(CUSWEEP_BINARY) +
                               " run " + cfg + " --out " + out);
  EXPECT_EQ(env.status, 2);
  EXPECT_THAT(env.output, HasSubstr("CUSWEEP_STORAGE 'sqlite:///tmp/x.db': unknown scheme"));
}

}  // namespace
