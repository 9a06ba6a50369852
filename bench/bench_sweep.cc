// cusweep_bench: throughput, overhead, scaling, search and the cost of the study, measured on
// this machine (the BLAS ceiling is cusweep_blas_openblas, bench/blas_compare.cc).
// Each mode prints one table and, with --json, writes its figures; scripts/bench.sh runs them
// all beside the PyTorch baseline (bench/torch_baseline.py) and prints the comparison.
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "backend.h"
#include "blas_kernels.h"
#include "cpu_gemm.h"
#include "cusweep/benchmark_function.h"
#include "cusweep/config.h"
#include "cusweep/error.h"
#include "cusweep/log.h"
#include "cusweep/runner.h"
#include "cusweep/sampler.h"
#include "study_store.h"

namespace cusweep {
namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

// The process's peak resident memory (VmHWM) since it started or since reset_peak_rss(), in MB.
double peak_rss_mb() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // in kB
  }
  rusage usage{};  // no /proc: the peak since the start
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0;
}

// From here on peak_rss_mb() counts from the memory resident now (Linux 4.0 and later), so a
// sweep's peak is not hidden under the data loader's (decompression buffers, parsing).
void reset_peak_rss() {
  std::ofstream("/proc/self/clear_refs") << "5";
}

// GEMM FLOPs of one training sample (forward, weight gradients, input gradients of every layer
// but the first) and of one evaluated sample (forward only), from the layer widths.
struct FlopModel {
  double train_per_sample = 0;
  double eval_per_sample = 0;
};

FlopModel flop_model(const json& params, int64_t inputs, int classes) {
  std::vector<int64_t> dims = {inputs};
  if (params["architecture"] == "mlp") {
    for (const auto& h : params["hidden_sizes"])
      dims.push_back(h.get<int64_t>());
  }
  dims.push_back(classes);
  FlopModel m;
  for (size_t l = 0; l + 1 < dims.size(); ++l) {
    const double mac = static_cast<double>(dims[l]) * dims[l + 1];
    m.eval_per_sample += 2 * mac;
    m.train_per_sample += (l == 0 ? 4 : 6) * mac;
  }
  return m;
}

struct SweepFigures {
  double wall_s = 0, train_samples = 0, train_flops = 0, trial_compute_s = 0;
  double mean_accuracy = 0;
  int trials = 0, errors = 0;
};

SweepFigures run_measured(const SweepConfig& config, const DataSplit& data,
                          const std::string& backend) {
  RunOptions options;
  options.backend = backend;
  options.data = &data;
  const SweepResult r = run_sweep(config, options);

  SweepFigures f;
  f.wall_s = r.wall_s;
  f.trials = static_cast<int>(r.trials.size());
  for (const TrialRecord& t : r.trials) {
    if (t.status != TrialStatus::kTerminated) {
      ++f.errors;
      continue;
    }
    const FlopModel fm = flop_model(t.params, data.train.cols, data.train.num_classes);
    const double samples = static_cast<double>(data.train.rows) * t.history.size();
    f.train_samples += samples;
    f.train_flops += samples * fm.train_per_sample;
    f.mean_accuracy += t.metrics.value("eval_accuracy", 0.0);
    for (const json& h : t.history) {
      f.trial_compute_s +=
          h["train_runtime"].get<double>() + h["metrics"]["eval_runtime"].get<double>();
    }
  }
  const int done = f.trials - f.errors;
  if (done > 0) f.mean_accuracy /= done;
  return f;
}

void write_json(const std::string& path, const json& j) {
  if (path.empty()) return;
  std::ofstream out(path);
  if (!out) throw UserError(fmt::format("--json {}: cannot write", path));
  out << j.dump(2) << "\n";
}

// ---- modes

struct ThroughputArgs {
  std::string config_path = std::string(CUSWEEP_SOURCE_DIR) + "/bench/reference_workload.json";
  std::string backend = "cpu";
  int concurrency = 2;
  int max_trials = 0;  // first N trials only
  int trials = 0;      // n_trials override (the grid repeats past its size)
  int64_t max_train_samples = 0;
  int fused = -1;  // fused_trials override (-1 = the config's, 0 = auto)
};

