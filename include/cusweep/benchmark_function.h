// Benchmark functions as trials: instead of training a model, a trial evaluates a known test
// function at its searched point, so samplers and schedulers can be tested and compared in
// milliseconds. Branin (2-D) and Hartmann-6 have published minima; "quadratic" has an epoch
// dimension (a learning curve that improves with epochs, plus optional noise) for schedulers.
// ZDT1 (Zitzler, Deb and Thiele 2000) has two objectives, for multi-objective samplers.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cusweep {

struct BenchmarkFunctionConfig {
  std::string function;  // "branin" | "hartmann6" | "quadratic" | "zdt1"; empty = train models
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

// The metric names a function reports: {"eval_loss"} for the single-objective functions,
// {"eval_y1", "eval_y2"} for ZDT1 (both minimized).
std::vector<std::string> benchmark_outputs(const std::string& function);

// The values (one per output) of trial `seed`'s point `x` ({"x1": ..., ...}) at evaluation
// `epoch` (1-based). A variable `x` lacks sits at the middle of its domain. Noise comes from a
// generator seeded by (seed, epoch), so a trial's values are reproducible.
std::vector<double> benchmark_values(const BenchmarkFunctionConfig& config, const nlohmann::json& x,
                                     int epoch, uint64_t seed);

// The single output of a single-objective function.
double benchmark_value(const BenchmarkFunctionConfig& config, const nlohmann::json& x, int epoch,
                       uint64_t seed);

// ZDT1's reference point for hypervolumes, (1.1, 11): every point of [0, 1]^6 dominates it,
// and the true front's hypervolume is 12.1 - 1/3.
std::vector<double> zdt1_reference_point();

}  // namespace cusweep
