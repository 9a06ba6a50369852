// A study in PostgreSQL (libpqxx 6), shared by any number of `cusweep worker` processes on any
// number of hosts. One database holds many studies, keyed by name. Every transition is one
// transaction; claim_next locks the study's row FOR UPDATE, so claims serialize: no trial is
// handed to two workers and n_trials is honoured exactly. Heartbeats and their ages use the
// server's clock, so the hosts' clocks need not agree. The URL's password never appears in a
// message: messages name the URL redacted, and the password is scrubbed from server errors.
#include <pqxx/pqxx>

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "cusweep/log.h"
#include "json_util.h"
#include "study_store.h"

namespace cusweep {
namespace {

using nlohmann::json;

constexpr int kSchemaVersion = 1;
// Serializes schema creation across processes (pg_advisory_xact_lock key, "cswp").
constexpr int64_t kSchemaLock = 0x63737770;

constexpr const char* kSchema = R"(
CREATE TABLE IF NOT EXISTS cusweep_schema (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS cusweep_studies (
  study TEXT PRIMARY KEY, name TEXT NOT NULL, tag TEXT NOT NULL, config TEXT NOT NULL, config_path TEXT NOT NULL,
  base_dir TEXT NOT NULL, fingerprint TEXT NOT NULL, summary TEXT,
  created_at TIMESTAMPTZ NOT NULL DEFAULT now(), next_number BIGINT);
CREATE TABLE IF NOT EXISTS cusweep_trials (
  study TEXT NOT NULL REFERENCES cusweep_studies (study) ON DELETE CASCADE,
  number BIGINT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL,
  searched TEXT NOT NULL, params TEXT NOT NULL, location TEXT NOT NULL,
  objective TEXT, ranked_evaluation INTEGER, confusion TEXT, error TEXT,
  runtime_s DOUBLE PRECISION NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 1,
  worker TEXT, heartbeat TIMESTAMPTZ, PRIMARY KEY (study, number));
CREATE TABLE IF NOT EXISTS cusweep_evaluations (
  study TEXT NOT NULL, trial BIGINT NOT NULL, epoch INTEGER NOT NULL, entry TEXT NOT NULL,
  PRIMARY KEY (study, trial, epoch),
  FOREIGN KEY (study, trial) REFERENCES cusweep_trials (study, number) ON DELETE CASCADE);
CREATE TABLE IF NOT EXISTS cusweep_transitions (
  id BIGSERIAL PRIMARY KEY, study TEXT NOT NULL, trial BIGINT NOT NULL, attempt INTEGER NOT NULL,
  status TEXT NOT NULL, worker TEXT, at TIMESTAMPTZ NOT NULL DEFAULT now());
CREATE INDEX IF NOT EXISTS cusweep_transitions_trial ON cusweep_transitions (study, trial);
CREATE TABLE IF NOT EXISTS cusweep_checkpoints (
  study TEXT NOT NULL, trial BIGINT NOT NULL, epoch INTEGER NOT NULL, state BYTEA NOT NULL,
  PRIMARY KEY (study, trial),
  FOREIGN KEY (study, trial) REFERENCES cusweep_trials (study, number) ON DELETE CASCADE);
)";

// What claim_next needs to stay cheap in a large study, added to tables made before it: the
// study's hint of its next trial number (every number below it is recorded) and an index of
// the trials that are not final. Both are optional to the data, so the format stays 1.
constexpr const char* kClaimColumn =
    "SELECT 1 FROM information_schema.columns WHERE table_name = 'cusweep_studies' AND "
    "column_name = 'next_number' AND table_schema = current_schema()";
constexpr const char* kAddClaimColumn =
    "ALTER TABLE cusweep_studies ADD COLUMN IF NOT EXISTS next_number BIGINT";
constexpr const char* kOpenIndex =
    "SELECT 1 FROM pg_indexes WHERE indexname = 'cusweep_trials_open' AND "
    "schemaname = current_schema()";
constexpr const char* kAddOpenIndex =
    "CREATE INDEX IF NOT EXISTS cusweep_trials_open ON cusweep_trials (study, number) "
    "WHERE status NOT IN ('TERMINATED', 'ERROR', 'PRUNED')";

json confusion_json(const ConfusionMatrix& m) {
  if (m.num_classes == 0) return nullptr;
  return {{"num_classes", m.num_classes}, {"counts", m.counts}};
}

json json_field(const pqxx::field& f, const std::string& where) {
  return f.is_null() ? json() : parse_recorded_json(f.as<std::string>(), where);
}

// A NULL parameter for an empty string (libpqxx sends a null `const char*` as NULL).
const char* nullable(const std::string& s) {
  return s.empty() ? nullptr : s.c_str();
}

std::string first_line(const std::string& s) {
  return s.substr(0, s.find('\n'));
}

// A transaction that has had no answer for this long is taken as stalled (set_postgres_stall_s).
std::atomic<double> g_stall_s{120};

// libpq waits for a server's answer without limit unless told: a host that takes the connection
// and never answers held run, worker and show until they were killed; and a network that goes
// silent under an open connection is noticed by TCP keepalives after two hours by default. So,
// unless the URL sets them itself: 10 s to connect, and a connection whose peer answers neither
// keepalive probes (from 10 s idle, every 5 s, 3 of them) nor sent data within 30 s is broken,
// which the reconnect window of Database::run then deals with.
constexpr int kConnectTimeoutS = 10;
std::string with_connection_defaults(const std::string& url) {
  const std::pair<const char*, int> defaults[] = {{"connect_timeout", kConnectTimeoutS},
                                                  {"keepalives_idle", 10},
                                                  {"keepalives_interval", 5},
                                                  {"keepalives_count", 3},
                                                  {"tcp_user_timeout", 30000}};
  std::string out = url;
  for (const auto& [key, value] : defaults) {
    const size_t query = out.find('?');
    const std::string set = std::string(key) + "=";
    if (query != std::string::npos && (out.find("?" + set, query) != std::string::npos ||
                                       out.find("&" + set, query) != std::string::npos)) {
      continue;
    }
    const char last = out.back();
    out += (query == std::string::npos   ? "?"
            : last == '?' || last == '&' ? ""
                                         : "&") +
           set + std::to_string(value);
  }
  return out;
}

// A connection to the database at `url` with cusweep's tables, and messages that never show
// the password.
class Database {
 public:
  // `read_only`: the tables are read as they are, never created or altered, so a user who may
  // only read them can (cusweep show).
  explicit Database(const std::string& url, bool read_only = false)
      : url_(with_connection_defaults(url)), where_(redact_url(url)), password_(url_password(url)) {
    try {
      connection_ = std::make_unique<pqxx::connection>(url_);
      if (read_only) {
        check_schema_version();
        return;
      }
      pqxx::work w(*connection_);
      w.exec_params("SELECT pg_advisory_xact_lock($1)", kSchemaLock);
      w.exec(kSchema);
      if (w.exec(kClaimColumn).empty()) w.exec(kAddClaimColumn);
      if (w.exec(kOpenIndex).empty()) w.exec(kAddOpenIndex);
      const pqxx::result v = w.exec("SELECT version FROM cusweep_schema");
      if (v.empty()) {
        w.exec_params("INSERT INTO cusweep_schema (version) VALUES ($1)", kSchemaVersion);
      } else {
        check_format(v[0][0].as<int>());
      }
      w.commit();
    } catch (const pqxx::broken_connection& e) {
      const std::string why = scrub(e.what());
      if (why.find("timeout expired") != std::string::npos) {
        throw UserError(
            fmt::format("{}: cannot connect: no answer from the server in time ({})", where_, why),
            fmt::format("is it a PostgreSQL server? A slow one may be given longer with "
                        "?connect_timeout=SECONDS in the URL (default {})",
                        kConnectTimeoutS));
      }
      throw UserError(fmt::format("{}: cannot connect: {}", where_, why),
                      password_.find_first_of("@:/") != std::string::npos
                          ? "in a URL, '@', ':' and '/' in a password are written %40, %3A "
                            "and %2F"
                          : "check the host, port, user, password and database of the storage "
                            "URL");
    } catch (const pqxx::failure& e) {
      throw UserError(fmt::format("{}: {}", where_, scrub(e.what())),
                      "check the user's rights on the database of the storage URL");
    } catch (const std::invalid_argument& e) {  // a malformed connection string
      throw UserError(fmt::format("{}: not a valid PostgreSQL URL: {}", where_, scrub(e.what())));
    }
  }