int throughput(const ThroughputArgs& a, const std::string& json_path) {
  SweepConfig config = load_sweep_config(a.config_path);
  config.max_concurrent_trials = a.concurrency;
  if (a.trials > 0) config.n_trials = a.trials;
  if (a.max_trials > 0) config.n_trials = std::min(config.n_trials, a.max_trials);
  if (a.max_train_samples > 0) config.data.max_train_samples = a.max_train_samples;
  if (a.fused >= 0) config.fused_trials = a.fused;
  const int concurrency = a.concurrency;
  const std::string& backend = a.backend;
  const std::string& config_path = a.config_path;
  const auto t0 = Clock::now();
  const DataSplit data = load_data(config.data);
  const double load_s = std::chrono::duration<double>(Clock::now() - t0).count();
  const double load_peak_mb = peak_rss_mb();
  reset_peak_rss();

  const SweepFigures f = run_measured(config, data, backend);
  const double sweep_peak_mb = peak_rss_mb();
  const json j = {{"mode", "throughput"},
                  {"config", config_path},
                  {"backend", backend},
                  {"concurrency", concurrency},
                  {"fused_trials", config.fused_trials},
                  {"trials", f.trials},
                  {"errors", f.errors},
                  {"load_s", load_s},
                  {"wall_s", f.wall_s},
                  {"samples_per_s", f.train_samples / f.wall_s},
                  {"trials_per_s", f.trials / f.wall_s},
                  {"train_gflops_per_s", f.train_flops / f.wall_s / 1e9},
                  {"mean_eval_accuracy", f.mean_accuracy},
                  {"peak_rss_mb", std::max(load_peak_mb, sweep_peak_mb)},
                  {"sweep_peak_rss_mb", sweep_peak_mb},
                  {"cpu_training_at_once", cpu_work_turns_at_once(*process_cpu_work_turns())},
                  {"cpu_gemm", cpu_gemm() == CpuGemm::kEigenAvx512 ? "eigen-avx512" : "openblas"},
                  {"cpu_gemm_why", cpu_gemm_description()}};
  std::printf("%-12s %6s %8s %12s %10s %12s %9s %10s %14s\n", "mode", "conc", "trials", "samples/s",
              "trials/s", "train GF/s", "mean acc", "peak MB", "sweep peak MB");
  std::printf("%-12s %6d %8d %12.0f %10.3f %12.1f %9.4f %10.1f %14.1f\n", "throughput", concurrency,
              f.trials, j["samples_per_s"].get<double>(), j["trials_per_s"].get<double>(),
              j["train_gflops_per_s"].get<double>(), f.mean_accuracy,
              j["peak_rss_mb"].get<double>(), sweep_peak_mb);
  write_json(json_path, j);
  return f.errors == 0 ? 0 : 1;
}

// Tiny trials (a few samples each): the time a trial spends outside its training and
// evaluation steps is sampling, scheduling, bookkeeping and result writing.
int overhead(int n_trials, const std::string& json_path) {
  const json cfg = {{"name", "overhead"},
                    {"data",
                     {{"format", "idx"},
                      {"dir", "/usr/share/datasets/fashion-mnist"},
                      {"scaling", "unit"},
                      {"max_train_samples", 8},
                      {"max_eval_samples", 8}}},
                    {"model", {{"architecture", "softmax_regression"}}},
                    {"training", {{"num_train_epochs", 1}, {"per_device_train_batch_size", 8}}},
                    {"metrics", {"accuracy", "f1"}},
                    {"search_space",
                     {{"learning_rate", {{"type", "loguniform"}, {"low", 1e-4}, {"high", 1e-1}}}}},
                    {"n_trials", n_trials},
                    {"max_concurrent_trials", 1}};
  const SweepConfig config = parse_sweep_config(cfg, "overhead", ".");
  const DataSplit data = load_data(config.data);
  const SweepFigures f = run_measured(config, data, "cpu");
  const double per_trial_ms = (f.wall_s - f.trial_compute_s) / n_trials * 1e3;
  std::printf("%-12s %8s %10s %16s %20s\n", "mode", "trials", "wall s", "compute s",
              "outside ms/trial");
  std::printf("%-12s %8d %10.3f %16.3f %20.3f\n", "overhead", n_trials, f.wall_s, f.trial_compute_s,
              per_trial_ms);
  write_json(json_path, {{"mode", "overhead"},
                         {"trials", n_trials},
                         {"wall_s", f.wall_s},
                         {"trial_compute_s", f.trial_compute_s},
                         {"outside_training_ms_per_trial", per_trial_ms}});
  return 0;
}

