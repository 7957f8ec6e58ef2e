#include "eshift/analysis/runtime_info.h"

#include <torch/torch.h>

#include <fstream>
#include <iterator>
#include <sstream>

namespace eshift {

namespace {
// The text after `key` up to the first character in `stop` (or the end); empty when `key` is absent.
std::string after(const std::string& text, const std::string& key, const std::string& stop) {
  const size_t at = text.find(key);
  if (at == std::string::npos) return "";
  const size_t begin = at + key.size();
  return text.substr(begin, text.find_first_of(stop, begin) - begin);
}

std::string or_unknown(const std::string& value) { return value.empty() ? "unknown" : value; }

// Whether the whitespace-separated `flags` hold `flag`.
bool has_flag(const std::string& flags, const std::string& flag) {
  std::istringstream in(flags);
  std::string word;
  while (in >> word)
    if (word == flag) return true;
  return false;
}

std::string trim(std::string s) {
  const size_t begin = s.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(" \t") + 1 - begin);
}
}  // namespace

RuntimeInfo parse_runtime_info(const std::string& config, const std::string& cpuinfo) {
  RuntimeInfo info;
  // oneDNN calls itself "MKL-DNN" in LibTorch's configuration text (1.13 and 2.x alike)
  std::string onednn = after(config, "MKL-DNN v", " \n");
  if (onednn.empty()) onednn = after(config, "oneDNN v", " \n");
  info.onednn = or_unknown(onednn);
  info.blas = or_unknown(after(config, "BLAS_INFO=", ", \n"));
  info.cpu_capability = or_unknown(trim(after(config, "CPU capability usage:", "\n")));
  info.libtorch = or_unknown(after(config, "TORCH_VERSION=", ", \n"));
  const std::string cuda = after(config, "CUDA_VERSION=", ", \n"), cudnn = after(config, "CUDNN_VERSION=", ", \n");
  if (!cuda.empty()) info.cuda = cuda;
  if (!cudnn.empty()) info.cudnn = cudnn;
  // /proc/cpuinfo: the first processor's model name and flags
  info.cpu = or_unknown(trim(after(cpuinfo, "model name\t: ", "\n")));
  if (info.cpu == "unknown") info.cpu = or_unknown(trim(after(cpuinfo, "model name: ", "\n")));
  std::string flags = after(cpuinfo, "\nflags\t\t: ", "\n");
  if (flags.empty()) flags = after(cpuinfo, "flags\t\t: ", "\n");
  info.avx512 = has_flag(flags, "avx512f");
  info.avx512_bf16 = has_flag(flags, "avx512_bf16");
  info.amx_bf16 = has_flag(flags, "amx_bf16");
  return info;
}

RuntimeInfo runtime_info() {
  std::ifstream in("/proc/cpuinfo");
  const std::string cpuinfo((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  RuntimeInfo info = parse_runtime_info(at::show_config(), cpuinfo);
  info.libtorch = TORCH_VERSION;  // the headers eshift was built with (1.13's configuration text omits it)
  info.gpus = torch::cuda::is_available() ? int64_t(torch::cuda::device_count()) : 0;
  return info;
}

std::string RuntimeInfo::line() const {
  auto yes = [](bool b) { return b ? "yes" : "no"; };
  return "LibTorch " + libtorch + " (oneDNN " + onednn + ", BLAS " + blas + ", ATen CPU " + cpu_capability + "); CPU " +
         cpu + ": AVX-512 " + yes(avx512) + ", AVX-512 BF16 " + yes(avx512_bf16) + ", AMX " + yes(amx_bf16) +
         "; CUDA " + cuda + ", cuDNN " + cudnn + ", " + std::to_string(gpus) + " GPUs";
}

}  // namespace eshift
