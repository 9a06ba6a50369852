// Classification datasets: readers for IDX (MNIST / Fashion-MNIST, gzipped or plain) and CSV,
// feature scaling, and the `data` section of a sweep config.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cusweep {

// The most classes a dataset may have. Labels set the class count (the largest label + 1), and
// the model, its gradients and the confusion matrix each grow with it: a stray label such as
// 2000000 would otherwise allocate gigabytes. 1000 covers ImageNet-1k.
constexpr int kMaxClasses = 1000;

// Memory for large read-mostly arrays, backed by 2 MB pages where Linux grants them. Training
// batches gather rows scattered over the whole training set (188 MB for Fashion-MNIST), so
// with 4 KB pages nearly every row is a TLB miss. Under Linux's default transparent-huge-page
// mode ("madvise") huge pages come only on request, before the memory is first written:
// arrays of 2 MB or more are allocated on 2 MB boundaries and requested so (+1.7% samples/s
// on the reference workload, project's Xeon). Elsewhere (other systems, THP off) they are
// ordinary memory.
void* allocate_huge_page_backed(size_t bytes);
void free_huge_page_backed(void* p) noexcept;

template <class T>
struct HugePageAllocator {
  using value_type = T;
  HugePageAllocator() = default;
  template <class U>
  HugePageAllocator(const HugePageAllocator<U>&) noexcept {}
  T* allocate(size_t n) { return static_cast<T*>(allocate_huge_page_backed(n * sizeof(T))); }
  void deallocate(T* p, size_t) noexcept { free_huge_page_backed(p); }
  friend bool operator==(const HugePageAllocator&, const HugePageAllocator&) { return true; }
  friend bool operator!=(const HugePageAllocator&, const HugePageAllocator&) { return false; }
};

using FeatureArray = std::vector<float, HugePageAllocator<float>>;

// One split of a classification dataset, held once per process and shared read-only.
struct Dataset {
  FeatureArray features;        // [rows, cols], row-major
  std::vector<int32_t> labels;  // [rows], each in [0, num_classes)
  int64_t rows = 0;
  int64_t cols = 0;
  int num_classes = 0;
  std::string source;  // file(s) it came from, for messages
  // IDX images only: each image's shape (cols == image_rows * image_cols); 0 for CSV.
  int64_t image_rows = 0;
  int64_t image_cols = 0;
};

enum class Scaling {
  kNone,      // features as read
  kUnit,      // divide by 255 (IDX pixels) -> [0, 1]
  kStandard,  // per feature: (x - mean) / std, fitted on the train split
  kMinMax,    // per feature: (x - min) / (max - min), fitted on the train split
};

// The `data` object of a config. Every key is validated; unknown keys are UserErrors.
struct DataConfig {
  std::string format;  // "idx" or "csv"
  // idx: either `dir` (standard MNIST file names inside it) or the four explicit paths.
  std::string dir;
  std::string train_images, train_labels, eval_images, eval_labels;
  // csv: train file, optional eval file (else eval_fraction of train is held out).
  std::string train, eval;
  double eval_fraction = 0.2;
  bool header = true;
  std::string label_column;  // column name, or an integer index (negative counts from end)
  Scaling scaling = Scaling::kStandard;
  int64_t max_train_samples = 0;  // 0 = all (HF scripts' --max_train_samples)
  int64_t max_eval_samples = 0;
  int num_classes = 0;      // 0 = infer from labels; else labels < num_classes <= kMaxClasses
  uint64_t split_seed = 0;  // shuffles CSV rows before holding out eval_fraction
};

// Parses and validates the `data` object; `key_path` (e.g. "data") prefixes error messages.
// Relative paths are resolved against `base_dir` (the config file's folder).
DataConfig parse_data_config(const nlohmann::json& j, const std::string& base_dir,
                             const std::string& key_path = "data");

struct DataSplit {
  Dataset train;
  Dataset eval;
};

// Loads both splits, applies max_*_samples and scaling (fitted on train, applied to both).
// Throws UserError naming the file and the line (CSV) or byte offset (IDX) on bad data.
DataSplit load_data(const DataConfig& config);

// What the trials train and evaluate on, as one line: each split's shape and the CRC-32 of its
// loaded values and labels (after max_*_samples and scaling). A study records it, so that a
// resume, or a worker, whose data files hold other values is refused. ~0.1 s per 200 MB.
std::string data_digest(const DataSplit& data);

// Individual readers (exposed for tests). Files may be gzipped or plain (zlib reads both).
// IDX images: magic 0x00000803, uint8 pixels -> float, shape [n, rows*cols].
Dataset read_idx_images(const std::string& path);
// IDX labels: magic 0x00000801, uint8 labels.
std::vector<int32_t> read_idx_labels(const std::string& path);
// CSV with numeric features; the label column holds non-negative integers or strings
// (strings map to classes in sorted order).
Dataset read_csv(const std::string& path, bool header, const std::string& label_column);

// Fits scaling on `train` and applies it to both (eval may be null).
void apply_scaling(Scaling scaling, Dataset* train, Dataset* eval);

Scaling parse_scaling(const std::string& name, const std::string& key_path);
const char* scaling_name(Scaling scaling);

}  // namespace cusweep
