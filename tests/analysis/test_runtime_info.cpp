// The runtime line of eshift bench: LibTorch's configuration text and /proc/cpuinfo read as they
// are written (LibTorch 2.15's and 1.13's texts, an AMX CPU's and an older one's flags), and
// whatever cannot be read left "unknown" rather than guessed.
#include <gtest/gtest.h>

#include "eshift/analysis/runtime_info.h"

using namespace eshift;

namespace {
// Excerpts of at::show_config(): pip's LibTorch 2.15 (CUDA build) and Debian's 1.13.
const char* kPip2 =
    "PyTorch built with:\n  - GCC 13.3\n  - Intel(R) MKL-DNN v3.13.3 (Git Hash b38f97eb)\n"
    "  - OpenMP 201511 (a.k.a. OpenMP 4.5)\n  - CPU capability usage: AVX512\n"
    "  - Build settings: BLAS_INFO=mkl, BUILD_TYPE=Release, CUDA_VERSION=13.2, CUDNN_VERSION=9.26.0, "
    "TORCH_VERSION=2.15.0, USE_CUDA=1, \n";
const char* kDebian113 =
    "PyTorch built with:\n  - GCC 12.2\n  - Intel(R) MKL-DNN v2.7.3 (Git Hash N/A)\n"
    "  - CPU capability usage: AVX2\n  - Build settings: BLAS_INFO=open, BUILD_TYPE=Release, USE_CUDA=OFF, \n";
const char* kSapphireRapids =
    "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Platinum 8488C\n"
    "flags\t\t: fpu vme avx2 avx512f avx512bw avx512_bf16 amx_bf16 amx_tile amx_int8\n\nprocessor\t: 1\n";
const char* kOlder = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) CPU E5-2686 v4\nflags\t\t: fpu avx avx2 fma\n";
}  // namespace

TEST(RuntimeInfo, ReadsLibTorchsConfigurationAndTheCpusFlags) {
  const auto pip = parse_runtime_info(kPip2, kSapphireRapids);
  EXPECT_EQ(pip.libtorch, "2.15.0");
  EXPECT_EQ(pip.onednn, "3.13.3");
  EXPECT_EQ(pip.blas, "mkl");
  EXPECT_EQ(pip.cpu_capability, "AVX512");
  EXPECT_EQ(pip.cuda, "13.2");
  EXPECT_EQ(pip.cudnn, "9.26.0");
  EXPECT_EQ(pip.cpu, "Intel(R) Xeon(R) Platinum 8488C");
  EXPECT_TRUE(pip.avx512 && pip.avx512_bf16 && pip.amx_bf16);
  EXPECT_EQ(pip.line(),
            "LibTorch 2.15.0 (oneDNN 3.13.3, BLAS mkl, ATen CPU AVX512); CPU Intel(R) Xeon(R) Platinum 8488C: "
            "AVX-512 yes, AVX-512 BF16 yes, AMX yes; CUDA 13.2, cuDNN 9.26.0, 0 GPUs");

  const auto debian = parse_runtime_info(kDebian113, kOlder);
  EXPECT_EQ(debian.libtorch, "unknown");  // 1.13's text does not say (runtime_info() uses the headers')
  EXPECT_EQ(debian.onednn, "2.7.3");
  EXPECT_EQ(debian.blas, "open");
  EXPECT_EQ(debian.cpu_capability, "AVX2");
  EXPECT_EQ(debian.cuda, "none");
  EXPECT_FALSE(debian.avx512 || debian.avx512_bf16 || debian.amx_bf16);
}

TEST(RuntimeInfo, WhatCannotBeReadStaysUnknown) {
  for (const char* config : {"", "garbage", "MKL-DNN v", "BLAS_INFO=", "CPU capability usage:"}) {
    const auto info = parse_runtime_info(config, "flags\t\t: avx512_bf16x amx");  // no whole flag matches
    EXPECT_EQ(info.onednn, "unknown") << config;
    EXPECT_EQ(info.blas, "unknown") << config;
    EXPECT_EQ(info.cpu_capability, "unknown") << config;
    EXPECT_EQ(info.cpu, "unknown") << config;
    EXPECT_FALSE(info.avx512_bf16 || info.amx_bf16) << config;
  }
}

TEST(RuntimeInfo, ThisProcessNamesTheLibTorchItWasBuiltWith) {
  const auto info = runtime_info();
  EXPECT_EQ(info.libtorch, TORCH_VERSION);
  EXPECT_NE(info.onednn, "unknown");  // both supported LibTorchs are built with oneDNN
}
