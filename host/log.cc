// Process-wide logger: one mutex-protected sink, stderr by default.
#include "cusweep/log.h"

#include <cstdio>
#include <mutex>

namespace cusweep {
namespace {

std::mutex& sink_mutex() {
  static std::mutex m;
  return m;
}

LogSink& current_sink() {
  static LogSink sink = [](LogLevel level, const std::string& message) {
    std::fprintf(stderr, "[cusweep %s] %s\n", log_level_name(level), message.c_str());
  };
  return sink;
}

LogLevel& current_level() {
  static LogLevel level = LogLevel::kInfo;
  return level;
}

thread_local int quiet_depth = 0;  // QuietWarnings alive on this thread

}  // namespace

LogSink set_log_sink(LogSink sink) {
  std::lock_guard<std::mutex> lock(sink_mutex());
  std::swap(current_sink(), sink);
  return sink;
}

void set_log_level(LogLevel level) {
  std::lock_guard<std::mutex> lock(sink_mutex());
  current_level() = level;
}

LogLevel log_level() {
  std::lock_guard<std::mutex> lock(sink_mutex());
  return current_level();
}

void log(LogLevel level, const std::string& message) {
  std::lock_guard<std::mutex> lock(sink_mutex());
  if (level < current_level() || !current_sink()) return;
  if (quiet_depth > 0 && level < LogLevel::kError) return;
  current_sink()(level, message);
}

QuietWarnings::QuietWarnings() {
  ++quiet_depth;
}
QuietWarnings::~QuietWarnings() {
  --quiet_depth;
}

const char* log_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "?";
}

}  // namespace cusweep
