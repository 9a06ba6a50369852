// The objective: HF's default rule (extended to drop time/memory keys), weighted sums of
// metrics, direction inference with contradiction warnings, spec parsing and Pareto fronts.
#include "cusweep/objective.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <stdexcept>

#include "cusweep/error.h"

namespace cusweep {
namespace {

using nlohmann::json;

const char* const kObjectiveHint =
    "an objective is 'default', a metric ('eval_accuracy'), a weighted sum "
    "('eval_accuracy+0.5*eval_f1', '-eval_loss') or several separated by ',' ('eval_f1,eval_loss')";
const char* const kDirectionHint =
    "set the direction: \"direction\": \"maximize\" or \"minimize\" in the config, "
    "--direction on the command line (one per objective, comma-separated)";

// ---- Small string helpers.

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.size() >= prefix.size() && s.compare(0, prefix.size(), prefix) == 0;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

std::string to_lower(std::string s) {
  for (char& c : s)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string trim(const std::string& s) {
  size_t begin = 0, end = s.size();
  while (begin < end && std::isspace(static_cast<unsigned char>(s[begin])))
    ++begin;
  while (end > begin && std::isspace(static_cast<unsigned char>(s[end - 1])))
    --end;
  return s.substr(begin, end - begin);
}

std::vector<std::string> split(const std::string& s, char separator) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream stream(s);
  while (std::getline(stream, part, separator))
    parts.push_back(part);
  if (!s.empty() && s.back() == separator) parts.emplace_back();  // getline drops a last ""
  return parts;
}

// "a", "a and b", "a, b and c".
std::string join_and(const std::vector<std::string>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += i + 1 == items.size() ? " and " : ", ";
    out += items[i];
  }
  return out;
}

std::string join(const std::vector<std::string>& items, const std::string& separator) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i)
    out += (i > 0 ? separator : "") + items[i];
  return out;
}

std::string plural(size_t n, const std::string& noun) {
  return std::to_string(n) + " " + noun + (n == 1 ? "" : "s");
}

// 15 significant digits: summing float32 metrics leaves noise in the last bits of a double
// (0.9 + 0.8 = 1.7000000000000002) that says nothing about the model.
std::string format_number(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.15g", v);
  return buffer;
}

// Text explanations are read, not parsed: 6 significant digits are plenty.
std::string format_short(double v) {
  if (!std::isfinite(v)) return format_number(v);
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.6g", v);
  return buffer;
}

double display_value(double v) {
  return std::isfinite(v) ? std::strtod(format_number(v).c_str(), nullptr) : v;
}

const char* json_type_name(const json& v) {
  if (v.is_boolean()) return "a boolean";
  if (v.is_null()) return "null";
  if (v.is_string()) return "a string";
  if (v.is_array()) return "a list";
  if (v.is_object()) return "an object";
  return "a number";
}

std::vector<std::string> keys_of(const json& object) {
  std::vector<std::string> keys;
  for (auto it = object.begin(); it != object.end(); ++it)
    keys.push_back(it.key());
  return keys;
}

// Keys of HF's metric dicts that carry no split prefix: training progress and cost. They are
// used as written; "eval_epoch" is in no dict.
bool is_unprefixed_key(const std::string& name) {
  for (const char* key : {"epoch", "step", "global_step", "total_flos"}) {
    if (name == key) return true;
  }
  return false;
}

// HF logs evaluation metrics as eval_<name>; a bare name means the evaluation metric.
std::string normalize_metric(const std::string& name) {
  if (starts_with(name, "eval_") || starts_with(name, "test_") || starts_with(name, "train_") ||
      is_unprefixed_key(name)) {
    return name;
  }
  return "eval_" + name;
}

// The key of `metrics` a term names: `metric` itself, or, when it is missing, the name without
// the eval_ prefix that normalize_metric may have added ("eval_samples" -> "samples").
// `taken` holds the keys other terms already use, which a fallback must not repeat.
std::string resolve_metric(const json& metrics, const std::string& metric,
                           const std::vector<ObjectiveTerm>& taken) {
  if (metrics.contains(metric) || !starts_with(metric, "eval_")) return metric;
  const std::string bare = metric.substr(std::string("eval_").size());
  if (!metrics.contains(bare)) return metric;
  for (const auto& t : taken) {
    if (t.metric == bare) return metric;
  }
  return bare;
}

