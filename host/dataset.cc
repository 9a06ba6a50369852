// The `data` section of a config, loading both splits (with a seeded hold-out for CSV files
// that have no eval file), class-count checks, truncation and feature scaling.
#include "cusweep/dataset.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include <zlib.h>

#include <fmt/format.h>

#include "csv_reader.h"
#include "cusweep/error.h"
#include "cusweep/log.h"

namespace cusweep {

void* allocate_huge_page_backed(size_t bytes) {
  constexpr size_t kHuge = size_t{2} << 20;
  if (bytes > std::numeric_limits<size_t>::max() - kHuge) throw std::bad_alloc();
  void* p = nullptr;
  if (bytes < kHuge) {
    p = std::malloc(bytes == 0 ? 1 : bytes);
  } else {
    const size_t rounded = (bytes + kHuge - 1) / kHuge * kHuge;
    p = std::aligned_alloc(kHuge, rounded);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    // Refused where THP is off or unknown: the memory is then ordinary pages.
    if (p != nullptr) (void)madvise(p, rounded, MADV_HUGEPAGE);
#endif
  }
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

void free_huge_page_backed(void* p) noexcept {
  std::free(p);
}

namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kKnownKeys = {"format",
                                             "dir",
                                             "train_images",
                                             "train_labels",
                                             "eval_images",
                                             "eval_labels",
                                             "train",
                                             "eval",
                                             "eval_fraction",
                                             "header",
                                             "label_column",
                                             "scaling",
                                             "max_train_samples",
                                             "max_eval_samples",
                                             "num_classes",
                                             "split_seed"};
// Keys that only mean something for one format; giving them for the other is a mistake.
const std::vector<std::string> kIdxKeys = {"dir", "train_images", "train_labels", "eval_images",
                                           "eval_labels"};
const std::vector<std::string> kCsvKeys = {"train",  "eval",         "eval_fraction",
                                           "header", "label_column", "split_seed"};

// The standard MNIST / Fashion-MNIST names, in the order of DataConfig's four idx paths.
const char* const kIdxFileNames[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                      "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};

const std::vector<std::string> kScalingNames = {"none", "unit", "standard", "minmax"};

std::string join(const std::vector<std::string>& items) {
  std::string text;
  for (const auto& item : items) {
    text += (text.empty() ? "" : ", ") + item;
  }
  return text;
}

std::string format_number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

// `message`, plus "; did you mean 'x'?" when one of `candidates` is close to `word`.
std::string with_suggestion(const std::string& message, const std::string& word,
                            const std::vector<std::string>& candidates) {
  const std::string suggestion = did_you_mean(word, candidates);
  return suggestion.empty() ? message : message + ";" + suggestion;
}

// ---- Config parsing.

std::string key_name(const std::string& key_path, const std::string& key) {
  return key_path.empty() ? key : key_path + "." + key;
}

// A JSON value for a message: its text (cut short) and its type.
std::string describe(const nlohmann::json& value) {
  std::string text = value.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text + " (" + value.type_name() + ")";
}

[[noreturn]] void wrong_type(const std::string& key, const nlohmann::json& value,
                             const std::string& expected) {
  throw UserError(key + ": expected " + expected + ", got " + describe(value));
}

std::string get_string(const nlohmann::json& value, const std::string& key) {
  if (!value.is_string()) wrong_type(key, value, "a string");
  return value.get<std::string>();
}

bool get_bool(const nlohmann::json& value, const std::string& key) {
  if (!value.is_boolean()) wrong_type(key, value, "a boolean (true or false)");
  return value.get<bool>();
}

// Integers written as 1e4 or 1000.0 are accepted: JSON has only one number type.
int64_t get_int(const nlohmann::json& value, const std::string& key, int64_t min, int64_t max,
                const std::string& expected) {
  if (value.is_number_unsigned()) {
    const auto v = value.get<uint64_t>();
    if (v <= static_cast<uint64_t>(max) && static_cast<int64_t>(v) >= min) {
      return static_cast<int64_t>(v);
    }
  } else if (value.is_number_integer()) {
    const auto v = value.get<int64_t>();
    if (v >= min && v <= max) return v;
  } else if (value.is_number_float()) {
    const double v = value.get<double>();
    if (std::floor(v) == v && v >= static_cast<double>(min) && v <= static_cast<double>(max)) {
      return static_cast<int64_t>(v);
    }
  }
  wrong_type(key, value, expected);
}

uint64_t get_seed(const nlohmann::json& value, const std::string& key) {
  // Seeds use the whole uint64 range, which doubles cannot hold exactly: integers only.
  if (value.is_number_unsigned()) return value.get<uint64_t>();
  if (value.is_number_integer() && value.get<int64_t>() >= 0) {
    return static_cast<uint64_t>(value.get<int64_t>());
  }
  wrong_type(key, value, "a non-negative integer");
}

std::string resolve_path(const std::string& base_dir, const std::string& path,
                         const std::string& key) {
  if (path.empty()) throw UserError(key + ": the path is empty");
  const fs::path p(path);
  if (p.is_absolute() || base_dir.empty()) return path;
  return (fs::path(base_dir) / p).lexically_normal().string();
}

// `dir/name.gz` when it exists, else `dir/name` when that exists, else `dir/name.gz` (load_data
// then reports both as missing).
std::string idx_file_in(const std::string& dir, const std::string& name) {
  const fs::path gz = fs::path(dir) / (name + ".gz");
  const fs::path plain = fs::path(dir) / name;
  std::error_code ec;
  if (!fs::exists(gz, ec) && fs::exists(plain, ec)) return plain.string();
  return gz.string();
}

void check_known_keys(const nlohmann::json& j, const std::string& key_path) {
  for (const auto& item : j.items()) {
    const std::string& key = item.key();
    if (std::find(kKnownKeys.begin(), kKnownKeys.end(), key) != kKnownKeys.end()) continue;
    throw UserError(
        with_suggestion("unknown key '" + key_name(key_path, key) + "'", key, kKnownKeys),
        "known keys in " + key_path + ": " + join(kKnownKeys));
  }
}

void check_keys_fit_format(const nlohmann::json& j, const std::string& key_path,
                           const std::string& format) {
  for (const auto& item : j.items()) {
    const std::string& key = item.key();
    const auto& other = format == "idx" ? kCsvKeys : kIdxKeys;
    if (std::find(other.begin(), other.end(), key) != other.end()) {
      throw UserError(key_name(key_path, key) + " applies only to format '" +
                          (format == "idx" ? "csv" : "idx") + "', but " +
                          key_name(key_path, "format") + " is '" + format + "'",
                      "remove " + key_name(key_path, key));
    }
  }
}

const char* const kIdxFileKeys[4] = {"train_images", "train_labels", "eval_images", "eval_labels"};

void parse_idx_paths(const nlohmann::json& j, const std::string& base_dir,
                     const std::string& key_path, DataConfig* config) {
  std::string* paths[4] = {&config->train_images, &config->train_labels, &config->eval_images,
                           &config->eval_labels};
  const char* const* keys = kIdxFileKeys;
  std::vector<std::string> given, missing;
  for (int i = 0; i < 4; ++i) {
    const std::string key = key_name(key_path, keys[i]);
    if (!j.contains(keys[i])) {
      missing.push_back(key);
      continue;
    }
    *paths[i] = resolve_path(base_dir, get_string(j.at(keys[i]), key), key);
    given.push_back(key);
  }

  const std::string dir_key = key_name(key_path, "dir");
  if (j.contains("dir")) {
    if (!given.empty()) {
      throw UserError(dir_key + " and " + join(given) + " are both given",
                      "give either " + dir_key + " (standard MNIST file names) or all four paths");
    }
    config->dir = resolve_path(base_dir, get_string(j.at("dir"), dir_key), dir_key);
    for (int i = 0; i < 4; ++i) {
      *paths[i] = idx_file_in(config->dir, kIdxFileNames[i]);
    }
  } else if (!missing.empty()) {
    throw UserError(
        "format 'idx' needs " + dir_key + " or all four paths; missing " + join(missing),
        "give " + dir_key + ", a folder holding " + kIdxFileNames[0] + ".gz etc.");
  }
}

void parse_csv_keys(const nlohmann::json& j, const std::string& base_dir,
                    const std::string& key_path, DataConfig* config) {
  const std::string train_key = key_name(key_path, "train");
  if (!j.contains("train")) {
    throw UserError("format 'csv' needs " + train_key + ", the training CSV file");
  }
  config->train = resolve_path(base_dir, get_string(j.at("train"), train_key), train_key);
  if (j.contains("eval")) {
    const std::string key = key_name(key_path, "eval");
    config->eval = resolve_path(base_dir, get_string(j.at("eval"), key), key);
    for (const char* unused : {"eval_fraction", "split_seed"}) {
      if (!j.contains(unused)) continue;
      throw UserError(key_name(key_path, unused) + " is unused when " + key + " is given",
                      "remove one of them");
    }
  }

  if (j.contains("eval_fraction")) {
    const std::string key = key_name(key_path, "eval_fraction");
    const auto& value = j.at("eval_fraction");
    if (!value.is_number()) wrong_type(key, value, "a number in (0, 1)");
    const double fraction = value.get<double>();
    if (!(fraction > 0 && fraction < 1)) {
      throw UserError(key + ": " + value.dump() + " is outside (0, 1); it is the fraction of " +
                      train_key + " rows held out for evaluation");
    }
    config->eval_fraction = fraction;
  }
  if (j.contains("split_seed")) {
    config->split_seed = get_seed(j.at("split_seed"), key_name(key_path, "split_seed"));
  }
  if (j.contains("header")) config->header = get_bool(j.at("header"), key_name(key_path, "header"));

  if (j.contains("label_column")) {
    const std::string key = key_name(key_path, "label_column");
    const auto& value = j.at("label_column");
    if (value.is_string()) {
      config->label_column = value.get<std::string>();
      if (config->label_column.empty()) {
        throw UserError(key + " is empty",
                        "give a column name or an integer index (negative counts from the end), "
                        "or leave it out for the last column");
      }
    } else if (value.is_number_integer()) {
      config->label_column = std::to_string(value.get<int64_t>());
    } else {
      wrong_type(key, value, "a column name (string) or an integer index");
    }
    int64_t index = 0;
    const std::string& text = config->label_column;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), index);
    const bool is_index = !text.empty() && ec == std::errc() && ptr == text.data() + text.size();
    if (!config->header && !text.empty() && !is_index) {
      throw UserError(key + ": '" + text + "' is a column name, but " +
                          key_name(key_path, "header") + " is false",
                      "give an integer index (negative counts from the end)");
    }
  }
}

// ---- Loading.

// Where a row's label came from, for messages: "file:line" or "file: byte offset N".
using RowLocator = std::function<std::string(int64_t row)>;

struct LabeledSplit {
  Dataset* data;
  RowLocator where;
  const std::vector<std::string>* class_names;  // empty when labels are integers
};

// Throws when `num_classes` (the value of `key`) is above kMaxClasses.
void check_num_classes_limit(int64_t num_classes, const std::string& key) {
  if (num_classes <= kMaxClasses) return;
  throw UserError(key + ": " + std::to_string(num_classes) + " is above the limit of " +
                      std::to_string(kMaxClasses) + " classes",
                  "give the number of classes the labels use (at most " +
                      std::to_string(kMaxClasses) + "), or 0 to count them from the labels");
}

// A train split whose labels are all one class trains a model that tells nothing apart.
// `where` names the file (or the held-in part of one).
void check_several_classes(const LabeledSplit& train, const std::string& where,
                           const std::string& hint) {
  const auto& labels = train.data->labels;
  const auto other = [&](int32_t label) { return label != labels[0]; };
  if (labels.empty() || std::any_of(labels.begin(), labels.end(), other)) return;
  const std::string k = train.class_names->empty() ? std::to_string(labels[0])
                                                   : "'" + (*train.class_names)[labels[0]] + "'";
  throw UserError(where + ": all labels are class " + k + ": a classifier needs at least 2 classes",
                  hint);
}

std::string label_text(const LabeledSplit& split, int64_t row) {
  const int32_t label = split.data->labels[row];
  if (split.class_names->empty()) return std::to_string(label);
  return "'" + (*split.class_names)[label] + "' (class " + std::to_string(label) + ")";
}

// Sets num_classes on every split: the configured count (checking each label against it), or
// one more than the largest label in any split, so train and eval always agree.
void set_num_classes(int configured, const std::vector<LabeledSplit>& splits,
                     const std::string& key_path) {
  const std::string key = key_name(key_path, "num_classes");
  check_num_classes_limit(configured, key);
  int num_classes = configured;
  for (const auto& split : splits) {
    const auto& labels = split.data->labels;
    for (size_t r = 0; r < labels.size(); ++r) {
      if (configured > 0 && labels[r] >= configured) {
        throw UserError(split.where(r) + ": label " + label_text(split, r) + " is not below " +
                            key + " = " + std::to_string(configured),
                        "raise " + key + ", or set it to 0 to count classes from the labels");
      }
      // The readers check their own labels; string labels of two files numbered together can
      // still pass the limit.
      if (labels[r] >= kMaxClasses) {
        throw UserError(split.where(r) + ": label " + label_text(split, r) +
                            " is beyond the limit of " + std::to_string(kMaxClasses) +
                            " classes (class indices 0 to " + std::to_string(kMaxClasses - 1) + ")",
                        "the train and eval files together name more classes than that; is " +
                            key_name(key_path, "label_column") + " the label column?");
      }
      if (configured == 0) num_classes = std::max(num_classes, labels[r] + 1);
    }
  }
  for (const auto& split : splits) {
    split.data->num_classes = num_classes;
  }
  // Counted from the largest label, classes no training row has are most often a stray label
  // (one 200 among 0..9 makes 201 classes, a model of 201 outputs and 191 empty rows in every
  // per-class metric).
  if (configured > 0 || splits.empty() || num_classes == 0) return;
  std::vector<int64_t> rows(static_cast<size_t>(num_classes), 0);
  for (int32_t label : splits.front().data->labels)
    ++rows[static_cast<size_t>(label)];
  const auto empty = std::count(rows.begin(), rows.end(), 0);
  if (empty == 0) return;
  const auto first = std::find(rows.begin(), rows.end(), 0) - rows.begin();
  const std::vector<std::string>& names = *splits.front().class_names;
  if (!names.empty()) {
    // Named classes are the union of both files' names: one with no training row is named in
    // the eval file alone, and its eval rows can only be misclassified.
    std::string listed;
    int shown = 0;
    for (size_t c = 0; c < rows.size() && shown < 5; ++c) {
      if (rows[c] != 0) continue;
      listed += fmt::format("{}'{}'", shown++ == 0 ? "" : ", ", names[c]);
    }
    if (empty > shown) listed += ", ...";
    log_warning(fmt::format(
        "{}: {} of the {} classes {} no row in {}: {}, named only in {}; "
        "the model never learns {}",
        key_path, empty, num_classes, empty == 1 ? "has" : "have", splits.front().data->source,
        listed, splits.size() > 1 ? splits[1].data->source : "the eval file",
        empty == 1 ? "it" : "them"));
    return;
  }
  log_warning(fmt::format(
      "{}: {} of the {} classes (0 to the largest label, {}) have no row in "
      "{}, class {} the first; is a label wrong? {} sets the class count",
      key_path, empty, num_classes, num_classes - 1, splits.front().data->source, first, key));
}

// Gives two CSV files with string labels one numbering: the sorted union of their names.
void unify_class_names(Dataset* train, std::vector<std::string>* train_names, Dataset* eval,
                       std::vector<std::string>* eval_names) {
  if (train_names->empty() != eval_names->empty()) {
    const Dataset* strings = train_names->empty() ? eval : train;
    const Dataset* integers = train_names->empty() ? train : eval;
    throw UserError(
        strings->source + " has string labels but " + integers->source + " has integer labels",
        "both files need the same kind of label");
  }
  if (train_names->empty()) return;

  std::map<std::string, int32_t> classes;
  for (const auto& name : *train_names) {
    classes.emplace(name, 0);
  }
  for (const auto& name : *eval_names) {
    classes.emplace(name, 0);
  }
  std::vector<std::string> names;
  for (auto& [name, index] : classes) {
    index = static_cast<int32_t>(names.size());
    names.push_back(name);
  }
  for (auto [data, own] : {std::pair{train, train_names}, std::pair{eval, eval_names}}) {
    for (auto& label : data->labels) {
      label = classes.at((*own)[label]);
    }
  }
  *train_names = names;
  *eval_names = std::move(names);
}

void check_same_columns(const Dataset& train, const Dataset& eval) {
  if (train.cols == eval.cols) return;
  throw UserError(eval.source + " has " + std::to_string(eval.cols) + " feature columns but " +
                      train.source + " has " + std::to_string(train.cols),
                  "train and eval must describe the same features");
}

// Features are matched by position, so a reordered header in the eval file would silently
// feed each column's values to another column's weights.
void check_same_column_names(const Dataset& train, const std::vector<std::string>& train_columns,
                             const Dataset& eval, const std::vector<std::string>& eval_columns) {
  for (size_t c = 0; c < train_columns.size() && c < eval_columns.size(); ++c) {
    if (train_columns[c] == eval_columns[c]) continue;
    throw UserError(eval.source + ": feature column " + std::to_string(c) + " is '" +
                        eval_columns[c] + "' but in " + train.source + " it is '" +
                        train_columns[c] + "'",
                    "the eval file needs the train file's columns in the same order");
  }
}

// SplitMix64 (Steele, Lea & Flood, 2014): a fixed, portable sequence, unlike std::shuffle
// whose output differs between standard libraries.
uint64_t splitmix64(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// Row order after a Fisher-Yates shuffle seeded with `seed`. The modulo's bias is below
// n / 2^64, far under any effect a hold-out split could show.
std::vector<int64_t> shuffled_rows(int64_t n, uint64_t seed) {
  std::vector<int64_t> order(n);
  for (int64_t i = 0; i < n; ++i) {
    order[i] = i;
  }
  uint64_t state = seed;
  for (int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(splitmix64(&state) % static_cast<uint64_t>(i + 1));
    std::swap(order[i], order[j]);
  }
  return order;
}

Dataset take_rows(const Dataset& source, const int64_t* rows, int64_t count) {
  Dataset part;
  part.rows = count;
  part.cols = source.cols;
  part.num_classes = source.num_classes;
  part.image_rows = source.image_rows;
  part.image_cols = source.image_cols;
  part.features.resize(count * source.cols);
  part.labels.resize(count);
  for (int64_t i = 0; i < count; ++i) {
    std::copy_n(source.features.begin() + rows[i] * source.cols, source.cols,
                part.features.begin() + i * source.cols);
    part.labels[i] = source.labels[rows[i]];
  }
  return part;
}

// Holds out round(eval_fraction * rows) shuffled rows as eval. Both parts keep the shuffled
// order, so max_*_samples later takes a random subset, not the head of a file sorted by class.
DataSplit hold_out(const Dataset& all, const DataConfig& config, const std::string& key_path) {
  const auto n_eval = static_cast<int64_t>(std::llround(config.eval_fraction * all.rows));
  if (n_eval < 1 || n_eval >= all.rows) {
    throw UserError(all.source + ": " + key_name(key_path, "eval_fraction") + " " +
                        format_number(config.eval_fraction) + " of " + std::to_string(all.rows) +
                        " rows holds out " + std::to_string(n_eval) +
                        "; both train and eval need at least one row",
                    "give " + key_name(key_path, "eval") + " or change the fraction");
  }
  const std::vector<int64_t> order = shuffled_rows(all.rows, config.split_seed);
  DataSplit split;
  split.eval = take_rows(all, order.data(), n_eval);
  split.train = take_rows(all, order.data() + n_eval, all.rows - n_eval);
  const std::string how = "eval_fraction " + format_number(config.eval_fraction) + ", split_seed " +
                          std::to_string(config.split_seed) + ")";
  split.train.source = all.source + " (held in: " + how;
  split.eval.source = all.source + " (held out: " + how;
  return split;
}

// A data file named by the config that is not there: the message names its key as well.
void check_file_exists(const std::string& path, const std::string& key) {
  std::error_code ec;
  if (fs::exists(path, ec)) return;
  throw UserError(fmt::format("{}: no such file: {}", key, path),
                  "a relative path is taken from the config file's folder");
}

DataSplit load_csv(const DataConfig& config, const std::string& key_path) {
  check_file_exists(config.train, key_name(key_path, "train"));
  if (!config.eval.empty()) check_file_exists(config.eval, key_name(key_path, "eval"));
  std::vector<std::string> train_names, eval_names;
  std::vector<int64_t> train_lines, eval_lines;
  std::vector<std::string> train_columns, eval_columns;
  Dataset train = internal::read_csv_detailed(config.train, config.header, config.label_column,
                                              &train_names, &train_lines, &train_columns);
  const RowLocator train_where = [&](int64_t r) {
    return config.train + ":" + std::to_string(train_lines[r]);
  };

  const std::string label_hint = "is " + key_name(key_path, "label_column") + " the right column?";
  if (config.eval.empty()) {
    const LabeledSplit all{&train, train_where, &train_names};
    set_num_classes(config.num_classes, {all}, key_path);
    check_several_classes(all, config.train, label_hint);
    DataSplit split = hold_out(train, config, key_path);
    // The file has two classes or more, but the held-in rows may still have only one.
    check_several_classes({&split.train, train_where, &train_names}, split.train.source,
                          "change " + key_name(key_path, "split_seed") + " or " +
                              key_name(key_path, "eval_fraction"));
    return split;
  }

  Dataset eval = internal::read_csv_detailed(config.eval, config.header, config.label_column,
                                             &eval_names, &eval_lines, &eval_columns);
  check_same_columns(train, eval);
  check_same_column_names(train, train_columns, eval, eval_columns);
  unify_class_names(&train, &train_names, &eval, &eval_names);
  const RowLocator eval_where = [&](int64_t r) {
    return config.eval + ":" + std::to_string(eval_lines[r]);
  };
  const LabeledSplit train_split{&train, train_where, &train_names};
  set_num_classes(config.num_classes, {train_split, {&eval, eval_where, &eval_names}}, key_path);
  check_several_classes(train_split, config.train, label_hint);
  return {std::move(train), std::move(eval)};
}

// Same pixel count is not enough: 14x56 images flattened into 784 features would feed each
// pixel to the weights another pixel was trained with.
void check_same_image_shape(const Dataset& train, const std::string& train_images,
                            const Dataset& eval, const std::string& eval_images) {
  if (train.image_rows == eval.image_rows && train.image_cols == eval.image_cols) return;
  const auto shape = [](const Dataset& d) {
    return std::to_string(d.image_rows) + "x" + std::to_string(d.image_cols);
  };
  throw UserError(eval_images + " holds images of " + shape(eval) + " (rows x columns) but " +
                      train_images + " holds images of " + shape(train),
                  "train and eval images must have the same shape; are the files from the same "
                  "set?");
}

Dataset read_idx_split(const std::string& images_path, const std::string& labels_path) {
  Dataset data = read_idx_images(images_path);
  data.labels = read_idx_labels(labels_path);
  if (static_cast<int64_t>(data.labels.size()) != data.rows) {
    throw UserError(images_path + " has " + std::to_string(data.rows) + " images but " +
                        labels_path + " has " + std::to_string(data.labels.size()) + " labels",
                    "each image needs exactly one label; are the files from the same set?");
  }
  data.source = images_path + " + " + labels_path;
  return data;
}

DataSplit load_idx(const DataConfig& config, const std::string& key_path) {
  std::string paths[4] = {config.train_images, config.train_labels, config.eval_images,
                          config.eval_labels};
  for (int i = 0; i < 4; ++i) {
    if (!paths[i].empty() || config.dir.empty()) continue;
    paths[i] = idx_file_in(config.dir, kIdxFileNames[i]);
  }
  if (config.dir.empty()) {
    for (int i = 0; i < 4; ++i)
      check_file_exists(paths[i], key_name(key_path, kIdxFileKeys[i]));
  } else {
    std::error_code ec;
    if (!fs::is_directory(config.dir, ec)) {
      throw UserError(key_name(key_path, "dir") + " '" + config.dir +
                          "': " + (fs::exists(config.dir, ec) ? "not a folder" : "no such folder"),
                      "a relative path is taken from the config file's folder");
    }
    for (int i = 0; i < 4; ++i) {
      if (fs::exists(paths[i], ec)) continue;
      throw UserError(key_name(key_path, "dir") + " '" + config.dir + "' holds neither " +
                          kIdxFileNames[i] + ".gz nor " + kIdxFileNames[i],
                      std::string("the folder needs the four standard MNIST files: ") +
                          kIdxFileNames[0] + ".gz, " + kIdxFileNames[1] + ".gz, " +
                          kIdxFileNames[2] + ".gz, " + kIdxFileNames[3] + ".gz");
    }
  }

  DataSplit split{read_idx_split(paths[0], paths[1]), read_idx_split(paths[2], paths[3])};
  check_same_image_shape(split.train, paths[0], split.eval, paths[2]);
  check_same_columns(split.train, split.eval);
  const std::vector<std::string> no_names;
  const auto where = [](const std::string& labels_path) -> RowLocator {
    return [labels_path](int64_t r) {
      return labels_path + ": byte offset " + std::to_string(8 + r);  // after the 8-byte header
    };
  };
  const LabeledSplit train{&split.train, where(paths[1]), &no_names};
  set_num_classes(config.num_classes, {train, {&split.eval, where(paths[3]), &no_names}}, key_path);
  check_several_classes(train, paths[1], "is " + paths[1] + " the training labels file?");
  return split;
}

void truncate_rows(Dataset* data, int64_t max_rows) {
  if (max_rows <= 0 || data->rows <= max_rows) return;
  data->rows = max_rows;
  data->features.resize(max_rows * data->cols);
  data->labels.resize(max_rows);
}

// ---- Scaling.

// Per-column statistics of `data`, accumulated in double: float sums over 60000 rows would
// lose digits.
struct ColumnStats {
  std::vector<double> mean, std, min, max;
};

ColumnStats column_stats(const Dataset& data) {
  const int64_t cols = data.cols;
  ColumnStats s;
  s.mean.assign(cols, 0.0);
  s.std.assign(cols, 0.0);
  s.min.assign(cols, std::numeric_limits<double>::infinity());
  s.max.assign(cols, -std::numeric_limits<double>::infinity());
  for (int64_t r = 0; r < data.rows; ++r) {
    const float* row = data.features.data() + r * cols;
    for (int64_t c = 0; c < cols; ++c) {
      s.mean[c] += row[c];
      s.min[c] = std::min(s.min[c], static_cast<double>(row[c]));
      s.max[c] = std::max(s.max[c], static_cast<double>(row[c]));
    }
  }
  for (auto& m : s.mean) {
    m /= static_cast<double>(data.rows);
  }
  // Two passes: the one-pass sum-of-squares formula cancels badly for large offsets.
  for (int64_t r = 0; r < data.rows; ++r) {
    const float* row = data.features.data() + r * cols;
    for (int64_t c = 0; c < cols; ++c) {
      const double d = row[c] - s.mean[c];
      s.std[c] += d * d;
    }
  }
  for (auto& v : s.std) {
    v = std::sqrt(v / static_cast<double>(data.rows));  // population std, as sklearn's
  }
  return s;
}

// x -> (x - shift[c]) * factor[c], column by column.
void affine_columns(const std::vector<double>& shift, const std::vector<double>& factor,
                    Dataset* data) {
  if (data == nullptr) return;
  const int64_t cols = data->cols;
  for (int64_t r = 0; r < data->rows; ++r) {
    float* row = data->features.data() + r * cols;
    for (int64_t c = 0; c < cols; ++c) {
      row[c] = static_cast<float>((row[c] - shift[c]) * factor[c]);
    }
  }
}

}  // namespace

DataConfig parse_data_config(const nlohmann::json& j, const std::string& base_dir,
                             const std::string& key_path) {
  if (!j.is_object()) wrong_type(key_path, j, "an object");
  check_known_keys(j, key_path);
  DataConfig config;

  const std::string format_key = key_name(key_path, "format");
  if (!j.contains("format")) {
    throw UserError(key_path + " needs " + format_key + ": \"idx\" or \"csv\"");
  }
  config.format = get_string(j.at("format"), format_key);
  if (config.format != "idx" && config.format != "csv") {
    throw UserError(with_suggestion(format_key + ": '" + config.format +
                                        "' is not a data format; allowed: idx, csv",
                                    config.format, {"idx", "csv"}),
                    "idx reads MNIST-style files, csv reads comma-separated text");
  }
  check_keys_fit_format(j, key_path, config.format);

  if (config.format == "idx") {
    parse_idx_paths(j, base_dir, key_path, &config);
  } else {
    parse_csv_keys(j, base_dir, key_path, &config);
  }

  if (j.contains("scaling")) {
    const std::string key = key_name(key_path, "scaling");
    config.scaling = parse_scaling(get_string(j.at("scaling"), key), key);
  }
  constexpr int64_t kMaxInt64 = std::numeric_limits<int64_t>::max();
  for (auto [name, field] : {std::pair{"max_train_samples", &config.max_train_samples},
                             std::pair{"max_eval_samples", &config.max_eval_samples}}) {
    if (!j.contains(name)) continue;
    *field = get_int(j.at(name), key_name(key_path, name), 0, kMaxInt64,
                     "a non-negative integer (0 = all rows)");
  }
  if (j.contains("num_classes")) {
    const std::string key = key_name(key_path, "num_classes");
    const int64_t n = get_int(j.at("num_classes"), key, 0, std::numeric_limits<int64_t>::max(),
                              "a non-negative integer (0 = count from the labels)");
    check_num_classes_limit(n, key);
    if (n == 1) {
      throw UserError(key + ": 1 class leaves nothing to classify; give at least 2, or 0 to " +
                      "count classes from the labels");
    }
    config.num_classes = static_cast<int>(n);
  }
  return config;
}

DataSplit load_data(const DataConfig& config) {
  const std::string key_path = "data";
  DataSplit split;
  if (config.format == "idx") {
    split = load_idx(config, key_path);
  } else if (config.format == "csv") {
    split = load_csv(config, key_path);
  } else {
    throw UserError("data.format: '" + config.format + "' is not a data format; allowed: idx, csv");
  }

  truncate_rows(&split.train, config.max_train_samples);
  truncate_rows(&split.eval, config.max_eval_samples);
  // The whole file had two classes or more (checked by the loaders); its first rows may not.
  const std::vector<int32_t>& labels = split.train.labels;
  if (config.max_train_samples > 0 && !labels.empty() &&
      std::all_of(labels.begin(), labels.end(), [&](int32_t l) { return l == labels[0]; })) {
    throw UserError(fmt::format("data.max_train_samples = {} leaves only training rows of class "
                                "{}: a classifier needs at least 2 classes",
                                config.max_train_samples, labels[0]),
                    "raise data.max_train_samples, or shuffle the file's rows");
  }
  apply_scaling(config.scaling, &split.train, &split.eval);

  log_debug("data: train " + std::to_string(split.train.rows) + " x " +
            std::to_string(split.train.cols) + ", eval " + std::to_string(split.eval.rows) + ", " +
            std::to_string(split.train.num_classes) + " classes, scaling " +
            scaling_name(config.scaling));
  return split;
}

std::string data_digest(const DataSplit& data) {
  const auto one = [](const Dataset& d) {
    uLong crc = crc32(0L, Z_NULL, 0);
    crc = crc32_z(crc, reinterpret_cast<const Bytef*>(d.features.data()),
                  d.features.size() * sizeof(float));
    crc = crc32_z(crc, reinterpret_cast<const Bytef*>(d.labels.data()),
                  d.labels.size() * sizeof(int32_t));
    char hex[9];
    std::snprintf(hex, sizeof(hex), "%08lx", static_cast<unsigned long>(crc));
    return std::to_string(d.rows) + "x" + std::to_string(d.cols) + " crc32 " + hex;
  };
  return "train " + one(data.train) + ", eval " + one(data.eval);
}

void apply_scaling(Scaling scaling, Dataset* train, Dataset* eval) {
  if (train == nullptr) throw std::invalid_argument("apply_scaling: train is null");
  if (eval != nullptr && eval->cols != train->cols) {
    throw std::invalid_argument("apply_scaling: train has " + std::to_string(train->cols) +
                                " columns, eval " + std::to_string(eval->cols));
  }
  const auto cols = static_cast<size_t>(train->cols);

  switch (scaling) {
    case Scaling::kNone:
      return;
    case Scaling::kUnit: {
      const std::vector<double> zero(cols, 0.0), inv_255(cols, 1.0 / 255.0);
      affine_columns(zero, inv_255, train);
      affine_columns(zero, inv_255, eval);
      return;
    }
    case Scaling::kStandard: {
      if (train->rows == 0) return;
      ColumnStats s = column_stats(*train);
      // A constant column (min == max, exactly) is only centered: its std is zero, or rounding
      // noise that would blow the column up.
      for (size_t c = 0; c < cols; ++c) {
        s.std[c] = s.min[c] == s.max[c] ? 1.0 : 1.0 / s.std[c];
      }
      affine_columns(s.mean, s.std, train);
      affine_columns(s.mean, s.std, eval);
      return;
    }
    case Scaling::kMinMax: {
      if (train->rows == 0) return;
      ColumnStats s = column_stats(*train);
      std::vector<double> factor(cols);
      // A constant column carries nothing the model could use: it becomes 0 in both splits.
      for (size_t c = 0; c < cols; ++c) {
        factor[c] = s.max[c] == s.min[c] ? 0.0 : 1.0 / (s.max[c] - s.min[c]);
      }
      affine_columns(s.min, factor, train);
      affine_columns(s.min, factor, eval);
      return;
    }
  }
  throw std::invalid_argument("apply_scaling: unknown Scaling value " +
                              std::to_string(static_cast<int>(scaling)));
}

Scaling parse_scaling(const std::string& name, const std::string& key_path) {
  if (name == "none") return Scaling::kNone;
  if (name == "unit") return Scaling::kUnit;
  if (name == "standard") return Scaling::kStandard;
  if (name == "minmax") return Scaling::kMinMax;
  throw UserError(with_suggestion(key_path + ": unknown scaling '" + name +
                                      "'; allowed: " + join(kScalingNames),
                                  name, kScalingNames),
                  "unit divides by 255 (pixels), standard and minmax are fitted on train");
}

const char* scaling_name(Scaling scaling) {
  switch (scaling) {
    case Scaling::kNone:
      return "none";
    case Scaling::kUnit:
      return "unit";
    case Scaling::kStandard:
      return "standard";
    case Scaling::kMinMax:
      return "minmax";
  }
  return "unknown";
}

}  // namespace cusweep
