// Branin, Hartmann-6, a quadratic with a learning curve and the two-objective ZDT1, as trial
// kinds.
#include "cusweep/benchmark_function.h"

#include <cmath>

#include <fmt/format.h>

#include "cusweep/error.h"
#include "cusweep/search_space.h"
#include "json_util.h"

namespace cusweep {
namespace {

using nlohmann::json;

const std::vector<std::string> kFunctions = {"branin", "hartmann6", "quadratic", "zdt1"};
constexpr int kQuadraticDims = 4;
constexpr int kZdt1Dims = 6;
constexpr double kQuadraticCenter = 0.3;

// Branin-Hoo on [-5, 10] x [0, 15] (Dixon and Szego 1978); minimum 0.397887 at three points.
double branin(double x1, double x2) {
  const double a = 1, b = 5.1 / (4 * M_PI * M_PI), c = 5 / M_PI, r = 6, s = 10, t = 1 / (8 * M_PI);
  const double q = x2 - b * x1 * x1 + c * x1 - r;
  return a * q * q + s * (1 - t) * std::cos(x1) + s;
}

// Hartmann-6 on [0, 1]^6; minimum -3.32237 (constants from Dixon and Szego 1978).
double hartmann6(const double* x) {
  static const double kAlpha[4] = {1.0, 1.2, 3.0, 3.2};
  static const double kA[4][6] = {{10, 3, 17, 3.5, 1.7, 8},
                                  {0.05, 10, 17, 0.1, 8, 14},
                                  {3, 3.5, 1.7, 10, 17, 8},
                                  {17, 8, 0.05, 10, 0.1, 14}};
  static const double kP[4][6] = {{0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886},
                                  {0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991},
                                  {0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650},
                                  {0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381}};
  double sum = 0;
  for (int i = 0; i < 4; ++i) {
    double inner = 0;
    for (int j = 0; j < 6; ++j)
      inner += kA[i][j] * (x[j] - kP[i][j]) * (x[j] - kP[i][j]);
    sum += kAlpha[i] * std::exp(-inner);
  }
  return -sum;
}

// ZDT1 on [0, 1]^n: f1 = x1, f2 = g (1 - sqrt(f1 / g)), g = 1 + 9 / (n - 1) * sum(x2..xn). The
// Pareto front is g = 1 (x2..xn = 0): f2 = 1 - sqrt(f1), a convex curve.
std::vector<double> zdt1(const std::vector<double>& x) {
  double sum = 0;
  for (size_t i = 1; i < x.size(); ++i)
    sum += x[i];
  const double g = 1 + 9 * sum / static_cast<double>(x.size() - 1);
  return {x[0], g * (1 - std::sqrt(x[0] / g))};
}

}  // namespace

BenchmarkFunctionConfig parse_benchmark_function(const json& j) {
  BenchmarkFunctionConfig c;
  if (j.is_null()) return c;
  const json spec = j.is_string() ? json{{"function", j}} : j;
  if (!spec.is_object()) {
    throw UserError(fmt::format("benchmark_function must be a function name or an object, got {}",
                                json_excerpt(j)));
  }
  check_known_keys(spec, {"function", "noise", "epochs"}, "benchmark_function");
  if (!spec.contains("function")) {
    throw UserError("benchmark_function.function is missing", "one of " + join_quoted(kFunctions));
  }
  c.function = json_string(spec["function"], "benchmark_function.function");
  if (std::find(kFunctions.begin(), kFunctions.end(), c.function) == kFunctions.end()) {
    throw UserError(fmt::format("benchmark_function.function must be one of {}, got \"{}\".{}",
                                join_quoted(kFunctions), c.function,
                                did_you_mean(c.function, kFunctions)));
  }
  if (spec.contains("noise")) {
    c.noise = json_number(spec["noise"], "benchmark_function.noise");
    if (!(c.noise >= 0 && c.noise < 1e6)) {
      throw UserError(fmt::format("benchmark_function.noise must be in [0, 1e6), got {}", c.noise));
    }
  }
  if (spec.contains("epochs")) {
    const int64_t e = json_int(spec["epochs"], "benchmark_function.epochs");
    if (e < 1 || e > 100000) {
      throw UserError(fmt::format("benchmark_function.epochs must be in [1, 100000], got {}", e));
    }
    c.epochs = static_cast<int>(e);
  }
  return c;
}

std::vector<std::string> benchmark_variables(const std::string& function) {
  const int dims = function == "branin"      ? 2
                   : function == "hartmann6" ? 6
                   : function == "zdt1"      ? kZdt1Dims
                                             : kQuadraticDims;
  std::vector<std::string> names;
  for (int i = 1; i <= dims; ++i)
    names.push_back("x" + std::to_string(i));
  return names;
}

std::pair<double, double> benchmark_domain(const std::string& function, size_t variable) {
  if (function == "branin") return variable == 0 ? std::pair{-5.0, 10.0} : std::pair{0.0, 15.0};
  return {0.0, 1.0};
}

std::vector<std::string> benchmark_outputs(const std::string& function) {
  if (function == "zdt1") return {"eval_y1", "eval_y2"};
  return {"eval_loss"};
}

std::vector<double> zdt1_reference_point() {
  return {1.1, 11.0};
}

double benchmark_minimum(const std::string& function) {
  if (function == "branin") return 0.397887357729738;
  if (function == "hartmann6") return -3.32236801141551;
  return 0.0;
}

std::vector<double> benchmark_values(const BenchmarkFunctionConfig& config, const json& x,
                                     int epoch, uint64_t seed) {
  const std::vector<std::string> names = benchmark_variables(config.function);
  std::vector<double> v;
  for (size_t i = 0; i < names.size(); ++i) {
    const auto domain = benchmark_domain(config.function, i);
    // A variable the search space does not set sits at the middle of its domain.
    v.push_back(x.contains(names[i]) ? x[names[i]].get<double>()
                                     : 0.5 * (domain.first + domain.second));
  }
  std::vector<double> values;
  if (config.function == "zdt1") {
    values = zdt1(v);
  } else if (config.function == "branin") {
    values = {branin(v[0], v[1])};
  } else if (config.function == "hartmann6") {
    values = {hartmann6(v.data())};
  } else {
    // A learning curve: the quadratic's value plus a term that shrinks with every epoch, so an
    // early evaluation predicts the final ranking (what successive halving relies on).
    double value = 0;
    for (double xi : v)
      value += (xi - kQuadraticCenter) * (xi - kQuadraticCenter);
    values = {value + 1.0 / epoch};
  }
  if (config.noise > 0) {
    Rng rng(seed ^ 0x6e6f697365ull, static_cast<uint64_t>(epoch));  // "noise"
    for (double& y : values)
      y += config.noise * rng.normal();
  }
  return values;
}

double benchmark_value(const BenchmarkFunctionConfig& config, const json& x, int epoch,
                       uint64_t seed) {
  return benchmark_values(config, x, epoch, seed).front();
}

}  // namespace cusweep
