// Backends: where trials run (the CPU, or a CUDA device) and the data they share.
// Internal header; the CLI and runner choose a backend through make_backend().
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cusweep/dataset.h"
#include "slot.h"

namespace cusweep {

// One split in slot memory, shared read-only by every trial on the backend.
struct SplitView {
  const float* features = nullptr;  // [rows, cols]
  const int32_t* labels = nullptr;  // [rows]
  int64_t rows = 0;
  int64_t cols = 0;
  int num_classes = 0;
};

struct DataView {
  SplitView train;
  SplitView eval;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;  // "cpu" or "cuda"
  virtual std::string description() const = 0;
  // Makes the one copy of the data this backend's slots read (none on the CPU: the host
  // arrays are used in place, so `data` must outlive the backend).
  virtual DataView share_data(const DataSplit& data) = 0;
  // A new slot; each is used by one runner thread at a time.
  virtual std::unique_ptr<Slot> make_slot(int index) = 0;
};

// What this build and machine can run on, for --version / `cusweep devices` and --backend auto.
struct BackendProbe {
  bool cuda_compiled = false;
  bool cuda_usable = false;
  std::string cuda_reason;           // why not usable (driver missing, no device, ...)
  std::vector<std::string> devices;  // "cuda:0 NVIDIA H200 (sm_90, 139 GiB)"
  std::string blas;                  // CPU BLAS in use and its kernel choice
};

BackendProbe probe_backends();

// `requested` is "auto", "cpu" or "cuda". "auto" takes CUDA when a device answers, else the
// CPU, logging one line saying why. "cuda" without a usable device is a UserError.
// `named_by`: where the request came from, for the message when it cannot be met
// ("--backend", or the config file and key).
std::unique_ptr<Backend> make_backend(const std::string& requested,
                                      const std::string& named_by = "--backend");

std::unique_ptr<Backend> make_cpu_backend();

// Turns at computing on the CPU and the epoch workspaces that go with them, shared by CPU slots
// (Slot::begin_epoch_work): `at_once` epochs compute at a time, in the order they asked.
class CpuWorkTurns;
std::shared_ptr<CpuWorkTurns> make_cpu_work_turns(int at_once);
// The process's: one turn per core it may run on.
std::shared_ptr<CpuWorkTurns> process_cpu_work_turns();
int cpu_work_turns_at_once(const CpuWorkTurns& turns);
int cpu_work_turns_waiting(const CpuWorkTurns& turns);  // epochs waiting for a turn now
std::unique_ptr<Slot> make_cpu_slot(int index,
                                    std::shared_ptr<CpuWorkTurns> turns = process_cpu_work_turns());

}  // namespace cusweep