// "eval_accuracy + 0.5*eval_f1 - eval_loss"; `always_weight` writes "1*" too.
std::string formula(const std::vector<ObjectiveTerm>& terms, bool always_weight,
                    const json* metrics = nullptr) {
  std::string out;
  for (size_t i = 0; i < terms.size(); ++i) {
    const ObjectiveTerm& t = terms[i];
    const bool negative = t.weight < 0;
    if (i == 0) {
      out += negative ? "-" : "";
    } else {
      out += negative ? " - " : " + ";
    }
    const double magnitude = std::fabs(t.weight);
    if (always_weight || magnitude != 1.0) out += format_number(magnitude) + "*";
    out += t.metric;
    if (metrics != nullptr) {
      const auto it = metrics->find(t.metric);
      const bool have = it != metrics->end() && it->is_number();
      out += " (" + (have ? format_short(it->get<double>()) : std::string("missing")) + ")";
    }
  }
  return out;
}

// ---- Metric names and their directions.

// Splits "eval_roc_auc@10" into {"roc", "auc", "10"}: short abbreviations (f1, map, wer) are
// matched as whole words so that "answer" is not read as WER.
std::vector<std::string> name_words(const std::string& name) {
  std::vector<std::string> words;
  std::string word;
  for (char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c))) {
      word += c;
    } else if (!word.empty()) {
      words.push_back(word);
      word.clear();
    }
  }
  if (!word.empty()) words.push_back(word);
  return words;
}

// A word equal to `abbreviation`, or followed only by digits ("rouge1", "map10", "bleu4").
bool has_word(const std::vector<std::string>& words, const char* abbreviation) {
  const std::string a = abbreviation;
  for (const auto& w : words) {
    if (!starts_with(w, a)) continue;
    bool digits = true;
    for (size_t i = a.size(); i < w.size(); ++i) {
      digits = digits && std::isdigit(static_cast<unsigned char>(w[i]));
    }
    if (digits) return true;
  }
  return false;
}

bool name_matches(const std::string& name, const std::vector<std::string>& words,
                  std::initializer_list<const char*> substrings,
                  std::initializer_list<const char*> abbreviations) {
  for (const char* s : substrings) {
    if (contains(name, s)) return true;
  }
  for (const char* a : abbreviations) {
    if (has_word(words, a)) return true;
  }
  return false;
}

// ---- The default rule: which keys are left out, and why.

enum class DropKind { kLoss, kEpoch, kSpeed, kNonQuality, kNonNumeric };

struct DropDecision {
  DropKind kind;
  std::string reason;
};

const char* const kNotInObjective = "not in the objective";
const char* const kHfWouldSum = "; HF would have summed it";

// Keys that are measurements of the run, not of the model. HF's rule only knows three
// speed suffixes; a dict with peak memory or step counts would otherwise be summed with F1.
std::optional<std::string> non_quality_reason(const std::string& key) {
  const std::string k = to_lower(key);
  for (const char* suffix :
       {"_time", "_seconds", "_secs", "_sec", "_ms", "_us", "_ns", "_minutes", "_hours"}) {
    if (ends_with(k, suffix)) return std::string("time measurement");
  }
  for (const char* part : {"runtime", "latency", "duration", "elapsed", "timestamp"}) {
    if (contains(k, part)) return std::string("time measurement");
  }
  for (const char* part : {"_per_sec", "throughput"}) {
    if (contains(k, part)) return std::string("speed measurement");
  }
  if (starts_with(k, "mem_") || ends_with(k, "_mem") || contains(k, "_mem_") ||
      contains(k, "memory")) {
    return std::string("memory measurement");
  }
  for (const char* suffix : {"_bytes", "_mb", "_gb", "_mib", "_gib"}) {
    if (ends_with(k, suffix)) return std::string("memory measurement");
  }
  if (k == "flos" || ends_with(k, "_flos")) return std::string("compute count (FLOs)");
  if (k == "step" || k == "steps" || ends_with(k, "_step") || ends_with(k, "_steps")) {
    return std::string("training progress (a step count)");
  }
  if (k == "samples" || ends_with(k, "_samples") || ends_with(k, "_examples")) {
    return std::string("dataset size (a sample count)");
  }
  if (k == "lr" || ends_with(k, "learning_rate") || ends_with(k, "grad_norm")) {
    return std::string("optimizer state");
  }
  return std::nullopt;
}

