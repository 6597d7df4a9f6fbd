// The test binary's main: the same BLAS check as every other binary (core/platform/blas_dispatch.h),
// so tests compute with the kernels production would use, then GoogleTest.
#include <gtest/gtest.h>

#include "core/platform/blas_dispatch.h"

int main(int argc, char** argv) {
  promptintern::ConfigureBlasForCpu(argc, argv, "promptintern_tests");
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