  // One transaction, committed when `body` returns; the connection is serialized by a mutex.
  // A connection lost before the commit (a server restart, a network outage, a terminated
  // backend) rolled the transaction back, so it is opened again and `body` retried, for up to
  // kReconnectWindowS; lost during the commit, whether it was recorded is unknown, and that is
  // a StoreError (retrying could claim a second trial while the first stays RUNNING here).
  template <class Body>
  auto run(Body body) {
    std::lock_guard<std::mutex> lock(mutex_);
    double backoff_s = kFirstReconnectS;
    for (;;) {
      try {
        if (!connection_) connection_ = std::make_unique<pqxx::connection>(url_);
        const Watched watched(*this);
        pqxx::work w(*connection_);
        auto out = body(w);
        w.commit();
        if (lost_since_) log_info(fmt::format("{}: connection restored", where_));
        lost_since_.reset();
        return out;
      } catch (const pqxx::in_doubt_error& e) {
        throw StoreError(
            fmt::format("{}: connection lost during a commit, which may or may not "
                        "have been recorded: {}",
                        where_, scrub(e.what())));
      } catch (const pqxx::broken_connection& e) {
        connection_.reset();
        // One window for the connection, not one per caller: the slots and the heartbeat each
        // waited their own 60 s in turn (190 s measured) where the window is 60 s in all.
        const auto now = std::chrono::steady_clock::now();
        if (!lost_since_) lost_since_ = now;
        const double waited_s = std::chrono::duration<double>(now - *lost_since_).count();
        if (waited_s >= kReconnectWindowS) {
          throw StoreError(fmt::format("{}: connection lost and not restored within {:.0f} s: {}",
                                       where_, kReconnectWindowS, scrub(e.what())));
        }
        log_warning(fmt::format("{}: connection lost ({}); reconnecting in {:.1f} s", where_,
                                scrub(e.what()), backoff_s));
        std::this_thread::sleep_for(std::chrono::duration<double>(backoff_s));
        backoff_s = std::min(2 * backoff_s, kLastReconnectS);
      } catch (const pqxx::failure& e) {
        throw StoreError(fmt::format("{}: {}", where_, scrub(e.what())));
      }
    }
  }

