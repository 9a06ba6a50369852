// SearchSpace: parsing and validation of the "search_space" config section, and deterministic
// per-trial sampling (trial i's values depend only on the sweep seed and i).
#include "cusweep/search_space.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "cusweep/error.h"
#include "cusweep/log.h"

namespace cusweep {
namespace {

using nlohmann::json;

// Integer bounds are held in doubles (ParamSpec::low/high); beyond 2^53 they stop being exact.
constexpr double kMaxExactInteger = 9007199254740992.0;

// Float quantization rounds x / q; a bound that is a multiple of q up to rounding error (0.3 /
// 0.1 = 2.9999999999999996) must still count as one, so bounds are widened by this many q.
constexpr double kQuantizeSlack = 1e-9;

const std::vector<ParamKind> kAllKinds = {
    ParamKind::kUniform, ParamKind::kQUniform, ParamKind::kLogUniform, ParamKind::kQLogUniform,
    ParamKind::kRandInt, ParamKind::kQRandInt, ParamKind::kChoice,     ParamKind::kGrid};
const std::vector<std::string> kRangeKeys = {"type", "low", "high", "q"};
const std::vector<std::string> kValuesKeys = {"type", "values"};

const char* kind_name(ParamKind kind) {
  switch (kind) {
    case ParamKind::kUniform:
      return "uniform";
    case ParamKind::kQUniform:
      return "quniform";
    case ParamKind::kLogUniform:
      return "loguniform";
    case ParamKind::kQLogUniform:
      return "qloguniform";
    case ParamKind::kRandInt:
      return "randint";
    case ParamKind::kQRandInt:
      return "qrandint";
    case ParamKind::kChoice:
      return "choice";
    case ParamKind::kGrid:
      return "grid";
  }
  throw std::logic_error("kind_name: ParamKind out of range");
}

const std::vector<std::string> kTypeNames = [] {
  std::vector<std::string> names;
  for (ParamKind kind : kAllKinds)
    names.push_back(kind_name(kind));
  return names;
}();

bool is_integer_kind(ParamKind kind) {
  return kind == ParamKind::kRandInt || kind == ParamKind::kQRandInt;
}
bool is_quantized(ParamKind kind) {
  return kind == ParamKind::kQUniform || kind == ParamKind::kQLogUniform ||
         kind == ParamKind::kQRandInt;
}
bool is_log(ParamKind kind) {
  return kind == ParamKind::kLogUniform || kind == ParamKind::kQLogUniform;
}

// The JSON as the user wrote it, cut short so a pasted array does not flood the message.
std::string show(const json& value) {
  constexpr size_t kMaxShown = 60;
  std::string text = value.dump();
  if (text.size() > kMaxShown) text = text.substr(0, kMaxShown - 3) + "...";
  return text;
}

std::string join(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& word : words)
    out += (out.empty() ? "" : ", ") + word;
  return out;
}

[[noreturn]] void fail_unknown(const std::string& what, const std::string& word,
                               const std::vector<std::string>& candidates,
                               const std::string& hint) {
  const std::string suggestion = did_you_mean(word, candidates);
  throw UserError(what + (suggestion.empty() ? "" : ";" + suggestion), hint);
}

// The range of an integer kind: randint samples [low, high); qrandint includes high, as in
// Ray Tune ("quantization makes the upper bound inclusive").
std::string integer_range_text(ParamKind kind) {
  return kind == ParamKind::kQRandInt ? "[low, high] (high inclusive, Ray's qrandint convention)"
                                      : "[low, high) (high excluded, Ray's randint convention)";
}

int64_t floor_div(int64_t a, int64_t b) {
  const int64_t quotient = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? quotient - 1 : quotient;
}
int64_t ceil_div(int64_t a, int64_t b) {
  return -floor_div(-a, b);
}

// k * q as the decimal meant: in binary the product is often a hair off it (43 * 0.001 =
// 0.043000000000000003, as results.csv would show it); 15 significant digits make it 0.043,
// still on the grid.
double multiple_of_q(double k, double q) {
  char text[32];
  std::snprintf(text, sizeof text, "%.15g", k * q);
  return std::strtod(text, nullptr);
}

// Multiples k * q allowed for a quantized parameter: k in [first, last].
struct QuantizedRange {
  double first, last;
};
QuantizedRange quantized_range(const ParamSpec& p) {
  if (is_integer_kind(p.kind)) {
    const auto q = static_cast<int64_t>(p.q);
    return {static_cast<double>(ceil_div(static_cast<int64_t>(p.low), q)),
            static_cast<double>(floor_div(static_cast<int64_t>(p.high), q))};
  }
  return {std::ceil(p.low / p.q - kQuantizeSlack), std::floor(p.high / p.q + kQuantizeSlack)};
}

// ---- parsing

// A number under spec[key], required. `integer` also demands an integral value that a double
// holds exactly (1e3 is accepted: JSON has no separate integer syntax for exponents).
double read_number(const json& spec, const std::string& key, const std::string& path,
                   const std::string& type, bool integer) {
  const std::string key_path = path + "." + key;
  const auto it = spec.find(key);
  if (it == spec.end()) {
    throw UserError(key_path + " is required for type '" + type + "'",
                    "a '" + type + "' spec needs " +
                        (type[0] == 'q' ? "low, high and q" : "low and high (q is optional)"));
  }
  if (!it->is_number()) {
    throw UserError(key_path + " must be a number, got " + show(*it) + " (" + it->type_name() +
                    ")");
  }
  const double value = it->get<double>();
  if (!std::isfinite(value)) {
    throw UserError(key_path + " must be finite, got " + show(*it));
  }
  if (integer && (std::floor(value) != value || std::fabs(value) > kMaxExactInteger)) {
    throw UserError(key_path + " must be an integer for type '" + type + "' with magnitude at " +
                    "most 2^53, got " + show(*it));
  }
  return value;
}

void check_keys(const json& spec, const std::vector<std::string>& known, const std::string& path,
                const std::string& type) {
  for (const auto& item : spec.items()) {
    if (std::find(known.begin(), known.end(), item.key()) != known.end()) continue;
    std::string hint = "type '" + type + "' takes the keys: " + join(known);
    if (item.key() == "values") hint += "; for a list of values use type 'choice' or 'grid'";
    fail_unknown("unknown key '" + item.key() + "' in " + path, item.key(), known, hint);
  }
}

void parse_range(const json& spec, const std::string& path, const std::string& type, ParamSpec& p) {
  const bool integer = is_integer_kind(p.kind);
  p.low = read_number(spec, "low", path, type, integer);
  p.high = read_number(spec, "high", path, type, integer);
  if (is_quantized(p.kind)) p.q = read_number(spec, "q", path, type, integer);

  if (!(p.low < p.high)) {
    std::string message = path + ".low (" + show(spec["low"]) + ") must be less than " + path +
                          ".high (" + show(spec["high"]) + ")";
    if (integer) message += "; " + type + " samples " + integer_range_text(p.kind);
    throw UserError(message);
  }
  if (!std::isfinite(p.high - p.low)) {
    throw UserError(path + ": the range from low to high overflows a double, got low=" +
                    show(spec["low"]) + ", high=" + show(spec["high"]));
  }
  if (is_log(p.kind) && p.low <= 0) {
    throw UserError(path + ".low must be > 0 for type '" + type + "' (it samples log(x)), got " +
                        show(spec["low"]),
                    "use type 'uniform' for a range that includes zero or negative values");
  }
  if (is_quantized(p.kind)) {
    if (p.q <= 0) {
      throw UserError(path + ".q must be > 0, got " + show(spec["q"]));
    }
    const QuantizedRange range = quantized_range(p);
    if (range.first > range.last) {
      throw UserError(path + ": no multiple of q=" + show(spec["q"]) + " lies in [" +
                      show(spec["low"]) + ", " + show(spec["high"]) + "]");
    }
    if (range.first == range.last) {
      const double only = std::clamp(multiple_of_q(range.first, p.q), p.low, p.high);
      log_warning(path + ": the only multiple of q=" + show(spec["q"]) + " in [" +
                  show(spec["low"]) + ", " + show(spec["high"]) + "] is " +
                  (integer ? json(static_cast<int64_t>(only)) : json(only)).dump() +
                  ", so every trial gets that value");
    }
  }
  if (p.kind == ParamKind::kRandInt && p.high - p.low == 1) {
    log_warning(path + ": randint draws from [low, high), high excluded, so every trial gets " +
                show(spec["low"]));
  }
}

// `values` is the array at `key_path`: spec["values"], or the whole spec in the shorthand form.
void read_values(const json& values, const std::string& key_path, ParamSpec& p) {
  if (!values.is_array()) {
    throw UserError(key_path + " must be an array, got " + show(values) + " (" +
                    values.type_name() + ")");
  }
  if (values.empty()) {
    throw UserError(key_path + " must not be empty, got []",
                    "list at least one value; a single value fixes the parameter");
  }
  p.values.assign(values.begin(), values.end());
}

void parse_values(const json& spec, const std::string& path, ParamSpec& p) {
  const auto it = spec.find("values");
  if (it == spec.end()) {
    const std::string type = kind_name(p.kind);
    throw UserError(path + ".values is required for type '" + type + "'",
                    "e.g. {\"type\": \"" + type + "\", \"values\": [32, 64, 128]}");
  }
  read_values(*it, path + ".values", p);
}

// True when a draw of `p` can equal `v` (JSON equality, as conditions compare).
bool can_take(const ParamSpec& p, const json& v) {
  switch (p.kind) {
    case ParamKind::kChoice:
    case ParamKind::kGrid:
      return std::find(p.values.begin(), p.values.end(), v) != p.values.end();
    case ParamKind::kRandInt:
      return v.is_number() && v.get<double>() == std::floor(v.get<double>()) &&
             v.get<double>() >= p.low && v.get<double>() < p.high;
    case ParamKind::kQRandInt:
    case ParamKind::kQUniform:
    case ParamKind::kQLogUniform: {
      if (!v.is_number()) return false;
      const double x = v.get<double>(), k = std::round(x / p.q);
      return x >= p.low && x <= p.high && std::fabs(k * p.q - x) <= 1e-9 * std::max(1.0, x);
    }
    case ParamKind::kUniform:
    case ParamKind::kLogUniform:
      return false;  // one exact value has probability zero
  }
  return false;
}

std::string describe_values(const ParamSpec& p) {
  if (p.kind == ParamKind::kChoice || p.kind == ParamKind::kGrid) {
    std::string out = "its values: ";
    for (size_t i = 0; i < p.values.size(); ++i)
      out += (i ? ", " : "") + show(p.values[i]);
    return out;
  }
  return "it is drawn from [" + show(p.low) + ", " + show(p.high) + "]";
}

// The kind named by spec["type"], promoted to the quantized variant when "q" is present.
ParamKind read_kind(const json& spec, const std::string& path) {
  const auto it = spec.find("type");
  const std::string types_hint = "types: " + join(kTypeNames);
  if (it == spec.end()) throw UserError(path + ".type is required", types_hint);
  if (!it->is_string()) {
    throw UserError(
        path + ".type must be a string, got " + show(*it) + " (" + it->type_name() + ")",
        types_hint);
  }
  const std::string type = it->get<std::string>();
  const auto pos = std::find_if(kAllKinds.begin(), kAllKinds.end(),
                                [&](ParamKind k) { return type == kind_name(k); });
  if (pos == kAllKinds.end()) {
    fail_unknown("unknown type '" + type + "' at " + path + ".type", type, kTypeNames, types_hint);
  }
  ParamKind kind = *pos;
  if (spec.contains("q")) {
    if (kind == ParamKind::kUniform) kind = ParamKind::kQUniform;
    if (kind == ParamKind::kLogUniform) kind = ParamKind::kQLogUniform;
    if (kind == ParamKind::kRandInt) kind = ParamKind::kQRandInt;
  }
  return kind;
}

ParamSpec parse_param(const std::string& name, const json& spec, const std::string& path) {
  ParamSpec p;
  p.name = name;

  // Ray-Tune-like shorthand: a bare array is a choice among its elements.
  if (spec.is_array()) {
    p.kind = ParamKind::kChoice;
    read_values(spec, path, p);
    return p;
  }
  if (!spec.is_object()) {
    throw UserError(path + " must be a spec object or an array of choices, got " + show(spec) +
                        " (" + spec.type_name() + ")",
                    "e.g. {\"type\": \"loguniform\", \"low\": 1e-4, \"high\": 1e-1}, or [" +
                        show(spec) + "] to fix the value");
  }

  p.kind = read_kind(spec, path);
  const std::string type = spec["type"].get<std::string>();
  const bool has_values = p.kind == ParamKind::kChoice || p.kind == ParamKind::kGrid;
  check_keys(spec, has_values ? kValuesKeys : kRangeKeys, path, type);
  if (has_values) {
    parse_values(spec, path, p);
  } else {
    parse_range(spec, path, type, p);
  }
  return p;
}

// ---- sampling

// uniform() is in [0, 1), but low + (high - low) * u can still round up to high.
double uniform_in(double low, double high, Rng& rng) {
  const double x = low + (high - low) * rng.uniform();
  return std::min(x, std::nextafter(high, low));
}

double log_uniform_in(double low, double high, Rng& rng) {
  const double x = std::exp(uniform_in(std::log(low), std::log(high), rng));
  return std::clamp(x, low, std::nextafter(high, low));
}

// round(x / q) * q, clipped to the multiples of q inside [low, high] so the result is both in
// range and on the grid of q (plain clipping to low/high would leave off-grid values).
double quantize(double x, const ParamSpec& p) {
  const QuantizedRange range = quantized_range(p);
  const double k = std::clamp(std::round(x / p.q), range.first, range.last);
  return std::clamp(multiple_of_q(k, p.q), p.low, p.high);
}

int64_t sample_int(const ParamSpec& p, Rng& rng) {
  const auto low = static_cast<int64_t>(p.low);
  const auto high = static_cast<int64_t>(p.high);
  if (p.kind == ParamKind::kRandInt) {
    return low + static_cast<int64_t>(rng.below(static_cast<uint64_t>(high - low)));
  }
  // qrandint: an integer in [low, high], rounded to the nearest multiple of q (ties upward) in
  // exact integer arithmetic, then clipped to the multiples inside the range.
  const int64_t x = low + static_cast<int64_t>(rng.below(static_cast<uint64_t>(high - low) + 1));
  const auto q = static_cast<int64_t>(p.q);
  int64_t k = floor_div(x, q);
  if (2 * (x - k * q) >= q) ++k;
  const QuantizedRange range = quantized_range(p);
  k = std::clamp(k, static_cast<int64_t>(range.first), static_cast<int64_t>(range.last));
  return k * q;
}

json sample_value(const ParamSpec& p, Rng& rng) {
  switch (p.kind) {
    case ParamKind::kUniform:
      return uniform_in(p.low, p.high, rng);
    case ParamKind::kQUniform:
      return quantize(uniform_in(p.low, p.high, rng), p);
    case ParamKind::kLogUniform:
      return log_uniform_in(p.low, p.high, rng);
    case ParamKind::kQLogUniform:
      return quantize(log_uniform_in(p.low, p.high, rng), p);
    case ParamKind::kRandInt:
    case ParamKind::kQRandInt:
      return sample_int(p, rng);
    case ParamKind::kChoice:
      return p.values[rng.below(p.values.size())];
    case ParamKind::kGrid:
      break;
  }
  throw std::logic_error("sample_value: grid parameters are not drawn at random");
}

}  // namespace

