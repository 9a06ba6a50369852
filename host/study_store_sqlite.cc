// The study in one SQLite file (study.db in the output folder). WAL journal with
// synchronous=FULL: a transaction is on disk when its COMMIT returns, so whatever the table has
// shown survives a crash. JSON is stored as text; one connection, serialized by a mutex.
// Several processes on one host may share a study (`cusweep worker --out DIR`): every write
// transaction takes the database's write lock at BEGIN, so claims serialize.
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>

#include <fmt/format.h>

#include "json_util.h"
#include "study_store.h"

namespace cusweep {
namespace {

using nlohmann::json;

// PRAGMA application_id of a cusweep study ("cswp"), and the schema version (user_version).
constexpr int32_t kApplicationId = 0x63737770;
// Format 2 added the worker and heartbeat of each trial, format 3 the checkpoints; older studies
// are upgraded in place when opened to write (read-only, a format 2 study has no checkpoints).
constexpr int kSchemaVersion = 3;
constexpr int kBusyTimeoutMs = 10000;

constexpr const char* kSchema = R"(
CREATE TABLE study (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  name TEXT NOT NULL, tag TEXT NOT NULL, config TEXT NOT NULL, config_path TEXT NOT NULL,
  base_dir TEXT NOT NULL, fingerprint TEXT NOT NULL, summary TEXT,
  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));
CREATE TABLE trials (
  number INTEGER PRIMARY KEY, name TEXT NOT NULL, status TEXT NOT NULL,
  searched TEXT NOT NULL, params TEXT NOT NULL, location TEXT NOT NULL,
  objective TEXT, ranked_evaluation INTEGER, confusion TEXT, error TEXT,
  runtime_s REAL NOT NULL DEFAULT 0, attempts INTEGER NOT NULL DEFAULT 1,
  worker TEXT, heartbeat REAL);
CREATE TABLE evaluations (
  trial INTEGER NOT NULL REFERENCES trials (number), epoch INTEGER NOT NULL,
  entry TEXT NOT NULL, PRIMARY KEY (trial, epoch));
CREATE TABLE transitions (
  id INTEGER PRIMARY KEY, trial INTEGER NOT NULL, attempt INTEGER NOT NULL,
  status TEXT NOT NULL, at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
  worker TEXT);
CREATE TABLE checkpoints (
  trial INTEGER PRIMARY KEY REFERENCES trials (number), epoch INTEGER NOT NULL,
  state BLOB NOT NULL);
)";

constexpr const char* kUpgradeFrom1 = R"(
ALTER TABLE trials ADD COLUMN worker TEXT;
ALTER TABLE trials ADD COLUMN heartbeat REAL;
ALTER TABLE transitions ADD COLUMN worker TEXT;
)";

constexpr const char* kUpgradeFrom2 = R"(
CREATE TABLE checkpoints (
  trial INTEGER PRIMARY KEY REFERENCES trials (number), epoch INTEGER NOT NULL,
  state BLOB NOT NULL);
)";

// Seconds since 1970 by SQLite's clock (unixepoch('subsec') needs SQLite 3.42).
#define CUSWEEP_SQLITE_NOW "((julianday('now') - 2440587.5) * 86400.0)"

json confusion_json(const ConfusionMatrix& m) {
  if (m.num_classes == 0) return nullptr;
  return {{"num_classes", m.num_classes}, {"counts", m.counts}};
}