// Why the default rule leaves `key` out, or nullopt when it sums it. HF's own rule
// (transformers.trainer_utils.default_compute_objective) is checked first, exactly.
std::optional<DropDecision> default_rule_drop(const std::string& key, const json& value) {
  if (key == "eval_loss") {
    return DropDecision{DropKind::kLoss,
                        "HF drops it: the loss is the objective only when no other metric is left"};
  }
  if (key == "epoch") return DropDecision{DropKind::kEpoch, "HF drops it: training progress"};
  if (ends_with(key, "_runtime") || ends_with(key, "_per_second") ||
      ends_with(key, "_compilation_time")) {
    return DropDecision{DropKind::kSpeed, "HF drops it: speed metric"};
  }
  if (value.is_boolean()) {
    return DropDecision{
        DropKind::kNonNumeric,
        "cusweep drops it: a boolean, not a metric; HF would have summed it as 0/1"};
  }
  if (!value.is_number()) {
    std::string what = json_type_name(value);
    if (value.is_null()) what += " (a NaN written by a JSON library becomes null)";
    return DropDecision{DropKind::kNonNumeric,
                        "cusweep drops it: " + what + ", not a number; HF's sum would fail on it"};
  }
  if (auto reason = non_quality_reason(key)) {
    return DropDecision{DropKind::kNonQuality,
                        "cusweep drops it: " + *reason + ", not model quality" + kHfWouldSum};
  }
  return std::nullopt;
}

// "eval_loss, epoch, 2 speed metrics and 1 non-quality key dropped", or "" when none was.
std::string drop_summary(const std::vector<DropKind>& kinds) {
  bool loss = false, epoch = false;
  size_t speed = 0, non_quality = 0, non_numeric = 0;
  for (DropKind k : kinds) {
    loss = loss || k == DropKind::kLoss;
    epoch = epoch || k == DropKind::kEpoch;
    speed += k == DropKind::kSpeed;
    non_quality += k == DropKind::kNonQuality;
    non_numeric += k == DropKind::kNonNumeric;
  }
  std::vector<std::string> parts;
  if (loss) parts.push_back("eval_loss");
  if (epoch) parts.push_back("epoch");
  if (speed > 0) parts.push_back(plural(speed, "speed metric"));
  if (non_quality > 0) parts.push_back(plural(non_quality, "non-quality key"));
  if (non_numeric > 0) parts.push_back(plural(non_numeric, "non-numeric key"));
  return parts.empty() ? "" : join_and(parts) + " dropped";
}

double metric_number(const json& metrics, const std::string& metric, const std::string& label) {
  const auto it = metrics.find(metric);
  if (it == metrics.end()) {
    const std::vector<std::string> keys = keys_of(metrics);
    throw UserError(label + "metric '" + metric + "' is not in the metrics; available: " +
                        (keys.empty() ? std::string("(none)") : join(keys, ", ")) + "." +
                        did_you_mean(metric, keys),
                    "name a metric as the Trainer logs it (eval_ prefix), e.g. eval_accuracy");
  }
  if (!it->is_number() || it->is_boolean()) {
    std::string what = json_type_name(*it);
    if (it->is_null()) what += " (a NaN written by a JSON library becomes null)";
    throw UserError(label + "metric '" + metric + "' is " + what + " (" + it->dump() +
                    "), not a number; an objective term must be a number");
  }
  return it->get<double>();
}

// "eval_accuracy = null (cusweep drops it: ...), epoch = 1 (HF drops it: ...)": each dropped
// key with its value and the reason, for an error that would otherwise only list the keys.
std::string dropped_list(const ObjectiveValue& v, const json& metrics) {
  std::vector<std::string> items;
  for (const auto& d : v.dropped) {
    std::string value = metrics.at(d.key).dump();
    if (value.size() > 40) value = value.substr(0, 37) + "...";
    items.push_back(d.key + " = " + value + " (" + d.reason + ")");
  }
  return join(items, ", ");
}

void evaluate_default_rule(const json& metrics, const std::string& label, ObjectiveValue& v) {
  std::vector<DropKind> kinds;
  v.value = 0;
  for (auto it = metrics.begin(); it != metrics.end(); ++it) {
    if (auto drop = default_rule_drop(it.key(), *it)) {
      v.dropped.push_back({it.key(), drop->reason});
      kinds.push_back(drop->kind);
    } else {
      v.terms.push_back({it.key(), 1.0});
      v.value += it->get<double>();  // NaN propagates: the caller fails the trial
    }
  }

  if (!v.terms.empty()) {
    v.rule = "default rule: sum of " + plural(v.terms.size(), "metric") + " (" +
             formula(v.terms, false) + ")";
    const std::string summary = drop_summary(kinds);
    if (!summary.empty()) v.rule += ", " + summary;
    return;
  }

  // Nothing left: HF returns the loss. eval_loss leaves `dropped` and becomes the one term.
  if (!metrics.contains("eval_loss")) {
    throw UserError(label + "the default objective found no quality metric and no eval_loss; " +
                        (metrics.empty() ? std::string("the metrics are empty")
                                         : "every key was dropped: " + dropped_list(v, metrics)),
                    "name the metric to optimize: \"objective\": \"eval_accuracy\" in the config, "
                    "--objective on the command line");
  }
  v.value = metric_number(metrics, "eval_loss", label);
  v.terms.push_back({"eval_loss", 1.0});
  std::vector<DroppedMetric> rest;
  std::vector<DropKind> rest_kinds;
  for (size_t i = 0; i < v.dropped.size(); ++i) {
    if (v.dropped[i].key == "eval_loss") continue;
    rest.push_back(v.dropped[i]);
    rest_kinds.push_back(kinds[i]);
  }
  v.dropped = rest;
  v.rule = "default rule: no quality metric, objective = eval_loss";
  const std::string summary = drop_summary(rest_kinds);
  if (!summary.empty()) v.rule += "; " + summary;
}

