// Collects the warnings (and errors) cusweep logs while a test runs.
#pragma once

#include <string>
#include <vector>

#include "cusweep/log.h"

namespace cusweep {

// Collects the messages of level warning and above logged while it lives, then puts back the
// sink it replaced.
struct Warnings {
  std::vector<std::string> logged;
  LogSink previous = set_log_sink([this](LogLevel level, const std::string& m) {
    if (level >= LogLevel::kWarning) logged.push_back(m);
  });
  Warnings() = default;
  Warnings(const Warnings&) = delete;
  Warnings& operator=(const Warnings&) = delete;
  ~Warnings() { set_log_sink(previous); }
};

}  // namespace cusweep
