// CUDA against the CPU reference: the same trial trained on both backends must agree within
// float tolerance. Skips with the reason when no CUDA device answers (GPU tests carry the
// "Cuda" suite name so CI can filter on them).
#include <gtest/gtest.h>

#include <filesystem>

#include "backend.h"
#include "cusweep/config.h"
#include "trainer.h"

namespace cusweep {
namespace {

TEST(CudaTest, TrainingAgreesWithTheCpuBackend) {
  const BackendProbe probe = probe_backends();
  if (!probe.cuda_usable) GTEST_SKIP() << "no usable CUDA device: " << probe.cuda_reason;
  if (!std::filesystem::exists("/usr/share/datasets/fashion-mnist")) {
    GTEST_SKIP() << "no Fashion-MNIST: apt-get install dataset-fashion-mnist";
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
    results.push_back(trainer.run_epoch(2));
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

}  // namespace
}  // namespace cusweep