void evaluate_custom(const ObjectiveDef& def, const json& metrics, const std::string& label,
                     ObjectiveValue& v) {
  v.terms.clear();
  v.value = 0;
  for (const auto& t : def.terms) {
    const std::string metric = resolve_metric(metrics, t.metric, v.terms);
    v.value += t.weight * metric_number(metrics, metric, label);
    v.terms.push_back({metric, t.weight});
  }
  for (auto it = metrics.begin(); it != metrics.end(); ++it) {
    bool used = false;
    for (const auto& t : v.terms)
      used = used || t.metric == it.key();
    if (!used) v.dropped.push_back({it.key(), kNotInObjective});
  }
  v.rule = "custom: " + formula(v.terms, true);
}

// The direction the terms agree on, or why there is none.
struct Inference {
  std::optional<Direction> direction;
  std::string why_not;
};

Inference infer_direction(const std::vector<ObjectiveTerm>& terms) {
  std::vector<std::string> up, down;
  for (const auto& t : terms) {
    if (t.weight == 0) continue;  // contributes nothing, says nothing
    const auto d = metric_direction(t.metric);
    if (!d) {
      return {std::nullopt,
              "the name '" + t.metric + "' says nothing about whether higher is better"};
    }
    const bool flipped = t.weight < 0;
    const std::string shown = flipped ? formula({t}, false) : t.metric;
    ((*d == Direction::kMaximize) != flipped ? up : down).push_back(shown);
  }
  if (up.empty() && down.empty()) return {std::nullopt, "every weight is 0"};
  if (!up.empty() && !down.empty()) {
    return {std::nullopt, "its terms disagree: " + join_and(up) + " (higher is better) vs " +
                              join_and(down) + " (lower is better)"};
  }
  return {up.empty() ? Direction::kMinimize : Direction::kMaximize, ""};
}

std::string contradiction_warning(Direction given, Direction inferred,
                                  const std::vector<ObjectiveTerm>& terms) {
  const bool higher = inferred == Direction::kMaximize;
  std::string w = std::string("direction '") + direction_name(given) +
                  "' contradicts the objective: " + formula(terms, false) +
                  (terms.size() == 1 ? " measures " : " measure ") +
                  (higher ? "quality (higher is better)" : "error (lower is better)");
  if (higher) w += "; HF's default direction is minimize, a classic mistake";
  return w + "; did you mean '" + direction_name(inferred) + "'?";
}

// Why v.value is NaN or infinite: a term that already is, or a sum that overflowed a double.
// The JSON output can only write null, so the warning is where the reason is kept.
std::string non_finite_warning(const ObjectiveValue& v, const json& metrics) {
  std::vector<std::string> bad;
  for (const auto& t : v.terms) {
    const auto it = metrics.find(t.metric);
    if (it == metrics.end() || !it->is_number()) continue;
    const double x = it->get<double>();
    if (!std::isfinite(x)) bad.push_back(t.metric + " is " + format_number(x));
  }
  const std::string why = !bad.empty() ? join_and(bad)
                                       : formula(v.terms, false, &metrics) +
                                             " overflows a double (largest about 1.8e308)";
  return "objective is " + format_number(v.value) + ": " + why +
         "; a sweep fails a trial with a non-finite objective, and JSON writes it as null";
}

void settle_direction(const ObjectiveDef& def, const std::string& label, ObjectiveValue& v) {
  const Inference inference = infer_direction(v.terms);
  if (def.direction) {
    v.direction = *def.direction;
    v.direction_inferred = false;
    if (inference.direction && *inference.direction != *def.direction) {
      v.warnings.push_back(label +
                           contradiction_warning(*def.direction, *inference.direction, v.terms));
    }
    return;
  }
  if (!inference.direction) {
    throw UserError(label + "cannot infer the direction of the objective " +
                        formula(v.terms, false) + ": " + inference.why_not,
                    kDirectionHint);
  }
  v.direction = *inference.direction;
  v.direction_inferred = true;
}

// ---- Parsing.

std::optional<Direction> direction_word(const std::string& word) {
  const std::string w = to_lower(trim(word));
  if (w == "minimize" || w == "min") return Direction::kMinimize;
  if (w == "maximize" || w == "max") return Direction::kMaximize;
  return std::nullopt;
}