// What recording costs per trial: benchmark-function trials (microseconds of compute each), run
// with no output, with the result files only, and with the study (study.db: one durable
// transaction per state transition and per evaluation) plus the result files.
// `postgres`: a database URL for a row of the study kept in PostgreSQL ("" = no such row).
int durability(int n_trials, int epochs, int concurrency, const std::string& dir,
               const std::string& postgres, const std::string& json_path) {
  json space = json::object();
  for (const char* x : {"x1", "x2", "x3"})
    space[x] = {{"type", "uniform"}, {"low", 0}, {"high", 1}};
  const json cfg = {{"name", "durability"},
                    {"benchmark_function", {{"function", "quadratic"}, {"epochs", epochs}}},
                    {"search_space", space},
                    {"n_trials", n_trials},
                    {"max_concurrent_trials", concurrency}};
  const SweepConfig config = parse_sweep_config(cfg, "durability", ".");
  struct Mode {
    const char* name;
    bool out, study;
    std::string storage;
  };
  std::vector<Mode> modes = {
      {"none", false, false, ""}, {"files", true, false, ""}, {"study", true, true, ""}};
  if (!postgres.empty()) modes.push_back({"postgres", true, true, postgres});
  std::printf("%-8s %8s %7s %6s %10s %12s %14s\n", "storage", "trials", "epochs", "conc", "wall s",
              "ms/trial", "+ms/trial");
  json rows = json::array();
  double base_ms = 0;
  for (const Mode& m : modes) {
    RunOptions options;
    if (m.out) {
      options.out_dir = (std::filesystem::path(dir) / m.name).string();
      std::filesystem::remove_all(options.out_dir);
    }
    options.record_study = m.study;
    options.storage = m.storage;  // a worker of the study "durability" there, overwritten
    options.existing_study = ExistingStudy::kOverwrite;
    const SweepResult r = run_sweep(config, options);
    const double ms = r.wall_s / n_trials * 1e3;
    if (!m.out) base_ms = ms;
    std::printf("%-8s %8d %7d %6d %10.3f %12.3f %14.3f\n", m.name, n_trials, epochs, concurrency,
                r.wall_s, ms, ms - base_ms);
    rows.push_back({{"storage", m.storage.empty() ? m.name : redact_url(m.storage)},
                    {"wall_s", r.wall_s},
                    {"ms_per_trial", ms},
                    {"extra_ms_per_trial", ms - base_ms}});
  }
  // Per trial the study commits a claim, one evaluation per epoch and the final state; a worker
  // (postgres) one more: claim_next before the claim of the values.
  std::printf("study transactions per trial: %d (postgres: %d)\n", epochs + 2, epochs + 3);
  write_json(json_path, {{"mode", "durability"},
                         {"trials", n_trials},
                         {"epochs", epochs},
                         {"concurrency", concurrency},
                         {"dir", dir},
                         {"transactions_per_trial", epochs + 2},
                         {"results", rows}});
  return 0;
}

