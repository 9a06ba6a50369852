// Sweep config parsing and validation. Every key is checked against a known list; errors name
// the key path, the bad value and what is allowed (STYLE.md habit 7).
#include "cusweep/config.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "cusweep/error.h"
#include "cusweep/log.h"
#include "json_util.h"

namespace cusweep {
namespace {

using nlohmann::json;

const std::vector<std::string> kTopLevelKeys = {"name",
                                                "data",
                                                "model",
                                                "training",
                                                "metrics",
                                                "average",
                                                "objective",
                                                "direction",
                                                "objective_scope",
                                                "search_space",
                                                "sampler",
                                                "scheduler",
                                                "benchmark_function",
                                                "n_trials",
                                                "max_concurrent_trials",
                                                "seed",
                                                "backend",
                                                "fused_trials",
                                                "report_interval_s",
                                                "checkpoint_every",
                                                "$schema",
                                                "description"};

const std::vector<std::string> kMetricNames = {"accuracy", "f1", "precision", "recall"};

double positive(const json& v, const std::string& key) {
  const double x = json_number(v, key);
  if (!(x > 0)) throw UserError(fmt::format("{} must be > 0, got {}", key, json_excerpt(v)));
  return x;
}

double in_range(const json& v, const std::string& key, double lo, double hi, bool hi_open) {
  const double x = json_number(v, key);
  if (!(x >= lo) || (hi_open ? !(x < hi) : !(x <= hi))) {
    throw UserError(fmt::format("{} must be in [{}, {}{}, got {}", key, lo, hi, hi_open ? ")" : "]",
                                json_excerpt(v)));
  }
  return x;
}

int positive_int(const json& v, const std::string& key, int max = 1 << 30) {
  return static_cast<int>(json_int_in(v, key, 1, max));
}

std::string one_of(const json& v, const std::string& key, const std::vector<std::string>& allowed) {
  return json_one_of(v, key, allowed);
}

constexpr int kMaxHiddenLayers = 64;
constexpr int kMaxLayerWidth = 65536;
constexpr int kMaxSearchedLayer = 8;  // hidden_size_1 .. hidden_size_8

// k for "hidden_size_<k>" (1 <= k <= kMaxSearchedLayer), else 0.
int layer_size_index(const std::string& name) {
  const std::string prefix = "hidden_size_";
  if (name.size() != prefix.size() + 1 || name.compare(0, prefix.size(), prefix) != 0) return 0;
  const char d = name.back();
  return d >= '1' && d <= '0' + kMaxSearchedLayer ? d - '0' : 0;
}

void apply_model_key(TrialParams& p, const std::string& name, const json& v,
                     const std::string& key) {
  if (name == "architecture") {
    p.architecture = one_of(v, key, {"mlp", "softmax_regression"});
  } else if (name == "hidden_sizes") {
    if (!v.is_array()) {
      throw UserError(fmt::format("{} must be a list of layer widths such as [256, 128], got {}",
                                  key, json_excerpt(v)));
    }
    if (v.empty()) {
      throw UserError(fmt::format("{} is empty: an mlp needs at least one hidden layer", key),
                      "use \"architecture\": \"softmax_regression\" for a model without one");
    }
    p.hidden_sizes.clear();
    for (size_t i = 0; i < v.size(); ++i) {
      p.hidden_sizes.push_back(positive_int(v[i], fmt::format("{}[{}]", key, i), kMaxLayerWidth));
    }
  } else if (name == "activation") {
    const std::string a = one_of(v, key, {"relu", "tanh", "gelu"});
    p.activation = a == "relu"   ? ActivationKind::kRelu
                   : a == "tanh" ? ActivationKind::kTanh
                                 : ActivationKind::kGelu;
  } else if (name == "num_hidden_layers") {
    positive_int(v, key, kMaxHiddenLayers);  // applied by LayerPlan, after hidden_sizes
  } else if (layer_size_index(name) > 0) {
    positive_int(v, key, kMaxLayerWidth);
  }
}

// num_hidden_layers and hidden_size_<k> reshape hidden_sizes once every source has been read,
// so that a layer count searched together with per-layer widths gives the same model whatever
// the order of the keys: first the count (new layers copy the last width), then the widths.
class LayerPlan {
 public:
  void take(const json& values, const std::string& origin) {
    for (const auto& [name, v] : values.items()) {
      if (name == "num_hidden_layers") {
        count_ = static_cast<size_t>(v.get<int64_t>());
        count_key_ = origin + "." + name;
      } else if (const int k = layer_size_index(name); k > 0) {
        widths_[k] = {v.get<int>(), origin + "." + name};
      }
    }
  }