  const std::string& where() const { return where_; }

  ~Database() {
    {
      std::lock_guard<std::mutex> lock(watch_mutex_);
      closing_ = true;
    }
    watch_cv_.notify_all();
    if (watchdog_.joinable()) watchdog_.join();
  }
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

 private:
  // A server whose host still answers TCP while the server does not (a hung or stopped backend)
  // is noticed by neither keepalives nor tcp_user_timeout: a transaction would wait on it for
  // ever, and the run with it. The watchdog shuts the socket of a transaction that has waited
  // g_stall_s: libpq then reports the connection lost, and run() reconnects within its window.
  class Watched {
   public:
    explicit Watched(Database& db) : db_(db) {
      std::lock_guard<std::mutex> lock(db_.watch_mutex_);
      db_.watched_fd_ = db_.connection_->sock();
      db_.watched_since_ = std::chrono::steady_clock::now();
      if (!db_.watchdog_.joinable()) db_.watchdog_ = std::thread([db = &db_] { db->watch(); });
    }
    ~Watched() {
      std::lock_guard<std::mutex> lock(db_.watch_mutex_);
      db_.watched_fd_ = -1;
    }
    Watched(const Watched&) = delete;
    Watched& operator=(const Watched&) = delete;

   private:
    Database& db_;
  };