// A prepared statement; bind() by 1-based position, step() once or per row.
class Statement {
 public:
  Statement(sqlite3* db, const std::string& path, const char* sql) : db_(db), path_(path) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) {
      throw StoreError(fmt::format("{}: cannot prepare '{}': {}", path, sql, sqlite3_errmsg(db)));
    }
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int i, int64_t v) { return checked(sqlite3_bind_int64(stmt_, i, v)); }
  Statement& bind(int i, double v) { return checked(sqlite3_bind_double(stmt_, i, v)); }
  Statement& bind(int i, const std::string& v) {
    return checked(
        sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT));
  }
  Statement& bind_blob(int i, const std::string& v) {
    return checked(sqlite3_bind_blob64(stmt_, i, v.data(), v.size(), SQLITE_TRANSIENT));
  }
  Statement& bind_null(int i) { return checked(sqlite3_bind_null(stmt_, i)); }
  // NULL for an empty string.
  Statement& bind_nullable(int i, const std::string& v) {
    return v.empty() ? bind_null(i) : bind(i, v);
  }

  // True while there is a row; false when done. Resets itself when done.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    sqlite3_reset(stmt_);
    if (rc != SQLITE_DONE) {
      const std::string message = sqlite3_errmsg(db_);
      sqlite3_clear_bindings(stmt_);
      throw StoreError(fmt::format("{}: {} failed: {}", path_, sqlite3_sql(stmt_), message));
    }
    sqlite3_clear_bindings(stmt_);
    return false;
  }
  // Runs a statement that returns no rows.
  void run() {
    while (step()) {
    }
  }
  // Ends a query read only in part.
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }
  double real(int col) const { return sqlite3_column_double(stmt_, col); }
  bool is_null(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  // A text column; bytes that are not UTF-8 (cusweep writes none) are a damaged study. `of()`
  // says whose column it is ("the study's", "trial number 3's"), made only for that message.
  template <class Of>
  std::string text(int col, const Of& of) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    std::string s = p == nullptr ? std::string() : std::string(p, sqlite3_column_bytes(stmt_, col));
    if (!is_utf8(s)) {
      throw UserError(fmt::format("{}: the study is damaged: {} {} is not UTF-8 text: {}", path_,
                                  of(), sqlite3_column_name(stmt_, col), json_excerpt(s)),
                      kDamagedStudyHint);
    }
    return s;
  }
  std::string text(int col) const {
    return text(col, [] { return "a row's"; });
  }
  std::string blob(int col) const {
    const auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
    return p == nullptr ? std::string() : std::string(p, sqlite3_column_bytes(stmt_, col));
  }
  template <class Of>
  json json_at(int col, const Of& of) const {
    return is_null(col) ? json() : parse_recorded_json(text(col, of), path_);
  }
  json json_at(int col) const {
    return json_at(col, [] { return "a row's"; });
  }

 private:
  Statement& checked(int rc) {
    if (rc != SQLITE_OK) {
      throw StoreError(fmt::format("{}: bind failed: {}", path_, sqlite3_errmsg(db_)));
    }
    return *this;
  }

  sqlite3* db_;
  const std::string& path_;
  sqlite3_stmt* stmt_ = nullptr;
};