// nlohmann::json keeps object keys sorted, so "the config's key order" is alphabetical: params_
// and the grid's mixed-radix order follow the parameter names, not the order written in the
// file. Either is deterministic; alphabetical also survives reformatting of the config.
SearchSpace SearchSpace::parse(const json& j, const std::vector<std::string>& allowed,
                               const std::string& key_path) {
  SearchSpace space;
  if (!j.is_object()) {
    throw UserError(key_path + " must be an object of {parameter: spec}, got " + show(j) + " (" +
                        j.type_name() + ")",
                    "leave '" + key_path + "' out to train the base values only");
  }

  const std::string allowed_hint = allowed.empty() ? "this objective has no searchable parameters"
                                                   : "searchable parameters: " + join(allowed);
  uint64_t grid_size = 1;
  for (const auto& item : j.items()) {
    const std::string& name = item.key();
    const std::string path = key_path + "." + name;
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      fail_unknown("unknown parameter '" + path + "'", name, allowed, allowed_hint);
    }
    json spec = item.value();
    std::string when_param;
    std::vector<json> when_values;
    if (spec.is_object() && spec.contains("when")) {
      const json when = spec["when"];
      spec.erase("when");
      if (!when.is_object() || when.size() != 1) {
        throw UserError(path + ".when must be an object with one parameter, such as " +
                            "{\"optim\": \"sgd\"} or {\"optim\": [\"sgd\", \"adamw\"]}, got " +
                            show(when),
                        "a parameter can depend on one other parameter");
      }
      when_param = when.begin().key();
      const json& v = when.begin().value();
      when_values = v.is_array() ? std::vector<json>(v.begin(), v.end()) : std::vector<json>{v};
      if (when_values.empty()) throw UserError(path + ".when." + when_param + " lists no value");
    }
    ParamSpec p = parse_param(name, spec, path);
    p.when_param = when_param;
    p.when_values = when_values;
    if (!when_param.empty() && p.kind == ParamKind::kGrid) {
      throw UserError(path + ": a grid parameter cannot be conditional (grids are enumerated)",
                      "use type 'choice' for a conditional parameter");
    }
    if (p.kind == ParamKind::kGrid) {
      // Trial indices are uint64; a larger product could not be enumerated anyway.
      if (p.values.size() > std::numeric_limits<uint64_t>::max() / grid_size) {
        throw UserError(key_path + ": the grid's cartesian product exceeds 2^64 combinations at " +
                        path);
      }
      grid_size *= p.values.size();
    }
    space.params_.push_back(std::move(p));
  }
  for (const ParamSpec& p : space.params_) {
    if (p.when_param.empty()) continue;
    const auto it = std::find_if(space.params_.begin(), space.params_.end(),
                                 [&](const ParamSpec& q) { return q.name == p.when_param; });
    if (it == space.params_.end()) {
      throw UserError(key_path + "." + p.name + ".when names '" + p.when_param +
                          "', which is not in the search space",
                      "a condition refers to another searched parameter");
    }
    if (p.when_param == p.name) {
      throw UserError(key_path + "." + p.name + ".when refers to the parameter itself");
    }
    // A condition on a value its parameter never takes would silently drop this parameter.
    for (const json& v : p.when_values) {
      if (can_take(*it, v)) continue;
      std::string hint = "list values that " + p.when_param + " can take";
      if (it->kind == ParamKind::kChoice && !it->values.empty() && it->values[0].is_array()) {
        hint = "its values are lists: to match the list itself, wrap it, e.g. \"when\": {\"" +
               p.when_param + "\": [" + show(it->values[0]) + "]}";
      } else if (it->kind == ParamKind::kUniform || it->kind == ParamKind::kLogUniform) {
        hint = "a continuous parameter never takes one exact value: make " + p.when_param +
               " a choice";
      }
      throw UserError(key_path + "." + p.name + ".when: " + p.when_param + " never takes " +
                          show(v) + " (" + describe_values(*it) + ")",
                      hint);
    }
  }
  // Conditions must not loop (a when b, b when a): such parameters could never be settled.
  for (const ParamSpec& p : space.params_) {
    std::string chain = p.name;
    const ParamSpec* at = &p;
    for (size_t steps = 0; !at->when_param.empty(); ++steps) {
      chain += " -> " + at->when_param;
      if (at->when_param == p.name || steps > space.params_.size()) {
        throw UserError(key_path + "." + p.name + ".when: the conditions form a loop: " + chain,
                        "a parameter cannot depend on itself through others");
      }
      at = &*std::find_if(space.params_.begin(), space.params_.end(),
                          [&](const ParamSpec& q) { return q.name == at->when_param; });
    }
  }
  return space;
}

