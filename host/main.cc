// The cusweep command line: `run` (or resume) a sweep, join a shared study as a `worker`, `show`
// a recorded study, evaluate an `objective`, list `devices`.
// Exit status: 0 success, 1 the sweep failed (every trial errored, device failure), 2 bad input.
#include <signal.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <mutex>
#include <regex>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include "backend.h"
#include "blas_kernels.h"
#include "cusweep/config.h"
#include "cusweep/error.h"
#include "cusweep/log.h"
#include "cusweep/objective.h"
#include "cusweep/runner.h"
#include "results.h"
#include "study_store.h"
#include "trial_table.h"

namespace cusweep {
namespace {

constexpr int kExitSweepFailed = 1;
constexpr int kExitBadInput = 2;

struct RunArgs {
  std::string config;
  std::string out;
  std::string backend;
  size_t max_rows = 20;
  bool quiet = false;
  bool resume = false;
  bool overwrite = false;
  std::string fork;     // --fork SOURCE: a study folder, or a study name in --storage
  std::string storage;  // postgresql://... (or CUSWEEP_STORAGE); "" = study.db in --out
  std::string study;
};

struct WorkerArgs {
  std::string storage;
  std::string study;
  std::string out;
  std::string backend;
  int max_concurrent_trials = 0;
  double heartbeat_timeout_s = 60;
  size_t max_rows = 20;
};

struct ShowArgs {
  std::string dir;
  std::string storage;
  std::string study;
  size_t max_rows = 20;
  bool write_results = false;
};

// --storage, else CUSWEEP_STORAGE; checked. "" when neither is set.
std::string storage_url(const std::string& flag) {
  if (!flag.empty()) {
    check_storage_url(flag, "--storage");
    return flag;
  }
  const char* env = std::getenv("CUSWEEP_STORAGE");
  if (env == nullptr || *env == '\0') return "";
  check_storage_url(env, "CUSWEEP_STORAGE");
  return env;
}

// --study names a study in PostgreSQL; without --storage (or CUSWEEP_STORAGE) it would be
// ignored while the study went to the output folder's study.db.
void check_study_flag(const std::string& study, const std::string& storage) {
  if (!study.empty() && storage.empty()) {
    throw UserError(fmt::format("--study '{}' names a study in --storage, and neither --storage "
                                "nor CUSWEEP_STORAGE is given",
                                study),
                    "without --storage the study is the output folder's study.db: leave --study "
                    "out, or add --storage URL");
  }
}

// `word` as one word of a shell command to paste: as it is when only safe characters make it,
// else in single quotes (a quote inside written '\'').
std::string shell_word(const std::string& word) {
  const bool safe = !word.empty() && word.find_first_not_of(
                                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                         "abcdefghijklmnopqrstuvwxyz"
                                         "0123456789_-.,/:=+@%") == std::string::npos;
  if (safe) return word;
  std::string quoted = "'";
  for (const char c : word)
    quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

constexpr const char* kStorageWanted =
    "give a postgresql:// URL, or leave --storage out for the output folder's study.db";

// A value that may not be empty (or only blanks): says so, and what to give.
std::function<std::string(const std::string&)> not_empty(const std::string& what) {
  return [what](const std::string& text) -> std::string {
    return text.find_first_not_of(" \t") == std::string::npos ? "empty; " + what : "";
  };
}

// Command-line numbers: a check that names the value and the range, NaN included (CLI11's
// Range lets NaN through and calls a word "not in range").
std::function<std::string(const std::string&)> number_in(double low, double high, bool whole) {
  return [=](const std::string& text) -> std::string {
    const std::string allowed = whole ? fmt::format("a whole number from {} to {}", low, high)
                                      : fmt::format("a number from {} to {}", low, high);
    // Plain decimal notation only: strtod alone would also take hex, "+5", " 5", nan and inf.
    static const std::regex kWhole("-?[0-9]+");
    static const std::regex kDecimal("-?([0-9]+(\\.[0-9]*)?|\\.[0-9]+)([eE][-+]?[0-9]+)?");
    if (!std::regex_match(text, whole ? kWhole : kDecimal)) {
      return fmt::format("'{}' is not {}", text, allowed);
    }
    double value = 0;
    try {
      value = std::stod(text);
    } catch (const std::out_of_range&) {
      value = text[0] == '-' ? -HUGE_VAL : HUGE_VAL;
    }
    if (!(value >= low && value <= high)) {
      return fmt::format("{} is out of range; give {}", text, allowed);
    }
    return "";
  };
}

// SIGINT/SIGTERM: the first asks the sweep to stop (no new trial; running ones stop after
// their current evaluation; results are written); the second quits at once. Finished trials
// are already in trials.jsonl, flushed as each one finished, so nothing recorded is lost.
std::atomic<int> g_stop_signal{0};
// While the live table redraws on a terminal, it prints the stop notice itself: a line written
// from here would be drawn over.
std::atomic<bool> g_live_table{false};

void on_stop_signal(int signo) {
  if (g_stop_signal.exchange(signo) != 0) _exit(128 + signo);
  if (g_live_table.load()) return;
  static const char kMessage[] =
      "\ncusweep: stopping: no new trials; running trials stop after their current evaluation. "
      "Press Ctrl-C again to quit at once.\n";
  const ssize_t ignored = write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
  (void)ignored;
}

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  action.sa_flags = SA_RESTART;  // reads and writes in progress go on
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

// Redraws the table in place on a terminal; prints plain snapshots otherwise (logs, CI). On a
// terminal, log messages are held and printed above the next redraw, so none is drawn over.
class TableReporter {
 public:
  TableReporter(TrialTable table, size_t max_rows, bool terminal)
      : table_(std::move(table)), max_rows_(max_rows), terminal_(terminal) {}

  void add_log(LogLevel level, const std::string& message) {
    std::lock_guard<std::mutex> lock(logs_mutex_);
    logs_.push_back(fmt::format("[cusweep {}] {}", log_level_name(level), message));
  }

  void operator()(const ProgressView& view, bool final) {
    if (!terminal_) {
      std::printf("%s\n", table_.render(view, max_rows_).c_str());
      std::fflush(stdout);
      return;
    }
    // Moving the cursor up only works when no line wrapped and the table fits the window:
    // clip lines to the width and trial rows to the height. The final table is not clipped.
    winsize size{};
    const bool known = ioctl(fileno(stdout), TIOCGWINSZ, &size) == 0 && size.ws_row > 0;
    const size_t height = known ? size.ws_row : 24;
    const size_t width = known ? size.ws_col : 80;
    constexpr size_t kChromeLines = 12;  // status lines, rules, header, "more" line, margin
    const size_t fit = height > kChromeLines + 1 ? height - kChromeLines : 1;
    std::string text = table_.render(view, final ? max_rows_ : std::min(max_rows_, fit));
    if (!final) text = clip_lines(text, width);
    // Up `lines_` lines, then overwrite line by line (erase each line's rest) and erase what
    // is left below: erasing the whole screen from its top would push it into the scrollback.
    if (lines_ > 0) std::printf("\x1b[%dF", lines_);
    for (const std::string& line : take_logs())
      std::printf("%s\x1b[K\n", line.c_str());
    size_t start = 0;
    while (start < text.size()) {
      const size_t end = text.find('\n', start);
      std::printf("%s\x1b[K\n", text.substr(start, end - start).c_str());
      start = end == std::string::npos ? text.size() : end + 1;
    }
    std::fputs("\x1b[J", stdout);
    std::fflush(stdout);
    lines_ = static_cast<int>(std::count(text.begin(), text.end(), '\n'));
  }

 private:
  std::vector<std::string> take_logs() {
    std::lock_guard<std::mutex> lock(logs_mutex_);
    if (g_stop_signal.load() != 0 && !stop_noticed_) {
      stop_noticed_ = true;
      logs_.push_back(
          "cusweep: stopping: no new trials; running trials stop after their current evaluation. "
          "Press Ctrl-C again to quit at once.");
    }
    std::vector<std::string> out;
    out.swap(logs_);
    return out;
  }

  static std::string clip_lines(const std::string& text, size_t width) {
    std::string out;
    size_t start = 0;
    while (start < text.size()) {
      size_t end = text.find('\n', start);
      if (end == std::string::npos) end = text.size();
      std::string line = text.substr(start, end - start);
      if (width > 2 && line.size() >= width) line = line.substr(0, width - 2) + "~";
      out += line + "\n";
      start = end + 1;
    }
    return out;
  }

  TrialTable table_;
  size_t max_rows_;
  bool terminal_;
  int lines_ = 0;
  std::mutex logs_mutex_;
  std::vector<std::string> logs_;
  bool stop_noticed_ = false;
};

int run_command(const RunArgs& args) {
  const std::string storage = storage_url(args.storage);
  check_study_flag(args.study, storage);
  const SweepConfig config = load_sweep_config(args.config);
  const std::string out_dir = args.out.empty() ? "runs/" + config.name : args.out;

  LogSink previous_sink;
  RunOptions options;
  options.out_dir = out_dir;
  options.existing_study = args.resume      ? ExistingStudy::kResume
                           : args.overwrite ? ExistingStudy::kOverwrite
                                            : ExistingStudy::kRefuse;
  options.stop = &g_stop_signal;
  options.storage = storage;
  options.study = args.study;
  options.fork_from = args.fork;
  install_stop_handlers();
  options.backend = args.backend;
  const bool terminal = isatty(fileno(stdout)) != 0;
  options.progress_interval_s = terminal ? 1.0 : config.report_interval_s;

  const std::vector<ObjectiveValue> probe =
      evaluate_objective(config.objective, config.metric_template());
  std::vector<Direction> directions;
  for (const auto& v : probe)
    directions.push_back(v.direction);
  if (!args.quiet) {
    auto reporter = std::make_shared<TableReporter>(
        TrialTable(config, directions, objective_summary(probe, config.objective_scope)),
        args.max_rows, terminal);
    options.on_progress = [reporter](const ProgressView& v, bool final) { (*reporter)(v, final); };
    if (terminal) {
      g_live_table = true;
      previous_sink = set_log_sink(
          [reporter](LogLevel level, const std::string& m) { reporter->add_log(level, m); });
    }
  }

  struct RestoreSink {  // the default sink again after the run, also when it throws
    LogSink* sink;
    ~RestoreSink() {
      g_live_table = false;
      if (*sink) set_log_sink(*sink);
    }
  } restore{&previous_sink};
  const SweepResult result = run_sweep(config, options);
  std::printf("\n%s", final_report(result, config).c_str());
  if (storage.empty()) {
    std::printf("Results: %s/{trials.jsonl,results.csv,best.json,study.db} (%.1f s on %s)\n",
                out_dir.c_str(), result.wall_s, result.backend.c_str());
  } else {
    std::printf(
        "Results: %s/{trials.jsonl,results.csv,best.json}; study '%s' in %s (%.1f s on "
        "%s)\n",
        out_dir.c_str(), args.study.empty() ? config.name.c_str() : args.study.c_str(),
        redact_url(storage).c_str(), result.wall_s, result.backend.c_str());
  }
  if (result.resumed_trials > 0) {
    // A shared study's runs are workers, whose times overlap: no sum of them is kept.
    const std::string time =
        storage.empty() ? fmt::format(" ({:.1f} s in all runs)", result.study_wall_s) : "";
    std::printf("Resumed: %zu finished trials were kept from earlier runs%s\n",
                result.resumed_trials, time.c_str());
  }
  if (result.forked_trials > 0) {
    std::printf("Forked: %zu finished trials were carried from %s\n", result.forked_trials,
                args.fork.c_str());
  }
  if (result.interrupted) {
    const std::string shared =
        storage.empty()
            ? ""
            : " --storage URL" + (args.study.empty() ? "" : " --study " + shell_word(args.study));
    std::printf("To continue: cusweep run %s --out %s --resume%s\n",
                shell_word(args.config).c_str(), shell_word(out_dir).c_str(), shared.c_str());
    return 128 + g_stop_signal.load();  // 130 for SIGINT, 143 for SIGTERM
  }
  return result.any_completed() ? 0 : kExitSweepFailed;
}

// Works on a recorded study until every trial is final; prints the whole study at the end.
int worker_command(const WorkerArgs& args) {
  RunOptions options;
  options.storage = storage_url(args.storage);
  check_study_flag(args.study, options.storage);
  options.study = args.study;
  options.out_dir = args.out;
  options.backend = args.backend;
  options.max_concurrent_trials = args.max_concurrent_trials;
  options.heartbeat_timeout_s = args.heartbeat_timeout_s;
  options.stop = &g_stop_signal;
  install_stop_handlers();
  const SweepResult result = join_study(options);
  const std::unique_ptr<StudyStore> store = options.storage.empty()
                                                ? open_sqlite_study(study_path(args.out), true)
                                                : open_postgres_study(options.storage, args.study);
  const StudySnapshot study = read_study(*store);
  std::printf("%s", final_report(result, study.config).c_str());
  std::printf("Study: %s (this worker: %.1f s on %s)\n", store->where().c_str(), result.wall_s,
              result.backend.c_str());
  if (!args.out.empty()) {
    std::printf("Results: %s/{trials.jsonl,results.csv,best.json}\n", args.out.c_str());
  }
  if (result.interrupted) return 128 + g_stop_signal.load();
  return result.any_completed() ? 0 : kExitSweepFailed;
}

// Prints the study recorded in a folder (no config file needed) and, when asked, writes its
// result files again.
int show_command(const ShowArgs& args) {
  if (!args.dir.empty() && !args.storage.empty()) {
    throw UserError(
        fmt::format("cusweep show: both a folder ({}) and --storage are given", args.dir),
        "give DIR (holds study.db), or --storage URL --study NAME");
  }
  // A folder given names its study.db, whatever CUSWEEP_STORAGE says.
  const std::string storage =
      args.dir.empty() || !args.storage.empty() ? storage_url(args.storage) : "";
  if (storage.empty() && args.dir.empty()) {
    throw UserError("cusweep show: no study given",
                    "DIR (holds study.db), or --storage URL "
                    "--study NAME");
  }
  if (!storage.empty() && args.study.empty()) {
    throw UserError("cusweep show --storage: no --study NAME given");
  }
  check_study_flag(args.study, storage);
  std::unique_ptr<StudyStore> store;
  if (!storage.empty()) {
    store = open_postgres_study(storage, args.study, true);
    StudyInfo info;
    if (!store->load_study(&info)) {
      throw UserError(
          fmt::format("{}: no such study{}", store->where(), postgres_studies_there(storage)),
          "cusweep run CONFIG --storage URL creates one");
    }
  }
  const StudySnapshot study = store ? read_study(*store) : read_study(args.dir);
  const std::string where = store ? store->where() : study_path(args.dir);
  const std::string out = args.dir.empty() ? "runs/" + study.config.name : args.dir;
  const SweepResult& result = study.result;
  const std::vector<ObjectiveValue> probe =
      evaluate_objective(study.config.objective, study.config.metric_template());
  const TrialTable table(study.config, result.directions,
                         objective_summary(probe, study.config.objective_scope));
  const std::string backend = result.backend.empty() ? "not recorded" : result.backend;
  const ProgressView view{
      result.trials, study.config.max_concurrent_trials, 0, result.wall_s, backend, true};
  std::printf("Study: %s\n%s\n%s", where.c_str(), table.render(view, args.max_rows).c_str(),
              final_report(result, study.config).c_str());
  if (args.write_results) {
    // Not while a run or workers hold the study's folder: they write these files themselves,
    // and a run appends each finished trial to its trials.jsonl, which this would replace.
    std::unique_ptr<StudyFolderLock> lock;
    if (store) {
      refuse_local_study_in(out);
    } else {
      lock = std::make_unique<StudyFolderLock>(out, true);
    }
    ResultsWriter writer(out, study.config, true);  // the study's own files: kept until replaced
    writer.finish(result);
    std::printf("Results: %s/{trials.jsonl,results.csv,best.json} written from the study\n",
                out.c_str());
  }
  return 0;
}

int devices_command() {
  const BackendProbe probe = probe_backends();
  std::printf("cusweep %s\n", CUSWEEP_VERSION);
  std::printf("backends built: cpu%s\n", probe.cuda_compiled ? ", cuda" : "");
  std::printf("cpu: usable (%s)\n", probe.blas.c_str());
  if (!probe.cuda_compiled) {
    std::printf("cuda: not built (%s)\n", probe.cuda_reason.c_str());
  } else if (!probe.cuda_usable) {
    std::printf("cuda: built, no usable device (%s)\n", probe.cuda_reason.c_str());
  } else {
    for (const auto& d : probe.devices)
      std::printf("cuda: usable %s\n", d.c_str());
  }
  return 0;
}

void print_user_error(const UserError& e) {
  std::fprintf(stderr, "error: %s\n", e.what());
  if (!e.hint().empty()) std::fprintf(stderr, "hint: %s\n", e.hint().c_str());
}

int dispatch(int argc, char** argv) {
  CLI::App app{"cusweep: many small training trials at once on one GPU or the CPU"};
  app.set_version_flag("--version", [] {
    const BackendProbe probe = probe_backends();
    return fmt::format("cusweep {}\nbackends built: cpu{}; cuda {}", CUSWEEP_VERSION,
                       probe.cuda_compiled ? ", cuda" : "",
                       probe.cuda_usable ? "usable" : "not usable: " + probe.cuda_reason);
  });
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "debug, info, warning or error")
      ->check(CLI::IsMember({"debug", "info", "warning", "error"}));

  RunArgs run;
  CLI::App* run_cmd = app.add_subcommand("run", "run the sweep described by a config file");
  run_cmd->add_option("config", run.config, "sweep config (JSON)")->required();
  run_cmd->add_option("--out", run.out, "output folder (default runs/<name>)")
      ->check([](const std::string& v) {
        return v.empty() ? std::string("empty; give a folder, or leave --out out for runs/<name>")
                         : std::string();
      });
  run_cmd->add_option("--backend", run.backend, "auto, cpu or cuda (overrides the config)")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  run_cmd->add_option("--max-rows", run.max_rows, "trial rows shown in the table")
      ->capture_default_str()
      ->check(number_in(1, 100000, true));
  run_cmd->add_flag("--quiet", run.quiet, "no trial table");
  CLI::Option* resume = run_cmd->add_flag(
      "--resume", run.resume,
      "continue the study in the output folder: finished trials are kept, the others run again");
  run_cmd
      ->add_flag("--overwrite", run.overwrite,
                 "delete the study in the output folder and start a fresh one")
      ->excludes(resume);
  run_cmd
      ->add_option("--fork", run.fork,
                   "start the new study with the finished trials of this earlier one (its "
                   "output folder, or with --storage its study name) that are trials of this "
                   "config, objectives recomputed")
      ->check(not_empty("give the output folder (or, with --storage, the study name) of an "
                        "earlier sweep"))
      ->excludes(resume);
  run_cmd
      ->add_option("--storage", run.storage,
                   "keep the study in PostgreSQL (postgresql://USER[:PASSWORD]@HOST[:PORT]/DB; "
                   "default $CUSWEEP_STORAGE) and run as one worker of it")
      ->check(not_empty(kStorageWanted));
  run_cmd
      ->add_option("--study", run.study,
                   "the study's name in --storage (default the config's name)")
      ->check(not_empty("give the study's name, or leave --study out for the config's name"));

  WorkerArgs worker;
  CLI::App* worker_cmd = app.add_subcommand(
      "worker",
      "join a recorded study and run its trials until none is left (any number of "
      "workers, on any hosts)");
  worker_cmd
      ->add_option("--storage", worker.storage,
                   "the study's database (postgresql://...; default $CUSWEEP_STORAGE)")
      ->check(not_empty(kStorageWanted));
  worker_cmd->add_option("--study", worker.study, "the study's name in --storage")
      ->check(not_empty("give the study's name in --storage"));
  worker_cmd->add_option("--out", worker.out,
                         "write the whole study's result files here at the end; without "
                         "--storage, the folder whose study.db is shared");
  worker_cmd->add_option("--backend", worker.backend, "auto, cpu or cuda (overrides the config)")
      ->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  worker_cmd
      ->add_option("--max-concurrent-trials", worker.max_concurrent_trials,
                   "trials this worker runs at once (default the config's)")
      ->check(number_in(1, 4096, true));
  worker_cmd
      ->add_option("--heartbeat-timeout", worker.heartbeat_timeout_s,
                   "seconds without a heartbeat after which a worker's trial is handed to "
                   "another worker")
      ->capture_default_str()
      ->check(number_in(0.1, 86400, false));

  ShowArgs show;
  CLI::App* show_cmd = app.add_subcommand(
      "show", "print the study recorded in a sweep's output folder: trials, best trial, objective");
  show_cmd->add_option("dir", show.dir, "the sweep's output folder (holds study.db)");
  show_cmd
      ->add_option("--storage", show.storage,
                   "the study's database (postgresql://...; default $CUSWEEP_STORAGE)")
      ->check(not_empty(kStorageWanted));
  show_cmd->add_option("--study", show.study, "the study's name in --storage")
      ->check(not_empty("give the study's name in --storage"));
  show_cmd->add_option("--max-rows", show.max_rows, "trial rows shown in the table")
      ->capture_default_str()
      ->check(number_in(1, 100000, true));
  show_cmd->add_flag("--write-results", show.write_results,
                     "write trials.jsonl, results.csv and best.json again from the study");

  std::string objective_file, objective_spec, direction;
  bool json_output = false;
  CLI::App* obj_cmd = app.add_subcommand(
      "objective", "compute the objective of a JSON object of metrics and explain it");
  obj_cmd->add_option("file", objective_file, "metrics JSON file, or - for standard input");
  obj_cmd
      ->add_option("--objective", objective_spec,
                   "default | METRIC | w*METRIC+... ; several separated by commas")
      ->check(not_empty("give \"default\" for HF's rule, or the metrics"));
  obj_cmd->add_option("--direction", direction, "minimize | maximize (one per objective)");
  obj_cmd->add_flag("--json", json_output, "print JSON");

  app.add_subcommand("devices", "list the backends built and the devices usable");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    // Worded as every other refusal: "error: ..." on stderr, exit status 2. CLI11 says only "A
    // subcommand is required" for a mistyped or missing command: name it and the commands.
    std::string commands, given;
    std::vector<std::string> names;
    for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
      names.push_back(sub->get_name());
      commands += (commands.empty() ? "" : ", ") + sub->get_name();
    }
    for (int i = 1; i < argc && given.empty(); ++i) {
      const std::string word = argv[i];
      if (word == "--log-level")
        ++i;  // its value
      else if (word.empty() || word[0] != '-')
        given = word;
    }
    std::string what = e.what();
    const std::string twice = ": At Most 1 required but received ";  // CLI11's words
    const size_t at = what.find(twice);
    if (at != std::string::npos) {  // an option given more than once
      what = fmt::format("{} is given {} times; give it once", what.substr(0, at),
                         what.substr(at + twice.size()));
    }
    // CLI11's words for an option without its value ("--out: 1 required TEXT missing") and
    // for a value outside a set ("--backend: tpu not in {auto,cpu,cuda}").
    static const std::regex kMissing("^(--[A-Za-z-]+): \\d+ required (\\w+) missing$");
    static const std::regex kNotIn("^(--[A-Za-z-]+): (.*) not in \\{(.*)\\}$");
    static const std::regex kExtra("^The following (arguments?) (?:was|were) not expected: (.*)$");
    std::smatch m;
    if (std::regex_match(what, m, kMissing)) {
      what = fmt::format("{} needs a value ({})", m[1].str(),
                         m[2].str() == "UINT" ? "a whole number" : "text");
    } else if (std::regex_match(what, m, kNotIn)) {
      std::string allowed = m[3].str();
      for (size_t c = allowed.find(','); c != std::string::npos; c = allowed.find(',', c + 2))
        allowed.replace(c, 1, ", ");
      what = fmt::format("{} must be one of {}, got '{}'", m[1].str(), allowed, m[2].str());
    } else if (std::regex_match(what, m, kExtra)) {
      what = fmt::format("unexpected {}: {}", m[1].str(), m[2].str());
    }
    if (given.empty() && app.get_subcommands().empty()) {
      what = "no command given; commands: " + commands;
    } else if (!given.empty() && std::find(names.begin(), names.end(), given) == names.end()) {
      what = "'" + given + "' is not a cusweep command; commands: " + commands;
    }
    std::fprintf(stderr, "error: %s\nhint: run with --help for the options\n", what.c_str());
    return kExitBadInput;
  }
  set_log_level(log_level == "debug"     ? LogLevel::kDebug
                : log_level == "warning" ? LogLevel::kWarning
                : log_level == "error"   ? LogLevel::kError
                                         : LogLevel::kInfo);

  if (*obj_cmd) {
    return run_objective_command(objective_file.empty() ? "-" : objective_file, objective_spec,
                                 direction, json_output, std::cin, std::cout, std::cerr);
  }
  if (app.got_subcommand("devices")) return devices_command();
  if (*show_cmd) return show_command(show);
  if (*worker_cmd) return worker_command(worker);
  return run_command(run);
}

}  // namespace
}  // namespace cusweep

int main(int argc, char** argv) {
  cusweep::choose_blas_kernels(argv);
  try {
    return cusweep::dispatch(argc, argv);
  } catch (const cusweep::UserError& e) {
    cusweep::print_user_error(e);
    return cusweep::kExitBadInput;
  } catch (const cusweep::StoreError& e) {
    std::fprintf(stderr, "error: the study could not be recorded: %s\n", e.what());
    return cusweep::kExitSweepFailed;
  } catch (const cusweep::DeviceError& e) {
    std::fprintf(stderr, "error: device failure: %s\n", e.what());
    return cusweep::kExitSweepFailed;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return cusweep::kExitSweepFailed;
  }
}