  void apply(TrialParams& p) const {
    if (count_ > 0) p.hidden_sizes.resize(count_, p.hidden_sizes.back());
    for (const auto& [k, width] : widths_) {
      if (static_cast<size_t>(k) > p.hidden_sizes.size()) {
        throw UserError(
            fmt::format("{} sets hidden layer {}, but the model has {} hidden layer{}{}",
                        width.second, k, p.hidden_sizes.size(),
                        p.hidden_sizes.size() == 1 ? "" : "s",
                        count_key_.empty() ? "" : " (" + count_key_ + ")"),
            fmt::format("search hidden_size_{} only when there are enough layers: \"when\": "
                        "{{\"num_hidden_layers\": [{}, ...]}}",
                        k, k));
      }
      p.hidden_sizes[static_cast<size_t>(k - 1)] = width.first;
    }
  }

 private:
  size_t count_ = 0;
  std::string count_key_;
  std::map<int, std::pair<int, std::string>> widths_;  // layer (1-based) -> width, key
};

void apply_training_key(TrialParams& p, const std::string& name, const json& v,
                        const std::string& key) {
  if (name == "learning_rate") {
    p.learning_rate = positive(v, key);
  } else if (name == "per_device_train_batch_size") {
    p.per_device_train_batch_size = positive_int(v, key, 1 << 20);
  } else if (name == "per_device_eval_batch_size") {
    p.per_device_eval_batch_size = positive_int(v, key, 1 << 20);
  } else if (name == "num_train_epochs") {
    p.num_train_epochs = positive_int(v, key, 100000);
  } else if (name == "weight_decay") {
    p.weight_decay = in_range(v, key, 0, 1e3, false);
  } else if (name == "warmup_ratio") {
    p.warmup_ratio = in_range(v, key, 0, 1, false);
  } else if (name == "lr_scheduler_type") {
    p.lr_scheduler_type = one_of(v, key, {"linear", "constant", "constant_with_warmup", "cosine"});
  } else if (name == "optim") {
    // HF's names for the same optimizers are accepted too.
    const std::string o = one_of(v, key, {"adamw", "adamw_torch", "adamw_hf", "sgd"});
    p.optim = o == "sgd" ? "sgd" : "adamw";
  } else if (name == "momentum") {
    p.momentum = in_range(v, key, 0, 1, true);
  } else if (name == "max_grad_norm") {
    p.max_grad_norm = in_range(v, key, 0, 1e6, false);
  } else if (name == "adam_beta1") {
    p.adam_beta1 = in_range(v, key, 0, 1, true);
  } else if (name == "adam_beta2") {
    p.adam_beta2 = in_range(v, key, 0, 1, true);
  } else if (name == "adam_epsilon") {
    p.adam_epsilon = positive(v, key);
  } else if (name == "seed") {
    p.seed = static_cast<uint64_t>(json_int_in(v, key, 0, INT64_MAX));
  }
}

bool contains(const std::vector<std::string>& list, const std::string& s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

void apply_key(TrialParams& p, const std::string& name, const json& v, const std::string& key) {
  if (contains(model_keys(), name)) {
    apply_model_key(p, name, v, key);
  } else {
    apply_training_key(p, name, v, key);
  }
}

bool is_integer_field(const std::string& name) {
  return name == "per_device_train_batch_size" || name == "per_device_eval_batch_size" ||
         name == "num_train_epochs" || name == "seed" || name == "num_hidden_layers" ||
         layer_size_index(name) > 0;
}

// Checks that every value the search space can produce is a valid value of its field: both
// bounds of a range, every listed choice, and that integer fields get integer draws.
void validate_search_space(const SearchSpace& space) {
  for (const ParamSpec& spec : space.params()) {
    const std::string key = "search_space." + spec.name;
    TrialParams scratch;
    if (spec.kind == ParamKind::kChoice || spec.kind == ParamKind::kGrid) {
      for (size_t i = 0; i < spec.values.size(); ++i) {
        apply_key(scratch, spec.name, spec.values[i], fmt::format("{}.values[{}]", key, i));
      }
      continue;
    }
    const bool integer = spec.kind == ParamKind::kRandInt || spec.kind == ParamKind::kQRandInt;
    const bool whole_steps =
        (spec.kind == ParamKind::kQUniform || spec.kind == ParamKind::kQLogUniform) &&
        spec.q == std::floor(spec.q) && spec.low == std::floor(spec.low);
    if (is_integer_field(spec.name) && !integer && !whole_steps) {
      throw UserError(fmt::format("{} takes integers, but a {} draw gives fractions", key,
                                  spec.kind == ParamKind::kLogUniform ? "loguniform" : "uniform"),
                      "use randint, qrandint, or a choice of values");
    }
    const json low = integer ? json(static_cast<int64_t>(spec.low)) : json(spec.low);
    // randint's high is exclusive (the largest draw is high - 1); qrandint's is inclusive.
    const int64_t high_int = static_cast<int64_t>(spec.high) - (spec.kind == ParamKind::kRandInt);
    const json high = integer ? json(high_int) : json(spec.high);
    apply_key(scratch, spec.name, low, key + ".low");
    apply_key(
        scratch, spec.name, high,
        key + (spec.kind == ParamKind::kRandInt ? ".high - 1 (randint's largest draw)" : ".high"));
  }
}

// The hidden-layer counts a trial can have: the searched num_hidden_layers' values, else the
// searched hidden_sizes' lengths, else the base model's.
std::vector<int64_t> possible_layer_counts(const SearchSpace& space, const json& model) {
  std::vector<int64_t> counts;
  for (const ParamSpec& spec : space.params()) {
    if (spec.name == "num_hidden_layers") {
      counts.clear();
      if (spec.kind == ParamKind::kChoice || spec.kind == ParamKind::kGrid) {
        for (const json& v : spec.values)
          counts.push_back(v.get<int64_t>());
      } else {
        const double step = spec.q > 0 ? spec.q : 1;
        const double high = spec.kind == ParamKind::kRandInt ? spec.high - 1 : spec.high;
        for (double n = spec.low; n <= high; n += step)
          counts.push_back(static_cast<int64_t>(n));
      }
      return counts;
    }
    if (spec.name == "hidden_sizes" && spec.kind != ParamKind::kGrid) {
      for (const json& v : spec.values)
        counts.push_back(static_cast<int64_t>(v.size()));
    }
  }
  if (counts.empty()) {
    counts.push_back(static_cast<int64_t>(
        make_trial_params(model, json::object(), json::object()).hidden_sizes.size()));
  }
  return counts;
}

// Every hidden_size_<k> the search space sets must find k layers in every trial it is active
// in, so a trial never fails for it; say which "when" would make it so.
void check_layer_sizes(const SearchSpace& space, const json& model) {
  const std::vector<int64_t> counts = possible_layer_counts(space, model);
  for (const auto& [name, v] : model.items()) {
    const int k = layer_size_index(name);
    const int64_t fewest = *std::min_element(counts.begin(), counts.end());
    if (k > 0 && fewest < k) {
      throw UserError(fmt::format("model.{} sets hidden layer {}, but trials can have {} hidden "
                                  "layer{}",
                                  name, k, fewest, fewest == 1 ? "" : "s"),
                      fmt::format("search {} instead, with \"when\": {{\"num_hidden_layers\": "
                                  "[{}, ...]}}",
                                  name, k));
    }
  }
  const bool searches_count =
      std::any_of(space.params().begin(), space.params().end(),
                  [](const ParamSpec& p) { return p.name == "num_hidden_layers"; });
  for (const ParamSpec& spec : space.params()) {
    const int k = layer_size_index(spec.name);
    if (k == 0) continue;
    // The layer counts of the trials this width is active in: a condition on the count, or on
    // the hidden_sizes list that gives it, narrows them.
    std::vector<int64_t> active = counts;
    if (spec.when_param == "num_hidden_layers") {
      active.clear();
      for (const json& w : spec.when_values) {
        if (w.is_number()) active.push_back(static_cast<int64_t>(w.get<double>()));
      }
    } else if (spec.when_param == "hidden_sizes" && !searches_count) {
      active.clear();
      for (const json& w : spec.when_values)
        active.push_back(static_cast<int64_t>(w.size()));
    }
    for (int64_t n : active) {
      if (n >= k) continue;
      throw UserError(
          fmt::format("search_space.{} sets hidden layer {}, but trials can have {} hidden "
                      "layer{}",
                      spec.name, k, n, n == 1 ? "" : "s"),
          fmt::format("add \"when\": {{\"num_hidden_layers\": [{}, ...]}} to search_space.{}", k,
                      spec.name));
    }
  }
}

// Grid parameters cycle through their combinations: say when n_trials leaves some out or
// repeats them, which is rarely what was meant; and when nothing is searched at all.
void warn_about_grid(const SearchSpace& space, int n_trials) {
  if (space.params().empty()) {
    if (n_trials > 1) {
      log_warning(
          fmt::format("search_space is empty: the {} trials train the same values", n_trials));
    }
    return;
  }
  const uint64_t size = space.grid_size();
  if (size <= 1) return;
  const bool all_grid = std::all_of(space.params().begin(), space.params().end(),
                                    [](const ParamSpec& p) { return p.kind == ParamKind::kGrid; });
  if (static_cast<uint64_t>(n_trials) < size) {
    log_warning(fmt::format("n_trials {} runs only {} of the {} grid combinations", n_trials,
                            n_trials, size));
  } else if (all_grid && static_cast<uint64_t>(n_trials) > size) {
    log_warning(
        fmt::format("n_trials {} repeats the {} grid combinations, and with nothing drawn "
                    "at random the repeats train identical trials",
                    n_trials, size));
  } else if (static_cast<uint64_t>(n_trials) % size != 0) {
    log_warning(
        fmt::format("n_trials {} is not a multiple of the {} grid combinations: some "
                    "combinations run more often than others",
                    n_trials, size));
  }
}

// Evaluates the objective on the metric keys the sweep will produce, so that a metric that is
// never computed or an uninferable direction is reported now, with the config's name on it.
void check_objective(const SweepConfig& c, const json& metric_keys) {
  try {
    evaluate_objective(c.objective, metric_keys);
  } catch (const UserError& e) {
    std::string hint = e.hint();
    for (const char* m : {"accuracy", "f1", "precision", "recall"}) {
      const std::string wanted = std::string("eval_") + m;
      const std::string text = e.what();
      if (text.find("'" + wanted + "'") != std::string::npos && !metric_keys.contains(wanted)) {
        hint = fmt::format("add \"{}\" to \"metrics\" to have {} computed", m, wanted);
      }
    }
    // A function of several objectives (zdt1) left with the default objective, their sum.
    const std::vector<std::string> outputs =
        c.benchmark.active() ? benchmark_outputs(c.benchmark.function) : std::vector<std::string>{};
    if (outputs.size() > 1 && c.objective.objectives.size() == 1) {
      std::string names, directions;
      for (const std::string& o : outputs) {
        names += fmt::format("{}\"{}\"", names.empty() ? "" : ", ", o);
        directions += fmt::format("{}\"minimize\"", directions.empty() ? "" : ", ");
      }
      hint = fmt::format("{} has {} objectives: give \"objective\": [{}] and \"direction\": [{}]",
                         c.benchmark.function, outputs.size(), names, directions);
    }
    throw UserError(std::string("objective: ") + e.what(), hint);
  }
}

std::vector<std::string> parse_metrics(const json& v) {
  std::vector<std::string> out;
  if (!v.is_array()) {
    throw UserError(fmt::format("metrics must be a list such as [\"accuracy\", \"f1\"], got {}",
                                json_excerpt(v)));
  }
  for (size_t i = 0; i < v.size(); ++i) {
    std::string m = json_string(v[i], fmt::format("metrics[{}]", i));
    if (m.rfind("eval_", 0) == 0) m = m.substr(5);
    if (!contains(kMetricNames, m)) {
      throw UserError(fmt::format("metrics[{}]: unknown metric {}; allowed: {}.{}", i,
                                  json_excerpt(v[i]), join_quoted(kMetricNames),
                                  did_you_mean(m, kMetricNames)));
    }
    if (!contains(out, m)) out.push_back(m);
  }
  return out;
}

json checked_object(const json& j, const char* key, const std::vector<std::string>& allowed) {
  if (!j.contains(key)) return json::object();
  const json& obj = j[key];
  if (!obj.is_object()) {
    throw UserError(fmt::format("{} must be an object, got {}", key, json_excerpt(obj)),
                    fmt::format("leave '{}' out for its defaults", key));
  }
  check_known_keys(obj, allowed, key);
  return obj;
}

// Names become folder names and trial-name prefixes: letters, digits, '_', '-', '.', not
// starting with '.' (".." would write results outside runs/).
void check_sweep_name(const std::string& name, bool given) {
  bool ok = !name.empty() && name.size() <= 100 && name[0] != '.';
  for (unsigned char ch : name) {
    ok = ok && (std::isalnum(ch) || ch == '_' || ch == '-' || ch == '.');
  }
  if (ok) return;
  const std::string rule =
      "use letters, digits, '_', '-' and '.', at most 100 characters, not starting with '.'";
  if (given)
    throw UserError(fmt::format("name {} is not a valid sweep name", json_excerpt(name)), rule);
  throw UserError(fmt::format("the config has no 'name' and its file name gives {}, which is not a "
                              "valid sweep name",
                              json_excerpt(name)),
                  "set \"name\" in the config: " + rule);
}

std::string directory_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

std::string stem_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  const size_t dot = base.find_last_of('.');
  return dot == std::string::npos ? base : base.substr(0, dot);
}

}  // namespace

const std::vector<std::string>& model_keys() {
  static const std::vector<std::string> keys = {
      "architecture",  "hidden_sizes",  "activation",    "num_hidden_layers",
      "hidden_size_1", "hidden_size_2", "hidden_size_3", "hidden_size_4",
      "hidden_size_5", "hidden_size_6", "hidden_size_7", "hidden_size_8"};
  return keys;
}

const std::vector<std::string>& training_keys() {
  static const std::vector<std::string> keys = {"learning_rate",
                                                "per_device_train_batch_size",
                                                "per_device_eval_batch_size",
                                                "num_train_epochs",
                                                "weight_decay",
                                                "warmup_ratio",
                                                "lr_scheduler_type",
                                                "optim",
                                                "momentum",
                                                "max_grad_norm",
                                                "adam_beta1",
                                                "adam_beta2",
                                                "adam_epsilon",
                                                "seed"};
  return keys;
}

json TrialParams::to_json() const {
  static const char* kActivationNames[] = {"relu", "tanh", "gelu"};
  json j{{"architecture", architecture},
         {"learning_rate", learning_rate},
         {"per_device_train_batch_size", per_device_train_batch_size},
         {"per_device_eval_batch_size", per_device_eval_batch_size},
         {"num_train_epochs", num_train_epochs},
         {"weight_decay", weight_decay},
         {"warmup_ratio", warmup_ratio},
         {"lr_scheduler_type", lr_scheduler_type},
         {"optim", optim},
         {"momentum", momentum},
         {"max_grad_norm", max_grad_norm},
         {"adam_beta1", adam_beta1},
         {"adam_beta2", adam_beta2},
         {"adam_epsilon", adam_epsilon},
         {"seed", seed}};
  // Softmax regression has no hidden layer: the MLP's fields would only mislead.
  if (architecture == "mlp") {
    j["hidden_sizes"] = hidden_sizes;
    j["activation"] = kActivationNames[static_cast<int>(activation)];
  }
  return j;
}

TrialParams make_trial_params(const json& model, const json& training, const json& searched) {
  TrialParams p;
  for (const auto& [name, v] : model.items())
    apply_model_key(p, name, v, "model." + name);
  for (const auto& [name, v] : training.items()) {
    apply_training_key(p, name, v, "training." + name);
  }
  for (const auto& [name, v] : searched.items())
    apply_key(p, name, v, "search_space." + name);
  LayerPlan layers;
  layers.take(model, "model");
  layers.take(searched, "search_space");
  layers.apply(p);
  return p;
}

int SweepConfig::max_epochs() const {
  int epochs = make_trial_params(model, training, json::object()).num_train_epochs;
  for (const ParamSpec& p : search_space.params()) {
    if (p.name != "num_train_epochs") continue;
    if (p.kind == ParamKind::kChoice || p.kind == ParamKind::kGrid) {
      epochs = 0;
      for (const json& v : p.values)
        epochs = std::max(epochs, static_cast<int>(v.get<double>()));
    } else {
      epochs = static_cast<int>(p.kind == ParamKind::kRandInt ? p.high - 1 : p.high);
    }
  }
  return epochs;
}

json SweepConfig::metric_template() const {
  if (benchmark.active()) {
    json keys = {{"epoch", 1}};
    for (const std::string& name : benchmark_outputs(benchmark.function))
      keys[name] = 0.5;
    return keys;
  }
  json keys = {{"eval_loss", 0.5},
               {"eval_runtime", 1.0},
               {"eval_samples_per_second", 1.0},
               {"eval_steps_per_second", 1.0},
               {"epoch", 1}};
  for (const std::string& m : metrics)
    keys["eval_" + m] = 0.5;
  return keys;
}

TrialParams SweepConfig::trial_params(uint64_t index, json* searched_out) const {
  json searched = search_space.sample(seed, index);
  TrialParams p = make_trial_params(model, training, searched);
  if (searched_out != nullptr) *searched_out = std::move(searched);
  return p;
}

const char* objective_scope_name(ObjectiveScope scope) {
  return scope == ObjectiveScope::kLast ? "last" : "best";
}

SweepConfig parse_sweep_config(const json& j, const std::string& path,
                               const std::string& base_dir) {
  if (!j.is_object()) {
    throw UserError(fmt::format("the config must be a JSON object, got {}", json_type_name(j)));
  }
  for (const auto& item : j.items()) {  // a model or training setting one level too high
    const bool model = contains(model_keys(), item.key());
    if (contains(kTopLevelKeys, item.key()) || !(model || contains(training_keys(), item.key())))
      continue;
    const char* section = model ? "model" : "training";
    throw UserError(
        fmt::format("unknown key '{}': it is a setting of \"{}\"", item.key(), section),
        fmt::format("move it into \"{}\": {{\"{}\": ...}}, or into \"search_space\" to search it",
                    section, item.key()));
  }
  check_known_keys(j, kTopLevelKeys, "");
  // null is not "left out": a config written by a program with a value missing should not
  // silently run the default.
  for (const auto& [key, value] : j.items()) {
    if (value.is_null()) {
      throw UserError(fmt::format("{} is null", key),
                      fmt::format("give a value, or leave '{}' out for its default", key));
    }
  }

  SweepConfig c;
  c.path = path;
  c.base_dir = base_dir;
  c.source = j;
  c.name = j.contains("name") ? json_string(j["name"], "name") : stem_of(path);
  check_sweep_name(c.name, j.contains("name"));
  if (j.contains("description")) json_string(j["description"], "description");
  if (j.contains("benchmark_function")) {
    c.benchmark = parse_benchmark_function(j["benchmark_function"]);
    for (const char* key : {"data", "model", "training", "metrics", "average", "fused_trials"}) {
      if (j.contains(key)) {
        throw UserError(fmt::format("'{}' is not used with benchmark_function: its trials "
                                    "evaluate {} instead of training a model",
                                    key, c.benchmark.function),
                        fmt::format("remove '{}'", key));
      }
    }
    c.training = {{"num_train_epochs", c.benchmark.epochs}};
  } else {
    if (!j.contains("data")) {
      throw UserError("missing key 'data'", "see examples/fashion_mnist.json for a data section");
    }
    c.data = parse_data_config(j["data"], base_dir, "data");
    c.model = checked_object(j, "model", model_keys());
    c.training = checked_object(j, "training", training_keys());
  }
  make_trial_params(c.model, c.training, json::object());  // validates the base values

  if (j.contains("metrics")) c.metrics = parse_metrics(j["metrics"]);
  if (j.contains("average"))
    c.average = parse_average(json_string(j["average"], "average"), "average");

  const json* objective = j.contains("objective") ? &j["objective"] : nullptr;
  const json* direction = j.contains("direction") ? &j["direction"] : nullptr;
  c.objective = parse_objective_json(objective, direction, "");

  if (j.contains("objective_scope")) {
    const std::string s = one_of(j["objective_scope"], "objective_scope", {"last", "best"});
    c.objective_scope = s == "last" ? ObjectiveScope::kLast : ObjectiveScope::kBest;
  }
  if (c.objective_scope == ObjectiveScope::kBest && c.objective.objectives.size() > 1) {
    throw UserError(
        "objective_scope \"best\" needs a single objective: with several there is no "
        "one best evaluation per trial",
        "use \"last\" (the default) for Pareto sweeps");
  }

  std::vector<std::string> searchable = model_keys();
  searchable.insert(searchable.end(), training_keys().begin(), training_keys().end());
  if (c.benchmark.active()) searchable = benchmark_variables(c.benchmark.function);
  c.search_space = SearchSpace::parse(
      j.contains("search_space") ? j["search_space"] : json::object(), searchable, "search_space");
  if (c.benchmark.active()) {
    // Each variable stays in its function's domain (ZDT1 outside [0, 1] is not even defined).
    const std::vector<std::string> names = benchmark_variables(c.benchmark.function);
    for (const ParamSpec& p : c.search_space.params()) {
      const size_t at =
          static_cast<size_t>(std::find(names.begin(), names.end(), p.name) - names.begin());
      const auto [low, high] = benchmark_domain(c.benchmark.function, at);
      const auto check = [&, low = low, high = high](double v, const std::string& key) {
        if (!(v >= low && v <= high)) {
          throw UserError(fmt::format("{} = {} is outside {}'s domain of {}: [{}, {}]", key, v,
                                      c.benchmark.function, p.name, low, high),
                          "search the function where it is defined");
        }
      };
      if (p.kind == ParamKind::kChoice || p.kind == ParamKind::kGrid) {
        for (size_t i = 0; i < p.values.size(); ++i) {
          const std::string key = fmt::format("search_space.{}.values[{}]", p.name, i);
          check(json_number(p.values[i], key), key);
        }
      } else {
        check(p.low, fmt::format("search_space.{}.low", p.name));
        check(p.high, fmt::format("search_space.{}.high", p.name));
      }
    }
    // A variable left out of the search space sits at the middle of its domain: say so, since
    // the function's known minimum may then be out of reach.
    std::string fixed;
    int n_fixed = 0;
    const auto& params = c.search_space.params();
    for (size_t at = 0; at < names.size(); ++at) {
      if (std::any_of(params.begin(), params.end(),
                      [&](const ParamSpec& p) { return p.name == names[at]; })) {
        continue;
      }
      const auto [low, high] = benchmark_domain(c.benchmark.function, at);
      fixed += fmt::format("{}{} = {}", n_fixed++ == 0 ? "" : ", ", names[at], 0.5 * (low + high));
    }
    if (n_fixed > 0) {
      log_warning(fmt::format("search_space leaves {} of {} at the middle of {}: {}",
                              n_fixed == 1 ? "a variable" : "variables", c.benchmark.function,
                              n_fixed == 1 ? "its domain" : "their domains", fixed));
    }
  } else {
    validate_search_space(c.search_space);
    check_layer_sizes(c.search_space, c.model);
  }
  check_objective(c, c.metric_template());

  c.scheduler = parse_scheduler_config(j.contains("scheduler") ? j["scheduler"] : json(),
                                       c.max_epochs(), c.objective.objectives.size());
  c.sampler = parse_sampler_config(j.contains("sampler") ? j["sampler"] : json());
  // Every trial of the sweep is held from the start (about 4.6 KB each before it runs), and its
  // row written on every stop: at 1,000,000, 4.6 GB and a 650 MB trials.jsonl of PENDING rows.
  if (j.contains("n_trials")) c.n_trials = positive_int(j["n_trials"], "n_trials", 100000);
  warn_about_grid(c.search_space, c.n_trials);
  if (j.contains("max_concurrent_trials")) {
    c.max_concurrent_trials =
        positive_int(j["max_concurrent_trials"], "max_concurrent_trials", 4096);
  }
  if (j.contains("seed")) {
    c.seed = static_cast<uint64_t>(json_int_in(j["seed"], "seed", 0, INT64_MAX));
  }
  if (j.contains("fused_trials") &&
      !(j["fused_trials"].is_string() && j["fused_trials"].get<std::string>() == "auto")) {
    c.fused_trials = positive_int(j["fused_trials"], "fused_trials (\"auto\" or a count)", 64);
  }
  if (j.contains("backend")) c.backend = one_of(j["backend"], "backend", {"auto", "cpu", "cuda"});
  if (j.contains("checkpoint_every")) {
    c.checkpoint_every = static_cast<int>(
        json_int_in(j["checkpoint_every"], "checkpoint_every (epochs; 0 = off)", 0, 100000));
  }
  if (j.contains("report_interval_s")) {
    c.report_interval_s = in_range(j["report_interval_s"], "report_interval_s", 0.1, 86400, false);
  }
  return c;
}

SweepConfig load_sweep_config(const std::string& path) {
  const json j = read_json_file(path);
  try {
    return parse_sweep_config(j, path, directory_of(path));
  } catch (const UserError& e) {
    throw UserError(path + ": " + e.what(), e.hint());  // every message names the file
  }
}

}  // namespace cusweep
