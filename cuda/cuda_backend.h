// The CUDA backend's host-facing entry points. No CUDA header here: host code calls these
// and links cusweep_cuda only when CUSWEEP_HAVE_CUDA is defined.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "backend.h"

namespace cusweep {

// Number of usable devices; 0 with `reason` set when the driver or device is missing
// (cudaErrorInsufficientDriver on machines without a GPU driver).
int cuda_device_count(std::string* reason, std::vector<std::string>* descriptions);

std::unique_ptr<Backend> make_cuda_backend(int device);

}  // namespace cusweep
