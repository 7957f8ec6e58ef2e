#pragma once
// Where tensors live: the device, and the memory format of 4-D tensors. Channels-last (NHWC)
// lets oneDNN run convolutions and batch norm without layout conversions on CPU.
#include <torch/torch.h>

namespace eshift {

struct Placement {
  torch::Device device = torch::kCPU;
  bool channels_last = false;

  // Moves the model to the device and, with channels_last, its 4-D parameters and buffers to NHWC.
  void place(torch::nn::Module& model) const;
  // The batch on the device, NHWC for 4-D input with channels_last.
  torch::Tensor input(const torch::Tensor& x) const;
};

}  // namespace eshift