Direction parse_direction_word(const std::string& word, const std::string& where) {
  if (auto d = direction_word(word)) return *d;
  throw UserError(where + ": unknown direction '" + trim(word) +
                      "'; allowed: minimize, maximize (or min, max)." +
                      did_you_mean(to_lower(trim(word)), {"minimize", "maximize"}),
                  kDirectionHint);
}

// One direction per objective from "maximize,minimize"; "" leaves every one to inference.
std::vector<std::optional<Direction>> parse_direction_list(const std::string& text, size_t count,
                                                           const std::string& where) {
  if (trim(text).empty()) return std::vector<std::optional<Direction>>(count);
  const std::vector<std::string> words = split(text, ',');
  if (words.size() != count) {
    const std::string which = count == 1 ? "the objective" : "the " + plural(count, "objective");
    throw UserError(where + " '" + text + "' gives " + plural(words.size(), "direction") + " for " +
                        which + "; give exactly one per objective" +
                        (count > 1 ? ", in order, e.g. 'maximize,minimize'" : ""),
                    kDirectionHint);
  }
  std::vector<std::optional<Direction>> out;
  for (const auto& w : words)
    out.push_back(parse_direction_word(w, where + " '" + text + "'"));
  return out;
}

[[noreturn]] void bad_spec(const std::string& where, const std::string& problem,
                           const std::string& text, size_t at) {
  const std::string rest = trim(text.substr(std::min(at, text.size())));
  throw UserError(where + ": " + problem + (rest.empty() ? " at the end" : " at '" + rest + "'"),
                  kObjectiveHint);
}

void skip_space(const std::string& s, size_t& i) {
  while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i])))
    ++i;
}

bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '/' ||
         c == '@';
}

// "[weight*]metric" at s[i] (the sign already read); advances i past it.
ObjectiveTerm parse_term(const std::string& s, size_t& i, double sign, const std::string& where) {
  skip_space(s, i);
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) bad_spec(where, "two signs in a row", s, i);
  double weight = 1.0;
  const char* start = s.c_str() + i;
  char* end = nullptr;
  const double number = std::strtod(start, &end);
  if (end != start) {
    size_t j = i + static_cast<size_t>(end - start);
    skip_space(s, j);
    // A number not followed by '*' may still be the start of a name ("inf_time"): reread it.
    if (j < s.size() && s[j] == '*') {
      if (!std::isfinite(number)) bad_spec(where, "a weight must be a finite number", s, i);
      weight = number;
      i = j + 1;
      skip_space(s, i);
    }
  }
  if (i >= s.size() || !(std::isalpha(static_cast<unsigned char>(s[i])) || s[i] == '_')) {
    bad_spec(where, "expected a metric name", s, i);
  }
  const size_t name_begin = i;
  while (i < s.size() && is_name_char(s[i]))
    ++i;
  const std::string name = s.substr(name_begin, i - name_begin);
  if (to_lower(name) == "default") {
    bad_spec(where, "'default' stands alone: it cannot be weighted or summed", s, name_begin);
  }
  return {normalize_metric(name), sign * weight};
}

void add_term(ObjectiveDef& def, ObjectiveTerm term, const std::string& where) {
  for (const auto& t : def.terms) {
    if (t.metric == term.metric) {
      throw UserError(where + ": metric '" + term.metric +
                          "' appears twice; give each metric once with its total weight",
                      kObjectiveHint);
    }
  }
  def.terms.push_back(std::move(term));
}

// One objective: "default" or terms joined by '+' / '-'.
ObjectiveDef parse_one_objective(const std::string& text, const std::string& where) {
  ObjectiveDef def;
  const std::string t = trim(text);
  if (t.empty()) bad_spec(where, "empty objective", text, text.size());
  if (to_lower(t) == "default") return def;

  def.use_default_rule = false;
  size_t i = 0;
  double sign = 1.0;
  skip_space(t, i);
  if (t[i] == '+' || t[i] == '-') sign = t[i++] == '-' ? -1.0 : 1.0;
  while (true) {
    add_term(def, parse_term(t, i, sign, where), where);
    skip_space(t, i);
    if (i >= t.size()) break;
    if (t[i] == '*') {
      bad_spec(where, "misplaced '*' (a weight goes before its metric, as in '0.5*eval_f1')", t, i);
    }
    if (t[i] != '+' && t[i] != '-') bad_spec(where, "expected '+' or '-' between terms", t, i);
    sign = t[i++] == '-' ? -1.0 : 1.0;
  }
  return def;
}

