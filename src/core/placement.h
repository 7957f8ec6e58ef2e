#pragma once
// Where tensors live: the device, and the memory format of 4-D tensors. Channels-last (NHWC)
// lets oneDNN run convolutions and batch norm without layout conversions on CPU.
#include <torch/torch.h>

#include <string>

namespace eshift {

// "cpu", "cuda", "cuda:1"; throws std::invalid_argument naming --device when unknown or unavailable.
torch::Device parse_device(const std::string& name);

struct Placement {
  torch::Device device = torch::kCPU;
  bool channels_last = false;

  // Moves the model to the device and, with channels_last, its 4-D parameters and buffers to NHWC.
  void place(torch::nn::Module& model) const;
  // The batch on the device, NHWC for 4-D input with channels_last.
  torch::Tensor input(const torch::Tensor& x) const;
};

}  // namespace eshift
