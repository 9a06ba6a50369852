// Benchmark functions as trials: instead of training a model, a trial evaluates a known test
// function at its searched point, so samplers and schedulers can be tested and compared in
// milliseconds. Branin (2-D) and Hartmann-6 have published minima; "quadratic" has an epoch
// dimension (a learning curve that improves with epochs, plus optional noise) for schedulers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cusweep {

struct BenchmarkFunctionConfig {
  std::string function;  // "branin" | "hartmann6" | "quadratic"; empty = train models
  double noise = 0;      // standard deviation of Gaussian noise added to each evaluation
  int epochs = 1;        // evaluations per trial (quadratic's learning curve)
  bool active() const { return !function.empty(); }
};

// Parses the `benchmark_function` object (or a bare function name).
BenchmarkFunctionConfig parse_benchmark_function(const nlohmann::json& j);

// The search-space names of a function's variables, e.g. {"x1", "x2"}, and their domain.
std::vector<std::string> benchmark_variables(const std::string& function);
std::pair<double, double> benchmark_domain(const std::string& function, size_t variable);

// The function's global minimum (Branin 0.397887, Hartmann-6 -3.32237, quadratic 0).
double benchmark_minimum(const std::string& function);

// The value of trial `seed`'s point `x` ({"x1": ..., ...}) at evaluation `epoch` (1-based).
// Noise comes from a generator seeded by (seed, epoch), so a trial's values are reproducible.
double benchmark_value(const BenchmarkFunctionConfig& config, const nlohmann::json& x, int epoch,
                       uint64_t seed);

}  // namespace cusweep
