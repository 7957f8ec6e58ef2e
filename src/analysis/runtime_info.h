#pragma once
// What a benchmark ran on, in one line: LibTorch's version and what its kernels use (oneDNN, the
// BLAS, the CPU capability ATen dispatches to), the CPU with the vector extensions that decide
// bfloat16 speed (AVX-512, AVX-512 BF16, AMX), and the CUDA build, cuDNN and GPUs. Figures of two
// runs compare only when their lines match (bench/README.md).
//   "LibTorch 2.15.0 (oneDNN 3.13.3, BLAS mkl, ATen CPU AVX512); CPU AMD EPYC 9R14: AVX-512 yes,
//    AVX-512 BF16 yes, AMX no; CUDA 13.2, cuDNN 9.26.0, 0 GPUs"
#include <cstdint>
#include <string>

namespace eshift {

struct RuntimeInfo {
  std::string libtorch = "unknown", onednn = "unknown", blas = "unknown", cpu_capability = "unknown";
  std::string cpu = "unknown";
  bool avx512 = false, avx512_bf16 = false, amx_bf16 = false;
  std::string cuda = "none", cudnn = "none";  // the CUDA and cuDNN LibTorch was built with
  int64_t gpus = 0;
  std::string line() const;
};

// From at::show_config()'s text and /proc/cpuinfo's (each may be empty or malformed: what cannot be
// read stays "unknown" / false).
RuntimeInfo parse_runtime_info(const std::string& show_config, const std::string& cpuinfo);
// This process's: LibTorch's configuration, /proc/cpuinfo, the GPUs it sees.
RuntimeInfo runtime_info();

}  // namespace eshift
