// CUDA test cases skip, with the reason, where no CUDA device answers. On a GPU machine a skip
// would hide a broken setup (no driver, a CPU-only build, missing data) behind "100% passed",
// so scripts/gpu-check.sh sets CUSWEEP_REQUIRE_CUDA=1 and the same cases fail instead.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

namespace cusweep {

inline bool cuda_required() {
  const char* v = std::getenv("CUSWEEP_REQUIRE_CUDA");
  return v != nullptr && std::strcmp(v, "1") == 0;
}

}  // namespace cusweep

// Returns from the test (or SetUp) either way.
#define CUSWEEP_SKIP_WITHOUT_CUDA(message)                                   \
  do {                                                                       \
    if (::cusweep::cuda_required()) {                                        \
      FAIL() << message << " (CUSWEEP_REQUIRE_CUDA=1: a skip is a failure)"; \
    } else {                                                                 \
      GTEST_SKIP() << message;                                               \
    }                                                                        \
  } while (0)