// The scheduler settings the benchmarks compare, by type name.
json scheduler_spec(const std::string& type) {
  if (type == "asha" || type == "hyperband") {
    return {{"type", type}, {"grace_period", 1}, {"reduction_factor", 3}};
  }
  if (type == "median") return {{"type", "median"}, {"grace_period", 1}};
  return "fifo";
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Samplers on Hartmann-6 (median regret over seeds, 100 trials each), on the two-objective
// ZDT1 (median hypervolume) and the cost of one TPE suggestion with 1,000 finished trials.
int samplers(int seeds, const std::string& json_path) {
  json space = json::object();
  for (int i = 1; i <= 6; ++i) {
    space["x" + std::to_string(i)] = {{"type", "uniform"}, {"low", 0}, {"high", 1}};
  }
  json result = {{"mode", "samplers"}, {"seeds", seeds}, {"trials", 100}};
  std::printf("%-10s %16s %16s\n", "sampler", "median regret", "mean wall s");
  for (const char* sampler : {"random", "tpe"}) {
    std::vector<double> regrets;
    double wall = 0;
    for (int seed = 1; seed <= seeds; ++seed) {
      const json cfg = {{"name", "h6"},          {"benchmark_function", "hartmann6"},
                        {"search_space", space}, {"sampler", sampler},
                        {"n_trials", 100},       {"max_concurrent_trials", 1},
                        {"seed", seed}};
      const SweepResult r = run_sweep(parse_sweep_config(cfg, "h6", "."), RunOptions{});
      regrets.push_back(r.trials[r.best[0]].objective[0] - benchmark_minimum("hartmann6"));
      wall += r.wall_s;
    }
    const double m = median(regrets);
    std::printf("%-10s %16.4f %16.3f\n", sampler, m, wall / seeds);
    result[std::string(sampler) + "_median_regret"] = m;
  }

  // Two objectives: ZDT1's hypervolume (reference point (1.1, 11); the true front's is
  // 11.7667) after 100 trials, median over seeds. Higher is better.
  const double best_volume = 1.1 * 11.0 - 1.0 / 3.0;
  std::printf("%-10s %16s %16s\n", "sampler", "ZDT1 hypervolume", "median gap");
  for (const char* sampler : {"random", "halton", "tpe"}) {
    std::vector<double> volumes;
    for (int seed = 1; seed <= seeds; ++seed) {
      const json cfg = {{"name", "zdt1"},
                        {"benchmark_function", "zdt1"},
                        {"search_space", space},
                        {"objective", {"eval_y1", "eval_y2"}},
                        {"direction", {"minimize", "minimize"}},
                        {"sampler", sampler},
                        {"n_trials", 100},
                        {"max_concurrent_trials", 1},
                        {"seed", seed}};
      const SweepResult r = run_sweep(parse_sweep_config(cfg, "zdt1", "."), RunOptions{});
      std::vector<std::vector<double>> points;
      for (const TrialRecord& t : r.trials) {
        if (t.status == TrialStatus::kTerminated) points.push_back(t.objective);
      }
      volumes.push_back(hypervolume_2d(points, zdt1_reference_point()));
    }
    const double m = median(volumes);
    std::printf("%-10s %16.4f %16.4f\n", sampler, m, best_volume - m);
    result[std::string(sampler) + "_zdt1_median_hypervolume"] = m;
  }

  // Schedulers on the noisy quadratic (27 epochs, 81 random trials): the best final value found
  // (its optimum is 1/27) and the trial-epochs spent, medians over seeds.
  std::printf("%-10s %16s %16s\n", "scheduler", "quadratic best", "trial-epochs");
  json quadratic_space = json::object();
  for (int i = 1; i <= 4; ++i) {
    quadratic_space["x" + std::to_string(i)] = {{"type", "uniform"}, {"low", 0}, {"high", 1}};
  }
  for (const char* scheduler : {"fifo", "asha", "hyperband", "median"}) {
    std::vector<double> bests, epochs;
    for (int seed = 1; seed <= seeds; ++seed) {
      const json cfg = {
          {"name", "quadratic"},
          {"benchmark_function", {{"function", "quadratic"}, {"epochs", 27}, {"noise", 0.01}}},
          {"search_space", quadratic_space},
          {"scheduler", scheduler_spec(scheduler)},
          {"n_trials", 81},
          {"max_concurrent_trials", 4},
          {"seed", seed}};
      const SweepResult r = run_sweep(parse_sweep_config(cfg, "quadratic", "."), RunOptions{});
      int spent = 0;
      for (const TrialRecord& t : r.trials)
        spent += t.epochs_done;
      bests.push_back(r.trials[r.best[0]].objective[0]);
      epochs.push_back(spent);
    }
    std::printf("%-10s %16.4f %16.0f\n", scheduler, median(bests), median(epochs));
    result[std::string(scheduler) + "_quadratic_median_best"] = median(bests);
    result[std::string(scheduler) + "_quadratic_median_trial_epochs"] = median(epochs);
  }

  // One suggestion with 1,000 finished trials and 7 running (8 slots), for one objective
  // (Hartmann-6) and two (ZDT1: the non-dominated sort is quadratic in the trials).
  const SearchSpace search = SearchSpace::parse(space, {"x1", "x2", "x3", "x4", "x5", "x6"});
  for (const char* function : {"hartmann6", "zdt1"}) {
    const auto tpe = make_sampler(parse_sampler_config("tpe"), search, 1);
    const BenchmarkFunctionConfig f = parse_benchmark_function(function);
    std::vector<Observation> finished;
    for (uint64_t i = 0; i < 1000; ++i) {
      Observation o;
      o.params = search.sample(1, i);
      o.loss = benchmark_values(f, o.params, 1, 0);
      finished.push_back(o);
    }
    std::vector<json> running;
    for (uint64_t i = 1000; i < 1007; ++i)
      running.push_back(search.sample(1, i));
    const auto t0 = Clock::now();
    constexpr int kRepeats = 20;
    for (int k = 0; k < kRepeats; ++k)
      tpe->suggest(1007 + k, finished, running);
    const double ms = std::chrono::duration<double>(Clock::now() - t0).count() * 1e3 / kRepeats;
    std::printf("TPE suggestion with 1000 finished trials (%s, %d objective%s): %.2f ms\n",
                function, f.function == "zdt1" ? 2 : 1, f.function == "zdt1" ? "s" : "", ms);
    result[f.function == "zdt1" ? "tpe_suggest_ms_1000_two_objectives" : "tpe_suggest_ms_1000"] =
        ms;
  }
  write_json(json_path, result);
  return 0;
}

// The Fashion-MNIST example sweep (examples/fashion_mnist.json): TPE against random search
// (32 trials, median best eval_accuracy over seeds) and ASHA against FIFO (64 trials of up to
// 9 epochs: best accuracy and trial-epochs spent).
int fashion(int seeds, int64_t asha_train_samples, const std::vector<std::string>& schedulers,
            const std::string& json_path) {
  const std::string example = std::string(CUSWEEP_SOURCE_DIR) + "/examples/fashion_mnist.json";
  SweepConfig base = load_sweep_config(example);
  const DataSplit data = load_data(base.data);
  RunOptions options;
  options.backend = "cpu";
  options.data = &data;
  auto best_accuracy = [](const SweepResult& r) {
    return r.best.empty() ? 0.0 : r.trials[r.best[0]].metrics.value("eval_accuracy", 0.0);
  };
  json result = {{"mode", "fashion"}, {"seeds", seeds}};
  std::printf("%-22s %12s %14s %10s\n", "setting", "best acc", "trial-epochs", "wall s");
  for (const char* sampler : {"random", "tpe"}) {
    std::vector<double> accuracies;
    for (int seed = 1; seed <= seeds; ++seed) {
      SweepConfig c = base;
      c.n_trials = 32;
      c.seed = static_cast<uint64_t>(seed);
      c.sampler = parse_sampler_config(sampler);
      const SweepResult r = run_sweep(c, options);
      accuracies.push_back(best_accuracy(r));
      std::printf("%-22s %12.4f %14s %10.1f\n", fmt::format("{} seed {}", sampler, seed).c_str(),
                  accuracies.back(), "", r.wall_s);
      std::fflush(stdout);
    }
    if (!accuracies.empty()) {
      result[std::string(sampler) + "_median_best_accuracy"] = median(accuracies);
    }
  }
  // The 64 x 9-epoch comparison on a prefix of the training set when asked (FIFO alone is
  // 12x the example sweep's work: about 11 minutes on 2 cores with all 60,000 images).
  DataSplit asha_data = data;
  if (asha_train_samples > 0 && asha_train_samples < asha_data.train.rows) {
    asha_data.train.rows = asha_train_samples;
    asha_data.train.features.resize(static_cast<size_t>(asha_train_samples * data.train.cols));
    asha_data.train.labels.resize(static_cast<size_t>(asha_train_samples));
  }
  options.data = &asha_data;
  result["asha_train_samples"] = asha_data.train.rows;
  for (const std::string& scheduler : schedulers) {
    SweepConfig c = base;
    c.n_trials = 64;
    c.training["num_train_epochs"] = 9;
    c.seed = 1;
    c.scheduler = parse_scheduler_config(scheduler_spec(scheduler), 9, 1);
    const SweepResult r = run_sweep(c, options);
    int epochs = 0;
    for (const TrialRecord& t : r.trials)
      epochs += t.epochs_done;
    std::printf("%-22s %12.4f %14d %10.1f\n", scheduler.c_str(), best_accuracy(r), epochs,
                r.wall_s);
    std::fflush(stdout);
    result[scheduler + "_best_accuracy"] = best_accuracy(r);
    result[scheduler + "_trial_epochs"] = epochs;
    result[scheduler + "_wall_s"] = r.wall_s;
  }
  write_json(json_path, result);
  return 0;
}

int dispatch(int argc, char** argv) {
  CLI::App app{"cusweep benchmarks"};
  app.require_subcommand(1);
  std::string json_path;
  int n_trials = 1000;
  ThroughputArgs ta;

  CLI::App* tp = app.add_subcommand("throughput", "the reference workload");
  tp->add_option("--config", ta.config_path)->capture_default_str();
  tp->add_option("--concurrency", ta.concurrency)
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  tp->add_option("--max-trials", ta.max_trials, "first N trials only (0 = all)")
      ->check(CLI::Range(0, 1000000));
  tp->add_option("--trials", ta.trials, "n_trials override; the grid repeats past its size")
      ->check(CLI::Range(1, 100000));
  tp->add_option("--max-train-samples", ta.max_train_samples, "use the first N training images")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 40));
  tp->add_option("--backend", ta.backend)->capture_default_str();
  tp->add_option("--fused", ta.fused, "fused_trials override (0 = auto)")->check(CLI::Range(0, 64));
  CLI::App* oh = app.add_subcommand("overhead", "time per trial outside training");
  oh->add_option("--trials", n_trials)->capture_default_str()->check(CLI::Range(1, 100000));
  int seeds = 10;
  CLI::App* sa = app.add_subcommand("samplers", "TPE against random search on Hartmann-6");
  sa->add_option("--seeds", seeds)->capture_default_str()->check(CLI::Range(1, 1000));
  CLI::App* fm = app.add_subcommand("fashion", "TPE vs random, ASHA vs FIFO on Fashion-MNIST");
  fm->add_option("--seeds", seeds, "seeds of the TPE/random comparison (0 = skip it)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000));
  std::vector<std::string> schedulers = {"fifo", "asha"};
  fm->add_option("--schedulers", schedulers, "schedulers of the 64 x 9-epoch comparison")
      ->delimiter(',')
      ->capture_default_str()
      ->check(CLI::IsMember({"fifo", "asha", "hyperband", "median"}));
  int64_t asha_train_samples = 0;
  fm->add_option("--asha-train-samples", asha_train_samples,
                 "training images for the ASHA/FIFO comparison (0 = all)")
      ->check(CLI::Range(int64_t{0}, int64_t{1} << 40));
  int epochs = 5, concurrency = 2;
  std::string durability_dir =
      (std::filesystem::temp_directory_path() / "cusweep_bench_durability").string();
  CLI::App* du = app.add_subcommand("durability", "cost per trial of the study (study.db)");
  du->add_option("--trials", n_trials)->capture_default_str()->check(CLI::Range(1, 100000));
  du->add_option("--epochs", epochs)->capture_default_str()->check(CLI::Range(1, 1000));
  du->add_option("--concurrency", concurrency)->capture_default_str()->check(CLI::Range(1, 4096));
  du->add_option("--dir", durability_dir, "output folders go here (the disk measured)")
      ->capture_default_str();
  std::string postgres;
  du->add_option("--postgres", postgres,
                 "also keep the study in this PostgreSQL database (postgresql://...)");
  for (CLI::App* sub : {tp, oh, sa, fm, du}) {
    sub->add_option("--json", json_path, "write figures here");
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // bad flags are bad input, as for cusweep itself
  }

  set_log_level(LogLevel::kError);  // repeated grid combinations are intended here
  if (*tp) return throughput(ta, json_path);
  if (*oh) return overhead(n_trials, json_path);
  if (*sa) return samplers(seeds, json_path);
  if (*fm) return fashion(seeds, asha_train_samples, schedulers, json_path);
  if (!postgres.empty()) check_storage_url(postgres, "--postgres");
  return durability(n_trials, epochs, concurrency, durability_dir, postgres, json_path);
}

}  // namespace
}  // namespace cusweep

int main(int argc, char** argv) {
  cusweep::choose_blas_kernels(argv);  // as cusweep itself does (blas_kernels.h)
  try {
    return cusweep::dispatch(argc, argv);
  } catch (const cusweep::UserError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