ObjectiveDef parse_weight_object(const json& object, const std::string& where) {
  if (object.empty()) {
    throw UserError(where +
                    ": empty object; give {metric: weight, ...}, e.g. "
                    "{\"eval_accuracy\": 1, \"eval_f1\": 0.5}");
  }
  ObjectiveDef def;
  def.use_default_rule = false;
  for (auto it = object.begin(); it != object.end(); ++it) {
    const std::string key = where + "." + it.key();
    if (!it->is_number() || it->is_boolean() || !std::isfinite(it->get<double>())) {
      throw UserError(key + ": weight " + it->dump() + " is not a finite number",
                      "an objective object maps metric names to weights: {\"eval_f1\": 0.5}");
    }
    add_term(def, {normalize_metric(it.key()), it->get<double>()}, where);
  }
  return def;
}

// Objectives separated by ','; "" is one default objective.
std::vector<ObjectiveDef> parse_objective_list(const std::string& text, const std::string& where) {
  if (trim(text).empty()) return {ObjectiveDef{}};
  std::vector<ObjectiveDef> defs;
  for (const auto& part : split(text, ','))
    defs.push_back(parse_one_objective(part, where));
  return defs;
}

std::string key_name(const std::string& key_path, const std::string& key) {
  return key_path.empty() ? key : key_path + "." + key;
}

// Several objectives must differ: the same one twice adds a dimension to the Pareto front that
// says nothing, which is a typo far more often than intended.
void check_distinct(const std::vector<ObjectiveDef>& objectives, const std::string& name) {
  const auto same = [](const ObjectiveDef& a, const ObjectiveDef& b) {
    if (a.use_default_rule || b.use_default_rule) return a.use_default_rule == b.use_default_rule;
    if (a.terms.size() != b.terms.size()) return false;
    for (size_t k = 0; k < a.terms.size(); ++k) {
      if (a.terms[k].metric != b.terms[k].metric || a.terms[k].weight != b.terms[k].weight) {
        return false;
      }
    }
    return true;
  };
  for (size_t j = 1; j < objectives.size(); ++j) {
    for (size_t i = 0; i < j; ++i) {
      if (!same(objectives[i], objectives[j])) continue;
      throw UserError(name + ": objective " + std::to_string(j + 1) + " repeats objective " +
                          std::to_string(i + 1) + "; a Pareto front needs different objectives",
                      kObjectiveHint);
    }
  }
}

}  // namespace

const char* direction_name(Direction d) {
  return d == Direction::kMaximize ? "maximize" : "minimize";
}

std::optional<Direction> metric_direction(const std::string& metric) {
  std::string name = to_lower(metric);
  for (const char* prefix : {"eval_", "test_", "train_"}) {
    if (starts_with(name, prefix)) {
      name = name.substr(std::string(prefix).size());
      break;
    }
  }
  const std::vector<std::string> words = name_words(name);
  const bool lower = name_matches(name, words, {"loss", "error", "perplexity"},
                                  {"mse", "mae", "rmse", "wer", "cer", "ppl", "nll", "mape"});
  const bool higher =
      name_matches(name, words,
                   {"accuracy", "precision", "recall", "matthews", "bleu", "rouge", "exact_match",
                    "ndcg", "kappa"},
                   {"acc", "f1", "auc", "roc", "auroc", "mcc", "r2", "map", "iou", "dice"});
  // A name that says both ("precision_loss") says nothing we can trust.
  if (lower == higher) return std::nullopt;
  return lower ? Direction::kMinimize : Direction::kMaximize;
}

ObjectiveSpec parse_objective_spec(const std::string& objective, const std::string& direction) {
  ObjectiveSpec spec;
  spec.objectives = parse_objective_list(objective, "objective '" + objective + "'");
  check_distinct(spec.objectives, "objective '" + objective + "'");
  const auto directions = parse_direction_list(direction, spec.objectives.size(), "direction");
  for (size_t i = 0; i < directions.size(); ++i)
    spec.objectives[i].direction = directions[i];
  return spec;
}

