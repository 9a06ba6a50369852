// Shared by the study tests (test_study_store.cc, pg_test_study_store.cc): scratch folders and
// sweeps of the quadratic benchmark function (microseconds per evaluation, a learning curve over
// its epochs for the schedulers).
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace cusweep {
namespace testing_util {

// An empty folder under the test scratch folder: <prefix><name>.
inline std::string temp_dir(const std::string& prefix, const std::string& name) {
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / (prefix + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

inline nlohmann::json quadratic_config(int n_trials, int concurrent, int epochs, uint64_t seed) {
  const nlohmann::json uniform = {{"type", "uniform"}, {"low", 0.0}, {"high", 1.0}};
  return {{"name", "quad"},
          {"benchmark_function", {{"function", "quadratic"}, {"epochs", epochs}}},
          {"search_space", {{"x1", uniform}, {"x2", uniform}}},
          {"n_trials", n_trials},
          {"max_concurrent_trials", concurrent},
          {"seed", seed}};
}

}  // namespace testing_util
}  // namespace cusweep
