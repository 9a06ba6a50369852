// Classification metrics from a confusion matrix, matching scikit-learn's
// precision_recall_fscore_support (zero_division=0) and accuracy_score.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cusweep {

// counts[t * num_classes + p] = number of samples with true class t predicted as p.
struct ConfusionMatrix {
  int num_classes = 0;
  std::vector<int64_t> counts;

  int64_t at(int true_class, int predicted_class) const {
    return counts[static_cast<size_t>(true_class) * num_classes + predicted_class];
  }
  int64_t total() const;
};

enum class Average { kWeighted, kMacro, kMicro };

Average parse_average(const std::string& name, const std::string& key_path);
const char* average_name(Average average);

struct ClassificationMetrics {
  double accuracy = 0;
  double precision = 0;
  double recall = 0;
  double f1 = 0;
};

// Labels taking part in the averages are those present in the true or predicted classes
// (scikit-learn's default `labels=None`). A class never predicted has precision 0; a class
// with no true samples has recall 0 (zero_division=0), and weight 0 under kWeighted.
ClassificationMetrics compute_metrics(const ConfusionMatrix& cm, Average average);

}  // namespace cusweep