  void watch() {
    std::unique_lock<std::mutex> lock(watch_mutex_);
    while (!closing_) {
      watch_cv_.wait_for(lock, std::chrono::milliseconds(250));
      if (watched_fd_ < 0) continue;
      const double waited_s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - watched_since_).count();
      if (waited_s < g_stall_s.load()) continue;
      log_warning(
          fmt::format("{}: no answer from the server for {:.0f} s; dropping the "
                      "connection",
                      where_, waited_s));
      shutdown(watched_fd_, SHUT_RDWR);
      watched_fd_ = -1;
    }
  }

  // A read-only open: the recorded format must be this cusweep's, and there must be one.
  void check_schema_version() {
    pqxx::read_transaction r(*connection_);
    const pqxx::result exists = r.exec("SELECT to_regclass('cusweep_schema') IS NOT NULL");
    if (!exists[0][0].as<bool>()) {
      throw UserError(fmt::format("{}: holds no cusweep study", where_),
                      "cusweep run CONFIG --storage URL records one");
    }
    const pqxx::result v = r.exec("SELECT version FROM cusweep_schema");
    if (!v.empty()) check_format(v[0][0].as<int>());
  }

  void check_format(int recorded) const {
    if (recorded == kSchemaVersion) return;
    throw UserError(fmt::format("{}: study format {}; this cusweep reads format {}", where_,
                                recorded, kSchemaVersion),
                    "use the cusweep version that recorded it");
  }

  // The server's first line, without the password should it quote it. libpq, given a password
  // with '@', ':' or '/' not percent-encoded, quotes pieces of it as a host or a port: those
  // pieces (4 characters and longer, so that short ones do not star out common words) go too.
  std::string scrub(const std::string& message) const {
    std::string out = first_line(message);
    std::vector<std::string> secrets = {password_};
    for (size_t begin = 0; begin < password_.size();) {
      const size_t end = std::min(password_.find_first_of("@:/", begin), password_.size());
      if (end - begin >= 4 && end - begin < password_.size())
        secrets.push_back(password_.substr(begin, end - begin));
      begin = end + 1;
    }
    for (const std::string& secret : secrets) {
      if (secret.empty()) continue;
      for (size_t p = out.find(secret); p != std::string::npos; p = out.find(secret, p))
        out.replace(p, secret.size(), "***");
    }
    return out;
  }

  // Retries after a lost connection wait 0.25, 0.5, 1, 2, 4, 5, 5, ... s, 60 s in all: longer
  // than a server restart, shorter than the default heartbeat timeout, after which the
  // trials of a silent worker are handed over anyway.
  static constexpr double kFirstReconnectS = 0.25, kLastReconnectS = 5, kReconnectWindowS = 60;

  const std::string url_;       // with its password: never shown (where_ is)
  const std::string where_;     // the redacted URL
  const std::string password_;  // scrubbed from messages
  std::unique_ptr<pqxx::connection> connection_;
  // The watchdog (watch()): the socket of the transaction in progress, -1 for none, and since
  // when; under watch_mutex_.
  std::mutex watch_mutex_;
  std::condition_variable watch_cv_;
  int watched_fd_ = -1;
  std::chrono::steady_clock::time_point watched_since_;
  bool closing_ = false;
  std::thread watchdog_;
  // When the connection was found lost, until a transaction commits again (under mutex_).
  std::optional<std::chrono::steady_clock::time_point> lost_since_;
  std::mutex mutex_;
};

class PostgresStudyStore final : public StudyStore {
 public:
  PostgresStudyStore(const std::string& url, const std::string& study, bool read_only)
      : db_(url, read_only),
        where_(fmt::format("{} study '{}'", db_.where(), study)),
        study_(study) {}

