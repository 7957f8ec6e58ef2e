#pragma once
// The building blocks every eshift model is made of, so that each model takes the weight family
// (--wnorm) and the feature normalization (--norm) the same way:
//   make_conv   a conv of the spec's family (WS, WN, CWN or plain), bias-free, "same" padding; grouped
//               (groups > 1) and depthwise (groups == in) convs too, so every conv of a model has the
//               family (nn/param_roles.h gives a depthwise weight its own role)
//   make_norm   BatchNorm2d or GroupNorm after it
//   apply_norm  norm(x), BatchNorm through the fused kernels too (without activation)
//   norm_relu   relu(norm(x) [+ residual]), BatchNorm through the fused kernels (nn/batch_norm_act.h)
//   (with --sync-bn, BatchNorm in training mode takes its statistics over every process:
//   nn/sync_batch_norm.h)
//   init_convs  He initialization of every conv (fan_out, ReLU); WN/CWN gains follow their direction
#include <torch/torch.h>

#include "eshift/models/model_spec.h"

namespace eshift {

torch::nn::AnyModule make_conv(const ModelSpec& spec, int64_t in, int64_t out, int64_t kernel, int64_t stride,
                               int64_t groups = 1);
torch::nn::AnyModule make_norm(const ModelSpec& spec, int64_t channels);
torch::Tensor apply_norm(torch::nn::AnyModule& norm, const torch::Tensor& x);
torch::Tensor norm_relu(torch::nn::AnyModule& norm, const torch::Tensor& x, const torch::Tensor& residual = {});
void init_convs(torch::nn::Module& model);

}  // namespace eshift