ObjectiveSpec parse_objective_json(const json* objective, const json* direction,
                                   const std::string& key_path) {
  const std::string name = key_name(key_path, "objective");
  ObjectiveSpec spec;
  if (objective == nullptr || objective->is_null()) {
    spec.objectives.emplace_back();
  } else if (objective->is_string()) {
    const std::string text = objective->get<std::string>();
    if (trim(text).empty()) {
      throw UserError(name + ": empty string; give \"default\" for HF's rule, or the metrics",
                      kObjectiveHint);
    }
    spec.objectives = parse_objective_list(text, name + " '" + text + "'");
  } else if (objective->is_object()) {
    spec.objectives.push_back(parse_weight_object(*objective, name));
  } else if (objective->is_array() && !objective->empty()) {
    for (size_t i = 0; i < objective->size(); ++i) {
      const json& entry = (*objective)[i];
      const std::string where = name + "[" + std::to_string(i) + "]";
      if (entry.is_string()) {
        const std::string text = entry.get<std::string>();
        if (contains(text, ",")) {
          throw UserError(where + ": '" + text + "' holds ','; give one objective per list entry",
                          kObjectiveHint);
        }
        spec.objectives.push_back(parse_one_objective(text, where + " '" + text + "'"));
      } else if (entry.is_object()) {
        spec.objectives.push_back(parse_weight_object(entry, where));
      } else {
        throw UserError(where + ": expected a metric name or {metric: weight}, got " +
                            json_type_name(entry) + " " + entry.dump(),
                        kObjectiveHint);
      }
    }
  } else {
    throw UserError(name +
                        ": expected \"default\", a metric name, {metric: weight} or a "
                        "non-empty list of those, got " +
                        json_type_name(*objective) + " " + objective->dump(),
                    kObjectiveHint);
  }

  check_distinct(spec.objectives, name);
  const std::string dname = key_name(key_path, "direction");
  const size_t count = spec.objectives.size();
  if (direction == nullptr || direction->is_null()) return spec;
  if (direction->is_string()) {
    const auto list = parse_direction_list(direction->get<std::string>(), count, dname);
    for (size_t i = 0; i < count; ++i)
      spec.objectives[i].direction = list[i];
  } else if (direction->is_array()) {
    if (direction->size() != count) {
      throw UserError(dname + ": " + plural(direction->size(), "direction") + " for " +
                          plural(count, "objective") + "; give exactly one per objective",
                      kDirectionHint);
    }
    for (size_t i = 0; i < count; ++i) {
      const json& d = (*direction)[i];
      const std::string where = dname + "[" + std::to_string(i) + "]";
      if (d.is_null()) continue;  // inferred for this objective
      if (!d.is_string()) {
        throw UserError(where + ": expected \"minimize\" or \"maximize\", got " + d.dump(),
                        kDirectionHint);
      }
      spec.objectives[i].direction = parse_direction_word(d.get<std::string>(), where);
    }
  } else {
    throw UserError(dname + ": expected \"minimize\", \"maximize\" or a list of those, got " +
                        direction->dump(),
                    kDirectionHint);
  }
  return spec;
}

std::vector<ObjectiveValue> evaluate_objective(const ObjectiveSpec& spec, const json& metrics) {
  if (!metrics.is_object()) {
    throw UserError(std::string("metrics must be a JSON object {name: value}, got ") +
                    json_type_name(metrics));
  }
  if (spec.objectives.empty()) {
    throw std::invalid_argument("evaluate_objective: the spec holds no objective");
  }
  std::vector<ObjectiveValue> values;
  for (size_t i = 0; i < spec.objectives.size(); ++i) {
    const ObjectiveDef& def = spec.objectives[i];
    const std::string label =
        spec.objectives.size() > 1 ? "objective[" + std::to_string(i) + "]: " : "";
    ObjectiveValue v;
    if (def.use_default_rule) {
      evaluate_default_rule(metrics, label, v);
    } else {
      evaluate_custom(def, metrics, label, v);
    }
    settle_direction(def, label, v);
    if (!std::isfinite(v.value)) v.warnings.push_back(label + non_finite_warning(v, metrics));
    values.push_back(std::move(v));
  }
  return values;
}

json explain_json(const ObjectiveValue& value, const json& metrics) {
  json terms = json::array();
  for (const auto& t : value.terms) {
    const auto it = metrics.find(t.metric);
    terms.push_back({{"metric", t.metric},
                     {"weight", t.weight},
                     {"value", it != metrics.end() ? *it : json(nullptr)}});
  }
  json dropped = json::array();
  for (const auto& d : value.dropped)
    dropped.push_back({{"key", d.key}, {"reason", d.reason}});
  // A NaN objective is written as null (JSON has no NaN); the rule and terms say why.
  return {{"objective", display_value(value.value)},
          {"direction", direction_name(value.direction)},
          {"direction_inferred", value.direction_inferred},
          {"rule", value.rule},
          {"terms", terms},
          {"dropped", dropped},
          {"warnings", value.warnings}};
}

