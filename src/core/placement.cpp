#include "eshift/core/placement.h"

#include <memory>
#include <stdexcept>

namespace eshift {

torch::Device parse_device(const std::string& name) {
  std::unique_ptr<torch::Device> device;
  try {
    device = std::make_unique<torch::Device>(name);
  } catch (const std::exception&) {
    throw std::invalid_argument("unknown --device '" + name + "' (cpu, cuda or cuda:N)");
  }
  if (device->is_cuda() && !torch::cuda::is_available())
    throw std::invalid_argument("--device " + name + ": CUDA is not available in this LibTorch build or machine");
  if (!device->is_cpu() && !device->is_cuda()) throw std::invalid_argument("unsupported --device '" + name + "'");
  return *device;
}

torch::ScalarType parse_dtype(const std::string& name) {
  if (name == "float32") return torch::kFloat;
  if (name == "float64") return torch::kDouble;
  throw std::invalid_argument("unknown --dtype '" + name + "' (float32 or float64)");
}

void Placement::place(torch::nn::Module& model) const {
  model.to(device);
  if (dtype != torch::kFloat) model.to(dtype);  // floating parameters and buffers only
  if (!channels_last) return;
  torch::NoGradGuard no_grad;
  for (auto& p : model.parameters())
    if (p.dim() == 4) p.set_data(p.data().contiguous(torch::MemoryFormat::ChannelsLast));
  for (auto& b : model.buffers())
    if (b.dim() == 4) b.set_data(b.data().contiguous(torch::MemoryFormat::ChannelsLast));
}

torch::Tensor Placement::input(const torch::Tensor& x) const {
  auto out = x.to(device, x.is_floating_point() ? dtype : x.scalar_type());
  return channels_last && out.dim() == 4 ? out.contiguous(torch::MemoryFormat::ChannelsLast) : out;
}

}  // namespace eshift
