// The tests' main: the OpenBLAS kernels cusweep runs (blas_kernels.h), then GoogleTest.
#include <gtest/gtest.h>

#include "blas_kernels.h"

int main(int argc, char** argv) {
  cusweep::choose_blas_kernels(argv);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
