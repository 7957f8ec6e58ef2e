#pragma once
// Where tensors live: the device, the memory format of 4-D tensors, and the floating dtype of the
// parameters and inputs. Channels-last (NHWC) lets oneDNN run convolutions and batch norm without
// layout conversions on CPU; float64 (--dtype) is for checks at rounding level.
#include <torch/torch.h>

#include <string>

namespace eshift {

// "cpu", "cuda", "cuda:1"; throws std::invalid_argument naming --device when unknown or unavailable.
torch::Device parse_device(const std::string& name);
// "float32" or "float64"; throws std::invalid_argument naming --dtype otherwise.
torch::ScalarType parse_dtype(const std::string& name);

struct Placement {
  torch::Device device = torch::kCPU;
  bool channels_last = false;
  torch::ScalarType dtype = torch::kFloat;  // of parameters, buffers and inputs (float32 or float64)

  // Moves the model to the device and dtype and, with channels_last, its 4-D parameters and buffers to NHWC.
  void place(torch::nn::Module& model) const;
  // The batch on the device in the dtype, NHWC for 4-D input with channels_last.
  torch::Tensor input(const torch::Tensor& x) const;
};

}  // namespace eshift
