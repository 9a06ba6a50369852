// Precision, recall, F1 and accuracy from a confusion matrix, computed the way scikit-learn's
// precision_recall_fscore_support (zero_division=0, labels=None) and accuracy_score do.
#include "cusweep/metrics.h"

#include <stdexcept>

#include "cusweep/error.h"

namespace cusweep {
namespace {

// The counts one class contributes; fp and fn come from the column and row sums.
struct ClassCounts {
  int64_t tp = 0;
  int64_t fp = 0;
  int64_t fn = 0;
  int64_t support = 0;   // number of true samples of the class
  bool present = false;  // in y_true or y_pred: only these classes take part in averages
};

// zero_division=0: an undefined ratio (0/0) counts as 0, as scikit-learn does.
double safe_ratio(double num, double den) {
  return den > 0 ? num / den : 0.0;
}

// The harmonic mean of precision and recall; 0 when both are 0.
double f1_of(double precision, double recall) {
  return safe_ratio(2.0 * precision * recall, precision + recall);
}

std::vector<ClassCounts> class_counts(const ConfusionMatrix& cm) {
  const size_t n = static_cast<size_t>(cm.num_classes);
  if (cm.num_classes < 0 || cm.counts.size() != n * n) {
    throw std::invalid_argument("confusion matrix with " + std::to_string(cm.num_classes) +
                                " classes holds " + std::to_string(cm.counts.size()) +
                                " counts, expected num_classes^2");
  }
  std::vector<ClassCounts> classes(n);
  for (int t = 0; t < cm.num_classes; ++t) {
    for (int p = 0; p < cm.num_classes; ++p) {
      const int64_t c = cm.at(t, p);
      classes[t].support += c;
      if (t == p) {
        classes[t].tp += c;
      } else {
        classes[t].fn += c;
        classes[p].fp += c;
      }
    }
  }
  for (auto& k : classes)
    k.present = k.support > 0 || k.tp + k.fp > 0;
  return classes;
}

}  // namespace

int64_t ConfusionMatrix::total() const {
  int64_t sum = 0;
  for (int64_t c : counts)
    sum += c;
  return sum;
}

Average parse_average(const std::string& name, const std::string& key_path) {
  if (name == "weighted") return Average::kWeighted;
  if (name == "macro") return Average::kMacro;
  if (name == "micro") return Average::kMicro;
  const std::string key = key_path.empty() ? "average" : key_path;
  throw UserError(key + ": unknown average '" + name + "'; allowed: weighted, macro, micro." +
                      did_you_mean(name, {"weighted", "macro", "micro"}),
                  "weighted matches HF examples' f1(average=\"weighted\"); macro treats every "
                  "class equally; micro equals accuracy for single-label classification");
}

const char* average_name(Average average) {
  switch (average) {
    case Average::kWeighted:
      return "weighted";
    case Average::kMacro:
      return "macro";
    case Average::kMicro:
      return "micro";
  }
  throw std::invalid_argument("average_name: invalid Average value");
}

ClassificationMetrics compute_metrics(const ConfusionMatrix& cm, Average average) {
  const std::vector<ClassCounts> classes = class_counts(cm);
  ClassificationMetrics m;

  int64_t trace = 0;
  for (int c = 0; c < cm.num_classes; ++c)
    trace += cm.at(c, c);
  m.accuracy = safe_ratio(static_cast<double>(trace), static_cast<double>(cm.total()));

  if (average == Average::kMicro) {
    int64_t tp = 0, fp = 0, fn = 0;
    for (const auto& k : classes) {
      tp += k.tp;
      fp += k.fp;
      fn += k.fn;
    }
    m.precision = safe_ratio(tp, tp + fp);
    m.recall = safe_ratio(tp, tp + fn);
    // scikit-learn forms micro F1 from the summed counts, not from micro P and R; the two
    // agree, but 2tp/(2tp+fp+fn) avoids a rounding step.
    m.f1 = safe_ratio(2.0 * tp, 2.0 * tp + fp + fn);
    return m;
  }

  // Macro and weighted average the per-class scores (F1 too: it is not recomputed from the
  // averaged P and R, which is what scikit-learn does).
  double weight_sum = 0;
  for (const auto& k : classes) {
    if (!k.present) continue;
    const double precision = safe_ratio(k.tp, k.tp + k.fp);
    const double recall = safe_ratio(k.tp, k.tp + k.fn);
    const double w = average == Average::kWeighted ? static_cast<double>(k.support) : 1.0;
    m.precision += w * precision;
    m.recall += w * recall;
    m.f1 += w * f1_of(precision, recall);
    weight_sum += w;
  }
  m.precision = safe_ratio(m.precision, weight_sum);
  m.recall = safe_ratio(m.recall, weight_sum);
  m.f1 = safe_ratio(m.f1, weight_sum);
  return m;
}

}  // namespace cusweep