  std::string where() const override { return where_; }

  void set_worker(const std::string& worker) override {
    std::lock_guard<std::mutex> lock(worker_mutex_);
    worker_ = worker;
  }

  StudyInfo create_or_load_study(const StudyInfo& fresh, bool* created) override {
    return db_.run([&](pqxx::work& w) {
      const pqxx::result r = w.exec_params(
          "INSERT INTO cusweep_studies (study, name, tag, config, config_path, base_dir, "
          "fingerprint, summary) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
          "ON CONFLICT (study) DO NOTHING",
          study_, fresh.name, fresh.tag, dump_text(fresh.config), fresh.config_path, fresh.base_dir,
          dump_text(fresh.fingerprint), dump_text(fresh.summary));
      *created = r.affected_rows() == 1;
      StudyInfo info;
      read_study(w, &info);
      return info;
    });
  }

  bool load_study(StudyInfo* info) override {
    return db_.run([&](pqxx::work& w) { return read_study(w, info); });
  }

  void update_config(const json& config) override {
    db_.run([&](pqxx::work& w) {
      return w.exec_params("UPDATE cusweep_studies SET config = $2 WHERE study = $1", study_,
                           dump_text(config));
    });
  }

  void record_summary(const json& summary) override {
    db_.run([&](pqxx::work& w) {
      return w.exec_params("UPDATE cusweep_studies SET summary = $2 WHERE study = $1", study_,
                           dump_text(summary));
    });
  }

  TrialClaim claim_next(int n_trials, double heartbeat_timeout_s) override {
    const std::string worker = worker_id();
    return db_.run([&](pqxx::work& w) {
      // The study's row lock serializes the claims of every worker.
      const pqxx::result study = w.exec_params(
          "SELECT name, tag FROM cusweep_studies WHERE study = $1 FOR UPDATE", study_);
      if (study.empty()) throw StoreError(fmt::format("{}: no study recorded", where_));
      std::vector<ClaimCandidate> open;
      const pqxx::result rows =
          w.exec_params(open_trials_sql("cusweep_trials", "study = $1 AND ",
                                        "extract(epoch FROM now() - heartbeat)"),
                        study_);
      for (const auto& row : rows) {
        open.push_back({row[0].as<uint64_t>(), parse_trial_status(row[1].as<std::string>(), where_),
                        row[2].as<double>()});
      }
      const auto next_new =
          w.exec_params(next_new_trial_sql("cusweep_trials", "study = $1 AND ",
                                           "(SELECT coalesce(next_number, 0) FROM "
                                           "cusweep_studies WHERE study = $1)"),
                        study_)[0][0]
              .as<uint64_t>();
      TrialClaim claim = choose_claim(open, next_new, n_trials, heartbeat_timeout_s);
      if (claim.kind != TrialClaim::kTrial) return claim;
      const auto number = static_cast<int64_t>(claim.index);
      if (claim.index == next_new) {
        w.exec_params("UPDATE cusweep_studies SET next_number = $2 WHERE study = $1", study_,
                      number + 1);
      }
      const std::string name =
          trial_name(study[0][0].as<std::string>(), study[0][1].as<std::string>(), claim.index);
      const pqxx::result r = w.exec_params(
          "INSERT INTO cusweep_trials (study, number, name, status, searched, params, location, "
          "worker, heartbeat) VALUES ($1, $2, $3, 'RUNNING', '{}', '{}', '', $4, now()) "
          "ON CONFLICT (study, number) DO UPDATE SET status = 'RUNNING', worker = $4, "
          "heartbeat = now(), attempts = cusweep_trials.attempts + 1 "
          "RETURNING attempts, searched",
          study_, number, name, nullable(worker));
      claim.attempt = r[0][0].as<int>();
      claim.searched = json_field(r[0][1], where_);
      add_transition(w, number, "RUNNING");
      return claim;
    });
  }

