// Classification metrics on hand-computed confusion matrices. Every expected value is worked
// out in the comments and was cross-checked with sklearn's precision_recall_fscore_support
// (zero_division=0) on the equivalent y_true / y_pred.
#include <gtest/gtest.h>

#include "cusweep/error.h"
#include "cusweep/metrics.h"

namespace cusweep {
namespace {

constexpr double kTol = 1e-12;

ConfusionMatrix matrix(int n, std::vector<int64_t> counts) {
  ConfusionMatrix cm;
  cm.num_classes = n;
  cm.counts = std::move(counts);
  return cm;
}

void expect_metrics(const ClassificationMetrics& m, double accuracy, double precision,
                    double recall, double f1) {
  EXPECT_NEAR(m.accuracy, accuracy, kTol);
  EXPECT_NEAR(m.precision, precision, kTol);
  EXPECT_NEAR(m.recall, recall, kTol);
  EXPECT_NEAR(m.f1, f1, kTol);
}

// rows = true class, columns = predicted class
//   [[5, 2],
//    [1, 4]]   total 12, trace 9 -> accuracy 3/4
// class 0: tp 5, fp 1, fn 2 -> P 5/6, R 5/7, F1 2*5/(10+1+2) = 10/13, support 7
// class 1: tp 4, fp 2, fn 1 -> P 2/3, R 4/5, F1 2*4/(8+2+1) = 8/11,  support 5
ConfusionMatrix two_class() {
  return matrix(2, {5, 2, 1, 4});
}

TEST(Metrics, TotalSumsEveryCell) {
  EXPECT_EQ(two_class().total(), 12);
  EXPECT_EQ(matrix(0, {}).total(), 0);
}

TEST(Metrics, TwoClassMacro) {
  // P (5/6 + 2/3)/2 = 3/4; R (5/7 + 4/5)/2 = 53/70; F1 (10/13 + 8/11)/2 = 107/143.
  expect_metrics(compute_metrics(two_class(), Average::kMacro), 0.75, 0.75, 53.0 / 70, 107.0 / 143);
}

TEST(Metrics, TwoClassWeighted) {
  // P (7*5/6 + 5*2/3)/12 = 55/72; R (5 + 4)/12 = 3/4; F1 (7*10/13 + 5*8/11)/12 = 215/286.
  expect_metrics(compute_metrics(two_class(), Average::kWeighted), 0.75, 55.0 / 72, 0.75,
                 215.0 / 286);
}

TEST(Metrics, TwoClassMicroEqualsAccuracy) {
  // Summed tp 9, fp 3, fn 3: P = R = F1 = 9/12.
  expect_metrics(compute_metrics(two_class(), Average::kMicro), 0.75, 0.75, 0.75, 0.75);
}

// Class 2 has two true samples but is never predicted:
//   [[3, 1, 0],
//    [1, 2, 0],
//    [1, 1, 0]]   total 9, trace 5 -> accuracy 5/9
// class 0: tp 3, fp 2, fn 1 -> P 3/5, R 3/4, F1 6/9 = 2/3, support 4
// class 1: tp 2, fp 2, fn 1 -> P 1/2, R 2/3, F1 4/7,       support 3
// class 2: tp 0, fp 0, fn 2 -> P 0 (0/0, zero_division), R 0, F1 0, support 2
ConfusionMatrix never_predicted() {
  return matrix(3, {3, 1, 0, 1, 2, 0, 1, 1, 0});
}

TEST(Metrics, ClassNeverPredictedHasPrecisionZero) {
  // Macro: P (3/5 + 1/2 + 0)/3 = 11/30; R (3/4 + 2/3 + 0)/3 = 17/36; F1 (2/3 + 4/7)/3 = 26/63.
  expect_metrics(compute_metrics(never_predicted(), Average::kMacro), 5.0 / 9, 11.0 / 30, 17.0 / 36,
                 26.0 / 63);
  // Weighted (4, 3, 2)/9: P (4*3/5 + 3/2)/9 = 13/30; R (3 + 2)/9 = 5/9;
  // F1 (4*2/3 + 3*4/7)/9 = 92/189.
  expect_metrics(compute_metrics(never_predicted(), Average::kWeighted), 5.0 / 9, 13.0 / 30,
                 5.0 / 9, 92.0 / 189);
  // Micro: tp 5, fp 4, fn 4 -> 5/9.
  expect_metrics(compute_metrics(never_predicted(), Average::kMicro), 5.0 / 9, 5.0 / 9, 5.0 / 9,
                 5.0 / 9);
}

// Class 1 has no true samples but is predicted twice:
//   [[2, 1, 0],
//    [0, 0, 0],
//    [0, 1, 3]]   total 7, trace 5 -> accuracy 5/7
// class 0: tp 2, fp 0, fn 1 -> P 1, R 2/3, F1 4/5, support 3
// class 1: tp 0, fp 2, fn 0 -> P 0, R 0 (0/0), F1 0, support 0 (still a label: predicted)
// class 2: tp 3, fp 0, fn 1 -> P 1, R 3/4, F1 6/7, support 4
ConfusionMatrix no_true_samples() {
  return matrix(3, {2, 1, 0, 0, 0, 0, 0, 1, 3});
}

TEST(Metrics, ClassWithNoTrueSamplesHasRecallZeroAndWeightZero) {
  // Macro over 3 labels: P 2/3; R (2/3 + 3/4)/3 = 17/36; F1 (4/5 + 6/7)/3 = 58/105.
  expect_metrics(compute_metrics(no_true_samples(), Average::kMacro), 5.0 / 7, 2.0 / 3, 17.0 / 36,
                 58.0 / 105);
  // Weighted (3, 0, 4)/7: P (3 + 4)/7 = 1; R (2 + 3)/7 = 5/7; F1 (3*4/5 + 4*6/7)/7 = 204/245.
  expect_metrics(compute_metrics(no_true_samples(), Average::kWeighted), 5.0 / 7, 1.0, 5.0 / 7,
                 204.0 / 245);
  // Micro: tp 5, fp 2, fn 2 -> 5/7.
  expect_metrics(compute_metrics(no_true_samples(), Average::kMicro), 5.0 / 7, 5.0 / 7, 5.0 / 7,
                 5.0 / 7);
}

TEST(Metrics, ClassAbsentFromBothSidesTakesNoPartInMacro) {
  //   [[2, 1, 0],
  //    [1, 3, 0],
  //    [0, 0, 0]]   class 2 is neither true nor predicted: labels are {0, 1}.
  // class 0: tp 2, fp 1, fn 1 -> 2/3 each; class 1: tp 3, fp 1, fn 1 -> 3/4 each.
  // Macro (2/3 + 3/4)/2 = 17/24 (a third label at 0 would give 17/36).
  const ConfusionMatrix cm = matrix(3, {2, 1, 0, 1, 3, 0, 0, 0, 0});
  expect_metrics(compute_metrics(cm, Average::kMacro), 5.0 / 7, 17.0 / 24, 17.0 / 24, 17.0 / 24);
  // Weighted (3, 4)/7: (3*2/3 + 4*3/4)/7 = 5/7.
  expect_metrics(compute_metrics(cm, Average::kWeighted), 5.0 / 7, 5.0 / 7, 5.0 / 7, 5.0 / 7);
}

TEST(Metrics, EmptyMatrixIsAllZero) {
  for (Average a : {Average::kWeighted, Average::kMacro, Average::kMicro}) {
    expect_metrics(compute_metrics(matrix(0, {}), a), 0, 0, 0, 0);
    expect_metrics(compute_metrics(matrix(3, std::vector<int64_t>(9, 0)), a), 0, 0, 0, 0);
  }
}

TEST(Metrics, PerfectPredictionsScoreOne) {
  for (Average a : {Average::kWeighted, Average::kMacro, Average::kMicro}) {
    expect_metrics(compute_metrics(matrix(2, {3, 0, 0, 7}), a), 1, 1, 1, 1);
  }
}

TEST(Metrics, MatrixOfTheWrongSizeIsRejected) {
  EXPECT_THROW(compute_metrics(matrix(3, {1, 2, 3, 4}), Average::kMacro), std::invalid_argument);
}

TEST(Metrics, ParseAverageRoundTrips) {
  for (Average a : {Average::kWeighted, Average::kMacro, Average::kMicro}) {
    EXPECT_EQ(parse_average(average_name(a), "metric.average"), a);
  }
}

TEST(Metrics, ParseAverageErrorNamesKeyValueAndChoices) {
  try {
    parse_average("makro", "metrics.average");
    FAIL() << "expected UserError";
  } catch (const UserError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("metrics.average"), std::string::npos) << what;
    EXPECT_NE(what.find("'makro'"), std::string::npos) << what;
    EXPECT_NE(what.find("weighted, macro, micro"), std::string::npos) << what;
    EXPECT_NE(what.find("did you mean 'macro'"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace cusweep
