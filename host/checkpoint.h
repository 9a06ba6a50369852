// A trial's checkpoint: what it needs to continue training after an epoch (its parameters,
// optimizer state and step count), as bytes the study keeps beside that epoch's evaluation.
// The format names the model and the trial it belongs to and carries a CRC-32, so a checkpoint
// that does not fit or was damaged is refused with the reason, never loaded into the wrong
// trial.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace cusweep {

// A checkpoint that cannot be used: damaged, or made for another model. The runner then trains
// the trial again from its first epoch.
class CheckpointError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct CheckpointState {
  int epoch = 0;              // the last epoch trained and evaluated
  int64_t step = 0;           // optimizer steps taken
  std::string model;          // what the values belong to: Trainer::fusion_key, or a function
  std::string trial;          // whose they are: the trial's name and searched values
  int64_t param_count = 0;    // per array
  int arrays = 0;             // parameters, then each optimizer state array (AdamW m and v)
  std::vector<float> values;  // [arrays][param_count]
};

// The bytes of a checkpoint: a fixed little-endian header, the model key and the values.
std::string encode_checkpoint(const CheckpointState& state);

// Reads `bytes` back; CheckpointError saying what is wrong (short, damaged, another format).
CheckpointState decode_checkpoint(const std::string& bytes);

}  // namespace cusweep