class SqliteStudyStore final : public StudyStore {
 public:
  SqliteStudyStore(const std::string& path, bool read_only) : path_(path), read_only_(read_only) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {  // SQLite would say "disk I/O error"
      throw UserError(fmt::format("{}: is a folder, not a study", path),
                      "study.db is the file cusweep records a sweep in; move the folder away");
    }
    const int flags = read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    // Reading a WAL database needs its -shm file, which a reader creates if it is missing: in
    // a folder this user may not write, read the file as it is (immutable), as no writer runs
    // there without that file.
    const std::string folder = std::filesystem::path(path).parent_path().string();
    const bool frozen = read_only && access((folder.empty() ? "." : folder).c_str(), W_OK) != 0 &&
                        !std::filesystem::exists(path + "-shm");
    const std::string name = frozen ? "file:" + path + "?immutable=1" : path;
    const int rc = sqlite3_open_v2(
        name.c_str(), &db_, flags | SQLITE_OPEN_NOMUTEX | (frozen ? SQLITE_OPEN_URI : 0), nullptr);
    if (rc != SQLITE_OK) {
      const std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      sqlite3_close(db_);
      throw UserError(fmt::format("{}: cannot open the study: {}", path, message));
    }
    try {
      sqlite3_busy_timeout(db_, kBusyTimeoutMs);
      check_or_create_schema();
      if (!read_only_) {
        exec("PRAGMA journal_mode=WAL");
        exec("PRAGMA synchronous=FULL");
      }
      exec("PRAGMA foreign_keys=ON");
      try {
        prepare();
      } catch (const StoreError& e) {
        // Statements of this schema that do not compile: a table or column is missing.
        std::string what = e.what();
        if (what.rfind(path + ": ", 0) == 0) what = what.substr(path.size() + 2);
        throw UserError(fmt::format("{}: the study is damaged: {}", path, what), kDamagedStudyHint);
      }
    } catch (...) {
      statements_.clear();
      sqlite3_close(db_);
      throw;
    }
  }

  ~SqliteStudyStore() override {
    statements_.clear();
    sqlite3_close(db_);
  }

  StudyInfo create_or_load_study(const StudyInfo& fresh, bool* created) override {
    std::lock_guard<std::mutex> lock(mutex_);
    Transaction tx(*this);
    *created = !read_study(nullptr);
    if (*created && pragma("SELECT count(*) FROM trials") > 0) {
      // Trials with no study row to say what they are: nothing may be added to them.
      throw UserError(
          fmt::format("{}: the study is damaged: it records trials but no study", path_),
          kDamagedStudyHint);
    }
    if (*created) {
      Statement insert(db_, path_,
                       "INSERT INTO study (id, name, tag, config, config_path, base_dir, "
                       "fingerprint, summary) VALUES (1, ?, ?, ?, ?, ?, ?, ?)");
      insert.bind(1, fresh.name).bind(2, fresh.tag).bind(3, dump_text(fresh.config));
      insert.bind(4, fresh.config_path).bind(5, fresh.base_dir);
      insert.bind(6, dump_text(fresh.fingerprint)).bind(7, dump_text(fresh.summary));
      insert.run();
    }
    StudyInfo info;
    read_study(&info);
    tx.commit();
    return info;
  }

  bool load_study(StudyInfo* info) override {
    std::lock_guard<std::mutex> lock(mutex_);
    Transaction tx(*this, Transaction::kRead);
    const bool found = read_study(info);
    tx.commit();
    return found;
  }

  void update_config(const json& config) override {
    std::lock_guard<std::mutex> lock(mutex_);
    Statement update(db_, path_, "UPDATE study SET config = ? WHERE id = 1");
    update.bind(1, dump_text(config)).run();
  }

  void record_summary(const json& summary) override {
    std::lock_guard<std::mutex> lock(mutex_);
    Statement update(db_, path_, "UPDATE study SET summary = ? WHERE id = 1");
    update.bind(1, dump_text(summary)).run();
  }

  std::string where() const override { return path_; }

  void set_worker(const std::string& worker) override {
    std::lock_guard<std::mutex> lock(mutex_);
    worker_ = worker;
  }

  TrialClaim claim_next(int n_trials, double heartbeat_timeout_s) override {
    std::lock_guard<std::mutex> lock(mutex_);
    Transaction tx(*this);  // the write lock: claims of all processes serialize here
    std::vector<ClaimCandidate> open;
    const std::string open_sql = open_trials_sql("trials", "", CUSWEEP_SQLITE_NOW " - heartbeat");
    Statement select(db_, path_, open_sql.c_str());
    while (select.step()) {
      open.push_back({static_cast<uint64_t>(select.integer(0)),
                      parse_trial_status(select.text(1), path_), select.real(2)});
    }
    const std::string next_sql = next_new_trial_sql("trials", "", "0");
    Statement next(db_, path_, next_sql.c_str());
    if (!next.step()) throw StoreError(fmt::format("{}: no next trial number", path_));
    const auto next_new = static_cast<uint64_t>(next.integer(0));
    TrialClaim claim = choose_claim(open, next_new, n_trials, heartbeat_timeout_s);
    if (claim.kind != TrialClaim::kTrial) return claim;
    const auto number = static_cast<int64_t>(claim.index);
    StudyInfo info;
    if (!read_study(&info)) throw StoreError(fmt::format("{}: no study recorded", path_));
    Statement upsert(
        db_, path_,
        "INSERT INTO trials (number, name, status, searched, params, location, "
        "worker, heartbeat) VALUES (?1, ?2, 'RUNNING', '{}', '{}', '', ?3, " CUSWEEP_SQLITE_NOW
        ") ON CONFLICT (number) DO UPDATE SET status = 'RUNNING', worker = ?3, "
        "heartbeat = " CUSWEEP_SQLITE_NOW
        ", attempts = attempts + 1 "
        "RETURNING attempts, searched");
    upsert.bind(1, number).bind(2, trial_name(info.name, info.tag, claim.index));
    upsert.bind_nullable(3, worker_);
    if (!upsert.step())
      throw StoreError(fmt::format("{}: claim of trial {} failed", path_, number));
    claim.attempt = static_cast<int>(upsert.integer(0));
    claim.searched = upsert.json_at(1);
    upsert.reset();
    add_transition(claim.index, "RUNNING");
    tx.commit();
    return claim;
  }

  void heartbeat() override {
    std::lock_guard<std::mutex> lock(mutex_);
    Statement update(db_, path_,
                     "UPDATE trials SET heartbeat = " CUSWEEP_SQLITE_NOW
                     " WHERE worker = ? AND status = 'RUNNING'");
    update.bind(1, worker_).run();
  }

  void delete_study() override {
    std::lock_guard<std::mutex> lock(mutex_);
    Transaction tx(*this);
    exec(
        "DELETE FROM checkpoints; DELETE FROM evaluations; DELETE FROM transitions; "
        "DELETE FROM trials; DELETE FROM study;");
    tx.commit();
  }

  bool claim_trial(const TrialRecord& t, int keep_epochs) override {
    std::lock_guard<std::mutex> lock(mutex_);
    Transaction tx(*this);
    std::string recorded;
    if (recorded_status(t.index, &recorded) && is_final(parse_trial_status(recorded, path_))) {
      return false;
    }
    if (!worker_.empty()) check_owner(t.index);
    const auto trial = static_cast<int64_t>(t.index);
    statement(kDropEvaluations).bind(1, trial).bind(2, static_cast<int64_t>(keep_epochs)).run();
    if (keep_epochs == 0) drop_checkpoint(t.index);
    if (!worker_.empty()) {
      // claim_next made the attempt; this records its values.
      Statement& values = statement(kRecordValues);
      values.bind(1, t.name).bind(2, dump_text(t.searched)).bind(3, dump_text(t.params));
      values.bind(4, t.location).bind(5, static_cast<int64_t>(t.index)).run();
      tx.commit();
      return true;
    }
    Statement& claim = statement(kClaim);
    claim.bind(1, static_cast<int64_t>(t.index)).bind(2, t.name).bind(3, dump_text(t.searched));
    claim.bind(4, dump_text(t.params)).bind(5, t.location);
    claim.run();
    add_transition(t.index, "RUNNING");
    tx.commit();
    return true;
  }

  void record_evaluation(uint64_t trial, int epoch, const json& entry,
                         const std::string* checkpoint) override {
    std::lock_guard<std::mutex> lock(mutex_);
    Transaction tx(*this);
    check_owner(trial);  // and a sign of life
    Statement& insert = statement(kAddEvaluation);
    insert.bind(1, static_cast<int64_t>(trial)).bind(2, static_cast<int64_t>(epoch));
    insert.bind(3, dump_text(entry)).run();
    if (checkpoint != nullptr) {
      Statement save(db_, path_,
                     "INSERT OR REPLACE INTO checkpoints (trial, epoch, state) VALUES (?, ?, ?)");
      save.bind(1, static_cast<int64_t>(trial)).bind(2, static_cast<int64_t>(epoch));
      save.bind_blob(3, *checkpoint).run();
    }
    tx.commit();
  }

  std::optional<std::string> load_checkpoint(uint64_t trial) override {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!has_checkpoints_) return std::nullopt;
    Statement select(db_, path_, "SELECT state FROM checkpoints WHERE trial = ?");
    select.bind(1, static_cast<int64_t>(trial));
    if (!select.step()) return std::nullopt;
    std::string state = select.blob(0);
    select.reset();
    return state;
  }

  void finish_trial(const TrialRecord& t) override {
    std::lock_guard<std::mutex> lock(mutex_);
    Transaction tx(*this);
    std::string recorded;
    if (!recorded_status(t.index, &recorded)) {
      throw StoreError(fmt::format("{}: trial {} finished but was never claimed", path_, t.name));
    }
    check_owner(t.index);
    const bool changed = recorded != trial_status_name(t.status);
    Statement& update = statement(kFinish);
    update.bind(1, std::string(trial_status_name(t.status)));
    if (t.objective.empty()) {
      update.bind_null(2);
    } else {
      update.bind(2, dump_text(t.objective));
    }
    update.bind(3, static_cast<int64_t>(t.ranked_evaluation));
    update.bind(4, dump_text(confusion_json(t.confusion)));
    if (t.error.empty()) {
      update.bind_null(5);
    } else {
      update.bind(5, t.error);
    }
    update.bind(6, t.runtime_s).bind(7, t.location).bind(8, static_cast<int64_t>(t.index));
    update.run();
    if (changed) add_transition(t.index, trial_status_name(t.status));
    if (is_final(t.status)) drop_checkpoint(t.index);
    tx.commit();
  }

  void import_trials(const std::vector<TrialRecord>& trials) override {
    std::lock_guard<std::mutex> lock(mutex_);
    Transaction tx(*this);
    Statement insert(db_, path_,
                     "INSERT INTO trials (number, name, status, searched, params, location, "
                     "objective, ranked_evaluation, confusion, error, runtime_s) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    for (const TrialRecord& t : trials) {
      const auto number = static_cast<int64_t>(t.index);
      insert.bind(1, number).bind(2, t.name).bind(3, std::string(trial_status_name(t.status)));
      insert.bind(4, dump_text(t.searched)).bind(5, dump_text(t.params)).bind(6, t.location);
      insert.bind_nullable(7, t.objective.empty() ? "" : dump_text(t.objective));
      insert.bind(8, static_cast<int64_t>(t.ranked_evaluation));
      insert.bind(9, dump_text(confusion_json(t.confusion))).bind_nullable(10, t.error);
      insert.bind(11, t.runtime_s).run();
      for (size_t e = 0; e < t.history.size(); ++e) {
        Statement& evaluation = statement(kAddEvaluation);
        evaluation.bind(1, number).bind(2, static_cast<int64_t>(e + 1));
        evaluation.bind(3, dump_text(t.history[e])).run();
      }
      add_transition(t.index, trial_status_name(t.status));
    }
    tx.commit();
  }

  std::vector<TrialRecord> load_trials() override {
    std::lock_guard<std::mutex> lock(mutex_);
    Transaction tx(*this, Transaction::kRead);  // one snapshot of both tables
    std::vector<TrialRecord> trials;
    Statement select(db_, path_,
                     "SELECT number, name, status, searched, params, location, objective, "
                     "ranked_evaluation, confusion, error, runtime_s FROM trials ORDER BY number");
    while (select.step())
      trials.push_back(trial_from_row(select));
    Statement evaluations(db_, path_,
                          "SELECT trial, epoch, entry FROM evaluations ORDER BY trial, epoch");
    size_t k = 0;
    while (evaluations.step()) {
      const uint64_t trial = static_cast<uint64_t>(evaluations.integer(0));
      while (k < trials.size() && trials[k].index < trial)
        ++k;
      if (k == trials.size() || trials[k].index != trial) continue;
      TrialRecord& t = trials[k];
      const std::string entry = evaluations.is_null(2) ? "" : evaluations.text(2, [&] {
        return fmt::format("trial {}'s evaluation of epoch {}:", t.name, evaluations.integer(1));
      });
      t.history.push_back(checked_evaluation(evaluations.is_null(2) ? nullptr : &entry, path_,
                                             t.name, evaluations.integer(1)));
      t.epochs_done = static_cast<int>(evaluations.integer(1));
      t.metrics = t.history.back().value("metrics", json::object());
    }
    tx.commit();
    check_recorded_trials(trials, path_);
    return trials;
  }

 private:
  enum StatementId {
    kTrialStatus,
    kDropEvaluations,
    kClaim,
    kAddEvaluation,
    kFinish,
    kTransition,
    kTouch,
    kRecordValues
  };

  // BEGIN ... COMMIT; rolled back when left without commit(). A write transaction takes the
  // write lock at once (IMMEDIATE), so it waits (busy_timeout) at BEGIN rather than failing
  // half way; readers do not block the writer (WAL).
  class Transaction {
   public:
    enum Kind { kRead, kWrite };
    explicit Transaction(SqliteStudyStore& store, Kind kind = kWrite) : store_(store) {
      store_.exec(kind == kWrite ? "BEGIN IMMEDIATE" : "BEGIN");
    }
    ~Transaction() {
      if (!done_) sqlite3_exec(store_.db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
    void commit() {
      store_.exec("COMMIT");
      done_ = true;
    }

   private:
    SqliteStudyStore& store_;
    bool done_ = false;
  };

  void exec(const char* sql) {
    char* message = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
      const std::string text = message ? message : sqlite3_errmsg(db_);
      sqlite3_free(message);
      throw StoreError(fmt::format("{}: {} failed: {}", path_, sql, text));
    }
  }

  int64_t pragma(const char* sql) {
    Statement s(db_, path_, sql);
    const int64_t v = s.step() ? s.integer(0) : 0;
    s.reset();
    return v;
  }

  // A new file gets the schema; anything else must carry cusweep's application id.
  void check_or_create_schema() {
    const std::string hint =
        "it is not cusweep's: move it away to keep it; cusweep run CONFIG --out elsewhere leaves "
        "it alone, and cusweep run CONFIG --overwrite replaces it with a new study";
    int64_t id = 0;
    try {
      id = pragma("PRAGMA application_id");
    } catch (const StoreError& e) {
      if (sqlite3_errcode(db_) == SQLITE_CORRUPT) {  // an SQLite file, damaged: maybe a study
        throw UserError(fmt::format("{}: the study is damaged ({})", path_, sqlite3_errmsg(db_)),
                        kDamagedStudyHint);
      }
      throw UserError(fmt::format("{}: not a cusweep study ({})", path_, sqlite3_errmsg(db_)),
                      hint);
    }
    if (id == 0 && pragma("SELECT count(*) FROM sqlite_master") == 0) {
      if (read_only_) throw UserError(fmt::format("{}: no study recorded yet", path_));
      Transaction tx(*this);
      exec(kSchema);
      exec(fmt::format("PRAGMA application_id={}", kApplicationId).c_str());
      exec(fmt::format("PRAGMA user_version={}", kSchemaVersion).c_str());
      tx.commit();
      return;
    }
    if (id != kApplicationId) {
      throw UserError(fmt::format("{}: not a cusweep study (an SQLite database with "
                                  "application_id {}, not {})",
                                  path_, id, kApplicationId),
                      hint);
    }
    int64_t version = pragma("PRAGMA user_version");
    if (version == 1 && read_only_) {
      throw UserError(fmt::format("{}: study format 1, read only here", path_),
                      "cusweep run CONFIG --out DIR --resume upgrades it to format " +
                          std::to_string(kSchemaVersion));
    }
    if (version == 2 && read_only_) {
      has_checkpoints_ = false;  // nothing to continue from in a study that is only read
      return;
    }
    if (version == 1 || version == 2) {
      Transaction tx(*this);
      if (version == 1) exec(kUpgradeFrom1);
      exec(kUpgradeFrom2);
      exec(fmt::format("PRAGMA user_version={}", kSchemaVersion).c_str());
      tx.commit();
      version = kSchemaVersion;
    }
    if (version != kSchemaVersion) {
      throw UserError(fmt::format("{}: study format {}; this cusweep reads format {}", path_,
                                  version, kSchemaVersion),
                      "use the cusweep version that recorded it");
    }
  }

  void prepare() {
    const char* sql[] = {
        "SELECT status FROM trials WHERE number = ?",
        "DELETE FROM evaluations WHERE trial = ? AND epoch > ?",
        "INSERT INTO trials (number, name, status, searched, params, location, heartbeat) "
        "VALUES (?1, ?2, 'RUNNING', ?3, ?4, ?5, " CUSWEEP_SQLITE_NOW
        ") ON CONFLICT (number) DO UPDATE SET "
        "name = ?2, status = 'RUNNING', searched = ?3, params = ?4, location = ?5, objective = "
        "NULL, "
        "ranked_evaluation = NULL, confusion = NULL, error = NULL, runtime_s = 0, "
        "attempts = attempts + 1, worker = NULL, heartbeat = " CUSWEEP_SQLITE_NOW,
        "INSERT OR REPLACE INTO evaluations (trial, epoch, entry) VALUES (?, ?, ?)",
        "UPDATE trials SET status = ?, objective = ?, ranked_evaluation = ?, confusion = ?, "
        "error = ?, runtime_s = ?, location = ? WHERE number = ?",
        "INSERT INTO transitions (trial, attempt, status, worker) "
        "SELECT number, attempts, ?, worker FROM trials WHERE number = ?",
        "UPDATE trials SET heartbeat = " CUSWEEP_SQLITE_NOW " WHERE number = ? AND worker IS ?",
        // A new attempt: what an earlier one finished with goes, with its evaluations.
        "UPDATE trials SET name = ?, searched = ?, params = ?, location = ?, objective = NULL, "
        "ranked_evaluation = NULL, confusion = NULL, error = NULL WHERE number = ?"};
    for (const char* s : sql)
      statements_.push_back(std::make_unique<Statement>(db_, path_, s));
  }

  Statement& statement(StatementId id) { return *statements_[id]; }

  // The trial's recorded status; false when the trial is not recorded.
  bool recorded_status(uint64_t trial, std::string* status) {
    Statement& select = statement(kTrialStatus);
    select.bind(1, static_cast<int64_t>(trial));
    if (!select.step()) return false;
    *status = select.text(0);
    select.reset();
    return true;
  }

  // StoreError unless this runner (worker identity, or none) owns the trial: it was handed to
  // another worker whose records must not be overwritten. Refreshes the trial's heartbeat.
  void check_owner(uint64_t trial) {
    Statement& touch = statement(kTouch);
    touch.bind(1, static_cast<int64_t>(trial)).bind_nullable(2, worker_).run();
    if (sqlite3_changes(db_) == 0) {
      throw StoreError(
          fmt::format("{}: trial {} is no longer this worker's ({}): it was handed "
                      "to another worker after its heartbeat stopped",
                      path_, trial, worker_.empty() ? "cusweep run" : worker_));
    }
  }

  void drop_checkpoint(uint64_t trial) {
    Statement drop(db_, path_, "DELETE FROM checkpoints WHERE trial = ?");
    drop.bind(1, static_cast<int64_t>(trial)).run();
  }

  void add_transition(uint64_t trial, const std::string& status) {
    statement(kTransition).bind(1, status).bind(2, static_cast<int64_t>(trial)).run();
  }

  // Fills `info` (when not null) from the study row; false when there is none.
  bool read_study(StudyInfo* info) {
    Statement select(db_, path_,
                     "SELECT name, tag, config, config_path, base_dir, fingerprint, summary "
                     "FROM study WHERE id = 1");
    if (!select.step()) return false;
    if (info != nullptr) {
      const auto of = [] { return "the study's"; };
      info->name = select.text(0, of);
      info->tag = select.text(1, of);
      info->config = select.json_at(2, of);
      info->config_path = select.text(3, of);
      info->base_dir = select.text(4, of);
      info->fingerprint = select.json_at(5, of);
      info->summary = select.json_at(6, of);
    }
    select.reset();
    return true;
  }

  TrialRecord trial_from_row(const Statement& row) const {
    TrialRecord t;
    t.index = static_cast<uint64_t>(row.integer(0));
    const auto of = [&] { return fmt::format("trial number {}'s", t.index); };
    t.name = row.text(1, of);
    t.status = parse_trial_status(row.text(2, of), path_, t.name);
    set_recorded_fields(t, row.json_at(3, of), row.json_at(4, of), row.json_at(6, of),
                        row.json_at(8, of), path_);
    t.location = row.text(5, of);
    t.ranked_evaluation = row.is_null(7) ? -1 : static_cast<int>(row.integer(7));
    t.error = row.text(9, of);
    t.runtime_s = row.real(10);
    return t;
  }

  std::string path_;
  bool read_only_ = false;       // show: never writes, so it works on files it may not write
  bool has_checkpoints_ = true;  // false for a format 2 study opened read-only
  std::string worker_;           // set_worker; empty for the one runner of `cusweep run`
  sqlite3* db_ = nullptr;
  std::mutex mutex_;
  std::vector<std::unique_ptr<Statement>> statements_;  // by StatementId
};

}  // namespace

std::unique_ptr<StudyStore> open_sqlite_study(const std::string& path, bool read_only) {
  return std::make_unique<SqliteStudyStore>(path, read_only);
}

void remove_sqlite_study(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    std::error_code ec;
    std::filesystem::remove(path + suffix, ec);
    if (ec) throw UserError(fmt::format("{}{}: cannot remove: {}", path, suffix, ec.message()));
  }
}

}  // namespace cusweep