bool condition_holds(const ParamSpec& p, const json& values) {
  if (p.when_param.empty()) return true;
  const auto it = values.find(p.when_param);
  return it != values.end() &&
         std::find(p.when_values.begin(), p.when_values.end(), *it) != p.when_values.end();
}

void SearchSpace::drop_inactive(json& values) const {
  // Chains (a depends on b, b on c) settle in at most one pass per parameter.
  for (size_t pass = 0; pass < params_.size(); ++pass) {
    bool changed = false;
    for (const ParamSpec& p : params_) {
      if (p.when_param.empty() || !values.contains(p.name)) continue;
      if (!condition_holds(p, values)) {
        values.erase(p.name);
        changed = true;
      }
    }
    if (!changed) return;
  }
}

namespace {

// The parameter's value at quantile u in [0, 1) of its distribution (what sample_value draws).
json value_at(const ParamSpec& p, double u) {
  const double low = p.low, high = p.high;
  switch (p.kind) {
    case ParamKind::kUniform:
    case ParamKind::kQUniform: {
      const double x = std::min(low + (high - low) * u, std::nextafter(high, low));
      return p.kind == ParamKind::kQUniform ? json(quantize(x, p)) : json(x);
    }
    case ParamKind::kLogUniform:
    case ParamKind::kQLogUniform: {
      const double x = std::clamp(std::exp(std::log(low) + (std::log(high) - std::log(low)) * u),
                                  low, std::nextafter(high, low));
      return p.kind == ParamKind::kQLogUniform ? json(quantize(x, p)) : json(x);
    }
    case ParamKind::kRandInt: {
      const auto span = static_cast<int64_t>(high) - static_cast<int64_t>(low);
      return static_cast<int64_t>(low) +
             std::min(static_cast<int64_t>(u * static_cast<double>(span)), span - 1);
    }
    case ParamKind::kQRandInt: {
      const auto span = static_cast<int64_t>(high) - static_cast<int64_t>(low) + 1;
      const int64_t x = static_cast<int64_t>(low) +
                        std::min(static_cast<int64_t>(u * static_cast<double>(span)), span - 1);
      return static_cast<int64_t>(quantize(static_cast<double>(x), p));
    }
    case ParamKind::kChoice:
      return p.values[std::min(static_cast<size_t>(u * static_cast<double>(p.values.size())),
                               p.values.size() - 1)];
    case ParamKind::kGrid:
      break;
  }
  throw std::logic_error("value_at: grid parameters are enumerated");
}

// The radical inverse of `index` in `base`: the index-th Halton coordinate.
double radical_inverse(uint64_t index, uint64_t base) {
  double result = 0, scale = 1.0 / static_cast<double>(base);
  for (; index > 0; index /= base, scale /= static_cast<double>(base)) {
    result += static_cast<double>(index % base) * scale;
  }
  return result;
}

}  // namespace

