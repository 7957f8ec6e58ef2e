#pragma once
// Dynamic loss scaling for float16 mixed precision, with the semantics of PyTorch's
// torch.amp.GradScaler (LibTorch's C++ API has none):
//   backward runs on loss · s (s = 2^16 at first), so small float16 gradients do not underflow;
//   before the optimizer step every gradient is multiplied by 1/s and checked: if any element is
//   inf or NaN the step is skipped and s ← s · backoff (½); otherwise the step is taken, and after
//   `growth_interval` (2000) consecutive taken steps s ← s · growth (2).
// Parameters, gradients and optimizer state stay float32: the regularizer sees unscaled gradients.
// The arithmetic is ATen's _amp_foreach_non_finite_check_and_unscale_ and _amp_update_scale_ where
// the LibTorch in use has kernels for the gradients' device (CUDA; CPU from 2.x), the same by hand
// otherwise (1.13 on CPU).
#include <torch/torch.h>

#include <cstdint>

namespace eshift {

struct GradScalerOptions {
  TORCH_ARG(double, init_scale) = 65536.0;
  TORCH_ARG(double, growth_factor) = 2.0;
  TORCH_ARG(double, backoff_factor) = 0.5;
  TORCH_ARG(int64_t, growth_interval) = 2000;
};

class GradScaler {
 public:
  explicit GradScaler(GradScalerOptions options = {});

  // loss · s, for backward.
  torch::Tensor scale(const torch::Tensor& loss);
  // Divides every gradient of the optimizer's parameters by s in place and records whether any is
  // inf or NaN. Once per step, before step().
  void unscale(torch::optim::Optimizer& optimizer);
  // Takes the optimizer's step unless the unscaled gradients held inf or NaN; then updates s.
  // Returns whether the step was taken.
  bool step(torch::optim::Optimizer& optimizer);

  double current_scale() const;
  int64_t growth_tracker() const;      // taken steps since s last changed
  int64_t skipped_steps() const { return skipped_; }  // over the whole run (kept in checkpoints)
  const GradScalerOptions& options() const { return options_; }

  void save(torch::serialize::OutputArchive& archive) const;
  void load(torch::serialize::InputArchive& archive);

 private:
  void ensure_state(const torch::Device& device);

  GradScalerOptions options_;
  torch::Tensor scale_;           // float32 [1], on the gradients' device
  torch::Tensor growth_tracker_;  // int32 [1]
  torch::Tensor found_inf_;       // float32 [1]: 1 when this step's gradients held inf/NaN
  bool unscaled_ = false;
  int64_t skipped_ = 0;
};

}  // namespace eshift
