// Leveled logging to a sink the caller can replace (tests capture it; the CLI writes stderr).
#pragma once

#include <functional>
#include <string>

namespace cusweep {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

using LogSink = std::function<void(LogLevel, const std::string&)>;

// Replaces the process-wide sink; returns the previous one. Thread-safe.
LogSink set_log_sink(LogSink sink);
// Messages below `level` are dropped before they reach the sink.
void set_log_level(LogLevel level);
LogLevel log_level();

void log(LogLevel level, const std::string& message);
inline void log_debug(const std::string& m) {
  log(LogLevel::kDebug, m);
}
inline void log_info(const std::string& m) {
  log(LogLevel::kInfo, m);
}
inline void log_warning(const std::string& m) {
  log(LogLevel::kWarning, m);
}
inline void log_error(const std::string& m) {
  log(LogLevel::kError, m);
}

const char* log_level_name(LogLevel level);

// While one lives, the warnings (and infos) this thread logs are dropped; errors still go
// through. For a recorded config read again: its warnings were said when it was first run.
class QuietWarnings {
 public:
  QuietWarnings();
  ~QuietWarnings();
  QuietWarnings(const QuietWarnings&) = delete;
  QuietWarnings& operator=(const QuietWarnings&) = delete;
};

}  // namespace cusweep
