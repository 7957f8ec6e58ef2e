#pragma once
// BatchNorm followed by ReLU, optionally with a residual added before the ReLU, as one operation:
//
//   y = relu(γ · (x − μ_B)/sqrt(σ²_B + ε) + β  [+ residual])
//
// or the same without the ReLU (Activation::None: a BatchNorm before an addition, as ResNet's
// projection shortcut).
//
// μ_B and σ²_B are the batch statistics per channel (σ² biased, as BatchNorm normalizes with; the
// running variance is updated with the unbiased one, like torch.nn.BatchNorm2d). The same math as
// `relu(bn(x) + residual)` with LibTorch's ops, in fewer passes over memory: forward reads x once for
// the statistics (accumulated in double) and once to write y; backward recomputes the ReLU mask from
// x instead of reading y, and needs two passes instead of LibTorch's four (without ReLU the
// gradient passes unmasked, and the residual's gradient is the output's).
//
// The fused kernels run for CPU training on 4-D channels-last tensors (eshift's default layout),
// float32 or float64, or bfloat16 activations with float32 parameters (--amp bf16: computed in
// float32, each stored result rounded once to bfloat16). Everything else (eval mode, NCHW, CUDA, no affine/running statistics) runs
// the plain composition of LibTorch's ops. `set_fused_batch_norm_act(false)` forces the plain path
// (for comparison; `eshift bench --no-fused-bn`).
#include <torch/torch.h>

namespace eshift {

enum class Activation { None, ReLU };

// act(bn(x) [+ residual]); `bn` is updated exactly as its own forward would (running statistics,
// num_batches_tracked). `residual` may be undefined (no addition).
torch::Tensor batch_norm_act(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x,
                             const torch::Tensor& residual = {}, Activation activation = Activation::ReLU);

// Whether the fused kernels are used where they apply (default true; process-wide).
void set_fused_batch_norm_act(bool enabled);
bool fused_batch_norm_act_enabled();

}  // namespace eshift