json SearchSpace::sample_quasi(uint64_t seed, uint64_t index) const {
  static const uint64_t kPrimes[] = {2,  3,  5,  7,  11, 13, 17, 19, 23, 29, 31, 37, 41,
                                     43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97};
  json out = sample(seed, index);       // the grid values (and a fallback past 25 dimensions)
  Rng shifts(seed, 0x68616c746f6eull);  // "halton"
  size_t dim = 0;
  for (const auto& p : params_) {
    if (p.kind == ParamKind::kGrid) continue;
    const double shift = shifts.uniform();
    if (dim >= sizeof kPrimes / sizeof kPrimes[0]) break;
    const double u = std::fmod(radical_inverse(index + 1, kPrimes[dim++]) + shift, 1.0);
    out[p.name] = value_at(p, u);
  }
  drop_inactive(out);  // the loop above set the conditional parameters again
  return out;
}

json SearchSpace::sample(uint64_t seed, uint64_t index) const {
  json out = json::object();

  // Mixed radix over the grid parameters, last one varying fastest.
  uint64_t combination = index % grid_size();
  for (auto it = params_.rbegin(); it != params_.rend(); ++it) {
    if (it->kind != ParamKind::kGrid) continue;
    out[it->name] = it->values[combination % it->values.size()];
    combination /= it->values.size();
  }

  // Draw order is params_ order, so a trial's values depend on (seed, index) and the set of
  // parameters alone. Adding or removing a random parameter changes the others' draws.
  Rng rng(seed, index);
  for (const auto& p : params_) {
    if (p.kind != ParamKind::kGrid) out[p.name] = sample_value(p, rng);
  }
  drop_inactive(out);
  return out;
}

uint64_t SearchSpace::grid_size() const {
  uint64_t size = 1;
  for (const auto& p : params_) {
    if (p.kind == ParamKind::kGrid) size *= p.values.size();
  }
  return size;
}

bool in_domain(const ParamSpec& p, const json& v) {
  if (p.kind == ParamKind::kUniform || p.kind == ParamKind::kLogUniform) {
    return v.is_number() && v.get<double>() >= p.low && v.get<double>() <= p.high;
  }
  return can_take(p, v);
}

std::string describe_domain(const ParamSpec& p) {
  return describe_values(p);
}

}  // namespace cusweep