std::string explain_text(const ObjectiveValue& value, const json& metrics, bool with_warnings) {
  std::ostringstream out;
  out << "objective: " << formula(value.terms, false, &metrics) << " = "
      << format_short(value.value) << "\n";
  out << "direction: " << direction_name(value.direction)
      << (value.direction_inferred ? " (inferred from the metrics)" : " (given)") << "\n";
  out << "rule: " << value.rule << "\n";
  // Keys a custom objective does not use are listed on one line; the default rule's drops
  // each get their reason.
  std::vector<std::string> unused;
  std::ostringstream reasons;
  for (const auto& d : value.dropped) {
    if (d.reason == kNotInObjective) {
      unused.push_back(d.key);
    } else {
      reasons << "  " << d.key << ": " << d.reason << "\n";
    }
  }
  if (!reasons.str().empty()) out << "dropped:\n" << reasons.str();
  if (!unused.empty()) out << "not in the objective: " << join(unused, ", ") << "\n";
  if (with_warnings) {
    for (const auto& w : value.warnings)
      out << "warning: " << w << "\n";
  }
  return out.str();
}

bool dominates(const std::vector<double>& a, const std::vector<double>& b,
               const std::vector<Direction>& directions) {
  if (a.size() != directions.size() || b.size() != directions.size()) {
    throw std::invalid_argument("dominates: points of size " + std::to_string(a.size()) + " and " +
                                std::to_string(b.size()) + " for " +
                                std::to_string(directions.size()) + " directions");
  }
  bool strictly = false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (better(b[i], a[i], directions[i])) return false;
    strictly = strictly || better(a[i], b[i], directions[i]);
  }
  return strictly;
}

std::vector<size_t> pareto_front(const std::vector<std::vector<double>>& points,
                                 const std::vector<Direction>& directions) {
  // A NaN compares as neither better nor worse, so it would never be dominated; it marks a
  // failed trial, which must never be on the front (DESIGN: NaN never becomes "best").
  auto has_nan = [](const std::vector<double>& p) {
    for (double x : p) {
      if (std::isnan(x)) return true;
    }
    return false;
  };
  for (const auto& p : points) {
    if (p.size() != directions.size()) {
      throw std::invalid_argument("pareto_front: a point of size " + std::to_string(p.size()) +
                                  " for " + std::to_string(directions.size()) + " directions");
    }
  }
  std::vector<size_t> front;
  for (size_t i = 0; i < points.size(); ++i) {
    if (has_nan(points[i])) continue;
    bool dominated = false;
    for (size_t j = 0; j < points.size() && !dominated; ++j) {
      dominated = j != i && !has_nan(points[j]) && dominates(points[j], points[i], directions);
    }
    if (!dominated) front.push_back(i);
  }
  return front;
}

std::vector<int> nondomination_ranks(const std::vector<std::vector<double>>& points,
                                     size_t enough) {
  const size_t n = points.size();
  const std::vector<Direction> minimize(n ? points[0].size() : 0, Direction::kMinimize);
  // In lexicographic order a point can only be dominated by points before it, and whatever
  // dominates it is dominated by (or is) a member of the front being built: so one pass over
  // the unranked points, each checked against the front so far, peels off one front.
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i)
    order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return points[a] < points[b]; });
  std::vector<int> rank(n, -1);
  size_t ranked = 0;
  int r = 0;
  for (; ranked < n && ranked < enough; ++r) {
    std::vector<size_t> front;
    for (size_t i : order) {
      if (rank[i] >= 0) continue;
      const bool dominated = std::any_of(front.begin(), front.end(), [&](size_t f) {
        return dominates(points[f], points[i], minimize);
      });
      if (!dominated) front.push_back(i);
    }
    for (size_t i : front)
      rank[i] = r;
    ranked += front.size();
  }
  for (int& x : rank) {
    if (x < 0) x = r;  // not needed: all in the next rank
  }
  return rank;
}

std::vector<double> crowding_distances(const std::vector<std::vector<double>>& points) {
  const size_t n = points.size();
  std::vector<double> distance(n, 0.0);
  if (n == 0) return distance;
  std::vector<size_t> order(n);
  for (size_t k = 0; k < points[0].size(); ++k) {
    for (size_t i = 0; i < n; ++i)
      order[i] = i;
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return points[a][k] < points[b][k]; });
    const double span = points[order.back()][k] - points[order.front()][k];
    distance[order.front()] = distance[order.back()] = HUGE_VAL;
    if (!(span > 0)) continue;
    for (size_t i = 1; i + 1 < n; ++i) {
      distance[order[i]] += (points[order[i + 1]][k] - points[order[i - 1]][k]) / span;
    }
  }
  return distance;
}

double hypervolume_2d(std::vector<std::vector<double>> points,
                      const std::vector<double>& reference) {
  // Sweep by the first objective; each point adds the strip up to the best second value so far.
  std::sort(points.begin(), points.end());
  double volume = 0, best_second = reference[1];
  for (const auto& p : points) {
    if (!(p[0] < reference[0] && p[1] < best_second)) continue;
    volume += (reference[0] - p[0]) * (best_second - p[1]);
    best_second = p[1];
  }
  return volume;
}

}  // namespace cusweep