  void heartbeat() override {
    const std::string worker = worker_id();
    db_.run([&](pqxx::work& w) {
      return w.exec_params(
          "UPDATE cusweep_trials SET heartbeat = now() WHERE study = $1 AND worker = $2 AND "
          "status = 'RUNNING'",
          study_, worker);
    });
  }

  void delete_study() override {
    db_.run([&](pqxx::work& w) {
      w.exec_params("DELETE FROM cusweep_transitions WHERE study = $1", study_);
      return w.exec_params("DELETE FROM cusweep_studies WHERE study = $1", study_);
    });
  }

  bool claim_trial(const TrialRecord& t, int keep_epochs) override {
    const std::string worker = worker_id();
    return db_.run([&](pqxx::work& w) {
      const auto number = static_cast<int64_t>(t.index);
      const pqxx::result s = w.exec_params(
          "SELECT status FROM cusweep_trials WHERE study = $1 AND number = $2 FOR UPDATE", study_,
          number);
      if (!s.empty() && is_final(parse_trial_status(s[0][0].as<std::string>(), where_))) {
        return false;
      }
      if (!worker.empty()) check_owner(w, number, worker);
      w.exec_params(
          "DELETE FROM cusweep_evaluations WHERE study = $1 AND trial = $2 AND epoch > $3", study_,
          number, keep_epochs);
      if (keep_epochs == 0) drop_checkpoint(w, number);
      if (!worker.empty()) {
        // claim_next made the attempt; this records its values.
        w.exec_params(
            "UPDATE cusweep_trials SET name = $3, searched = $4, params = $5, location = $6, "
            "objective = NULL, ranked_evaluation = NULL, confusion = NULL, error = NULL "
            "WHERE study = $1 AND number = $2",
            study_, number, t.name, dump_text(t.searched), dump_text(t.params), t.location);
        return true;
      }
      w.exec_params(
          "INSERT INTO cusweep_trials (study, number, name, status, searched, params, location, "
          "heartbeat) VALUES ($1, $2, $3, 'RUNNING', $4, $5, $6, now()) "
          "ON CONFLICT (study, number) DO UPDATE SET name = $3, status = 'RUNNING', "
          "searched = $4, params = $5, location = $6, objective = NULL, "
          "ranked_evaluation = NULL, confusion = NULL, error = NULL, runtime_s = 0, "
          "attempts = cusweep_trials.attempts + 1, worker = NULL, heartbeat = now()",
          study_, number, t.name, dump_text(t.searched), dump_text(t.params), t.location);
      add_transition(w, number, "RUNNING");
      return true;
    });
  }

  void record_evaluation(uint64_t trial, int epoch, const json& entry,
                         const std::string* checkpoint) override {
    const std::string worker = worker_id();
    db_.run([&](pqxx::work& w) {
      const auto number = static_cast<int64_t>(trial);
      check_owner(w, number, worker);
      w.exec_params(
          "INSERT INTO cusweep_evaluations (study, trial, epoch, entry) VALUES ($1, $2, $3, $4) "
          "ON CONFLICT (study, trial, epoch) DO UPDATE SET entry = $4",
          study_, number, epoch, dump_text(entry));
      if (checkpoint != nullptr) {
        w.exec_params(
            "INSERT INTO cusweep_checkpoints (study, trial, epoch, state) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (study, trial) DO UPDATE SET epoch = $3, state = $4",
            study_, number, epoch, pqxx::binarystring(checkpoint->data(), checkpoint->size()));
      }
      return 0;
    });
  }

  std::optional<std::string> load_checkpoint(uint64_t trial) override {
    return db_.run([&](pqxx::work& w) -> std::optional<std::string> {
      const pqxx::result r =
          w.exec_params("SELECT state FROM cusweep_checkpoints WHERE study = $1 AND trial = $2",
                        study_, static_cast<int64_t>(trial));
      if (r.empty()) return std::nullopt;
      return pqxx::binarystring(r[0][0]).str();
    });
  }

