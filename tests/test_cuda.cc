// CUDA against the CPU reference: the same trial trained on both backends must agree within
// float tolerance. Skips with the reason when no CUDA device answers (GPU tests carry the
// "Cuda" suite name so CI can filter on them).
#include <gtest/gtest.h>

#include <filesystem>

#include "backend.h"
#include "cuda_required.h"
#include "cusweep/config.h"
#include "trainer.h"

namespace cusweep {
namespace {

TEST(CudaTest, TrainingAgreesWithTheCpuBackend) {
  const BackendProbe probe = probe_backends();
  if (!probe.cuda_usable) CUSWEEP_SKIP_WITHOUT_CUDA("no usable CUDA device: " << probe.cuda_reason);
  if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist")) {
    CUSWEEP_SKIP_WITHOUT_CUDA("no Fashion-MNIST: apt-get install dataset-fashion-mnist");
  }
  DataConfig dc = parse_data_config({{"format", "idx"},
                                     {"dir", "/usr/share/datasets/fashion-mnist"},
                                     {"scaling", "unit"},
                                     {"max_train_samples", 4096},
                                     {"max_eval_samples", 1024}},
                                    ".");
  const DataSplit data = load_data(dc);
  const TrialParams params = make_trial_params(
      {{"hidden_sizes", {64, 32}}, {"activation", "gelu"}},
      {{"num_train_epochs", 2}, {"learning_rate", 3e-3}, {"per_device_train_batch_size", 100}},
      nlohmann::json::object());

  std::vector<Evaluation> results;
  for (const char* name : {"cpu", "cuda"}) {
    std::unique_ptr<Backend> backend = make_backend(name);
    const DataView view = backend->share_data(data);
    std::unique_ptr<Slot> slot = backend->make_slot(0);
    Trainer trainer(*slot, view, params);
    trainer.run_epoch(1);
    results.push_back(trainer.run_epoch(2).front());
  }
  // Summation order differs (cuBLAS vs OpenBLAS kernels): losses agree to ~1e-3 relative
  // after 82 steps; a handful of borderline predictions may flip.
  EXPECT_NEAR(results[1].eval_loss, results[0].eval_loss, 2e-3 * results[0].eval_loss);
  EXPECT_NEAR(results[1].train_loss, results[0].train_loss, 2e-3 * results[0].train_loss);
  int64_t differing = 0;
  for (size_t i = 0; i < results[0].confusion.counts.size(); ++i) {
    differing += std::abs(results[0].confusion.counts[i] - results[1].confusion.counts[i]);
  }
  EXPECT_LE(differing, 20) << "confusion matrices differ in " << differing << " counts";
}

// cublasSgemmStridedBatched may pick other kernels than cublasSgemm: fused trials agree with
// unfused ones within float tolerance on CUDA (bit for bit on the CPU, test_sweep.cc).
TEST(CudaTest, FusedTrialsAgreeWithUnfusedTrials) {
  const BackendProbe probe = probe_backends();
  if (!probe.cuda_usable) CUSWEEP_SKIP_WITHOUT_CUDA("no usable CUDA device: " << probe.cuda_reason);
  if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist")) {
    CUSWEEP_SKIP_WITHOUT_CUDA("no Fashion-MNIST: apt-get install dataset-fashion-mnist");
  }
  const DataSplit data = load_data(parse_data_config({{"format", "idx"},
                                                      {"dir", "/usr/share/datasets/fashion-mnist"},
                                                      {"scaling", "unit"},
                                                      {"max_train_samples", 4096},
                                                      {"max_eval_samples", 1024}},
                                                     "."));
  std::vector<TrialParams> group;
  for (double lr : {1e-3, 2e-3, 4e-3, 8e-3}) {
    group.push_back(make_trial_params({{"hidden_sizes", {64}}},
                                      {{"num_train_epochs", 1}, {"learning_rate", lr}},
                                      nlohmann::json::object()));
  }
  std::unique_ptr<Backend> backend = make_backend("cuda");
  const DataView view = backend->share_data(data);
  std::unique_ptr<Slot> slot = backend->make_slot(0);
  Trainer fused(*slot, view, group);
  const std::vector<Evaluation> together = fused.run_epoch(1);
  for (size_t t = 0; t < group.size(); ++t) {
    Trainer alone(*slot, view, group[t]);
    const Evaluation e = alone.run_epoch(1).front();
    // cuBLAS may split the sum over k differently for a batch of 4 than for 1, and 64 AdamW
    // steps carry the rounding on: 1e-3 relative, half the cross-backend test's bound.
    EXPECT_NEAR(together[t].eval_loss, e.eval_loss, 1e-3 * e.eval_loss) << "trial " << t;
    EXPECT_NEAR(together[t].train_loss, e.train_loss, 1e-3 * e.train_loss) << "trial " << t;
  }
}

}  // namespace
}  // namespace cusweep