  void finish_trial(const TrialRecord& t) override {
    const std::string worker = worker_id();
    db_.run([&](pqxx::work& w) {
      const auto number = static_cast<int64_t>(t.index);
      const pqxx::result s = w.exec_params(
          "SELECT status FROM cusweep_trials WHERE study = $1 AND number = $2 FOR UPDATE", study_,
          number);
      if (s.empty()) {
        throw StoreError(
            fmt::format("{}: trial {} finished but was never claimed", where_, t.name));
      }
      check_owner(w, number, worker);
      const bool changed = s[0][0].as<std::string>() != trial_status_name(t.status);
      const std::string objective = t.objective.empty() ? "" : dump_text(t.objective);
      w.exec_params(
          "UPDATE cusweep_trials SET status = $3, objective = $4, ranked_evaluation = $5, "
          "confusion = $6, error = $7, runtime_s = $8, location = $9 "
          "WHERE study = $1 AND number = $2",
          study_, number, std::string(trial_status_name(t.status)), nullable(objective),
          t.ranked_evaluation, dump_text(confusion_json(t.confusion)), nullable(t.error),
          t.runtime_s, t.location);
      if (changed) add_transition(w, number, trial_status_name(t.status));
      if (is_final(t.status)) drop_checkpoint(w, number);
      return 0;
    });
  }

  void import_trials(const std::vector<TrialRecord>& trials) override {
    db_.run([&](pqxx::work& w) {
      for (const TrialRecord& t : trials) {
        const auto number = static_cast<int64_t>(t.index);
        const std::string objective = t.objective.empty() ? "" : dump_text(t.objective);
        w.exec_params(
            "INSERT INTO cusweep_trials (study, number, name, status, searched, params, "
            "location, objective, ranked_evaluation, confusion, error, runtime_s) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            study_, number, t.name, std::string(trial_status_name(t.status)), dump_text(t.searched),
            dump_text(t.params), t.location, nullable(objective), t.ranked_evaluation,
            dump_text(confusion_json(t.confusion)), nullable(t.error), t.runtime_s);
        for (size_t e = 0; e < t.history.size(); ++e) {
          w.exec_params(
              "INSERT INTO cusweep_evaluations (study, trial, epoch, entry) "
              "VALUES ($1, $2, $3, $4)",
              study_, number, static_cast<int>(e + 1), dump_text(t.history[e]));
        }
        add_transition(w, number, trial_status_name(t.status));
      }
      return 0;
    });
  }

  std::vector<TrialRecord> load_trials() override {
    return db_.run([&](pqxx::work& w) {
      std::vector<TrialRecord> trials;
      const pqxx::result rows = w.exec_params(
          "SELECT number, name, status, searched, params, location, objective, "
          "ranked_evaluation, confusion, error, runtime_s FROM cusweep_trials "
          "WHERE study = $1 ORDER BY number",
          study_);
      for (const auto& row : rows)
        trials.push_back(trial_from_row(row));
      const pqxx::result evaluations = w.exec_params(
          "SELECT trial, epoch, entry FROM cusweep_evaluations WHERE study = $1 "
          "ORDER BY trial, epoch",
          study_);
      size_t k = 0;
      for (const auto& e : evaluations) {
        const auto trial = e[0].as<uint64_t>();
        while (k < trials.size() && trials[k].index < trial)
          ++k;
        if (k == trials.size() || trials[k].index != trial) continue;
        TrialRecord& t = trials[k];
        const std::string entry = e[2].is_null() ? "" : e[2].as<std::string>();
        t.history.push_back(checked_evaluation(e[2].is_null() ? nullptr : &entry, where_, t.name,
                                               e[1].as<int64_t>()));
        t.epochs_done = e[1].as<int>();
        t.metrics = t.history.back().value("metrics", json::object());
      }
      check_recorded_trials(trials, where_);
      return trials;
    });
  }

 private:
  std::string worker_id() {
    std::lock_guard<std::mutex> lock(worker_mutex_);
    return worker_;
  }

  // StoreError unless `worker` (or the one runner of `cusweep run`, when empty) owns the trial:
  // it was handed to another worker whose records must not be overwritten. Refreshes the
  // trial's heartbeat.
  void check_owner(pqxx::work& w, int64_t number, const std::string& worker) {
    const pqxx::result r = w.exec_params(
        "UPDATE cusweep_trials SET heartbeat = now() WHERE study = $1 AND number = $2 AND "
        "worker IS NOT DISTINCT FROM $3",
        study_, number, nullable(worker));
    if (r.affected_rows() == 0) {
      throw StoreError(
          fmt::format("{}: trial {} is no longer this worker's ({}): it was handed "
                      "to another worker after its heartbeat stopped",
                      where_, number, worker.empty() ? "cusweep run" : worker));
    }
  }

  void drop_checkpoint(pqxx::work& w, int64_t number) {
    w.exec_params("DELETE FROM cusweep_checkpoints WHERE study = $1 AND trial = $2", study_,
                  number);
  }

  void add_transition(pqxx::work& w, int64_t number, const std::string& status) {
    w.exec_params(
        "INSERT INTO cusweep_transitions (study, trial, attempt, status, worker) "
        "SELECT study, number, attempts, $3, worker FROM cusweep_trials "
        "WHERE study = $1 AND number = $2",
        study_, number, status);
  }

  bool read_study(pqxx::work& w, StudyInfo* info) {
    const pqxx::result r = w.exec_params(
        "SELECT name, tag, config, config_path, base_dir, fingerprint, summary "
        "FROM cusweep_studies WHERE study = $1",
        study_);
    if (r.empty()) return false;
    if (info != nullptr) {
      info->name = r[0][0].as<std::string>();
      info->tag = r[0][1].as<std::string>();
      info->config = json_field(r[0][2], where_);
      info->config_path = r[0][3].as<std::string>();
      info->base_dir = r[0][4].as<std::string>();
      info->fingerprint = json_field(r[0][5], where_);
      info->summary = json_field(r[0][6], where_);
    }
    return true;
  }

  TrialRecord trial_from_row(const pqxx::row& row) const {
    TrialRecord t;
    t.index = row[0].as<uint64_t>();
    t.name = row[1].as<std::string>();
    t.status = parse_trial_status(row[2].as<std::string>(), where_, t.name);
    set_recorded_fields(t, json_field(row[3], where_), json_field(row[4], where_),
                        json_field(row[6], where_), json_field(row[8], where_), where_);
    t.location = row[5].as<std::string>();
    t.ranked_evaluation = row[7].is_null() ? -1 : row[7].as<int>();
    t.error = row[9].is_null() ? "" : row[9].as<std::string>();
    t.runtime_s = row[10].as<double>();
    return t;
  }

  Database db_;
  const std::string where_;  // for messages: the redacted URL and the study
  const std::string study_;
  std::mutex worker_mutex_;
  std::string worker_;  // set_worker; empty for the one runner of `cusweep run`
};

}  // namespace

std::unique_ptr<StudyStore> open_postgres_study(const std::string& url, const std::string& study,
                                                bool read_only) {
  return std::make_unique<PostgresStudyStore>(url, study, read_only);
}

std::vector<std::string> list_postgres_studies(const std::string& url) {
  Database db(url, true);
  return db.run([](pqxx::work& w) {
    std::vector<std::string> names;
    for (const auto& row : w.exec("SELECT study FROM cusweep_studies ORDER BY study"))
      names.push_back(row[0].as<std::string>());
    return names;
  });
}

void set_postgres_stall_s(double seconds) {
  g_stall_s = seconds;
}

std::string postgres_studies_there(const std::string& url) {
  std::string present;
  for (const std::string& name : list_postgres_studies(url))
    present += (present.empty() ? "" : ", ") + name;
  return present.empty() ? " (the database holds none)"
                         : fmt::format(" (studies there: {})", present);
}

}  // namespace cusweep
