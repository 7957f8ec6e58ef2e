#pragma once
// Mixed precision (--amp fp16|bf16): forward and loss run under autocast in float16 or bfloat16
// (convolutions and matrix products in the low precision, reductions and losses in float32, as
// LibTorch's autocast lists decide); parameters, gradients, optimizer state and the regularizer's
// step stay float32. float16 adds dynamic loss scaling (optim/grad_scaler.h); bfloat16 has float32's
// exponent range and needs none. On CPU, LibTorch 1.13's autocast runs bfloat16 only.
#include <torch/torch.h>

#include <memory>
#include <optional>
#include <string>

#include "eshift/optim/grad_scaler.h"
#include "eshift/train/execution_policy.h"

namespace eshift {

// Autocast on for one device type and dtype while it lives (nested scopes restore the outer state;
// the cast cache is cleared when the outermost one ends, as torch.autocast does).
class AutocastScope {
 public:
  AutocastScope(at::DeviceType device, at::ScalarType dtype);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  at::DeviceType device_;
  bool was_enabled_;
  at::ScalarType was_dtype_;
};

class MixedPrecisionPolicy : public ExecutionPolicy {
 public:
  // dtype: torch::kHalf (with loss scaling) or torch::kBFloat16.
  MixedPrecisionPolicy(Placement placement, at::ScalarType dtype, GradScalerOptions scaler = {});
  std::string describe() const override;

  std::pair<ModelOutput, torch::Tensor> forward(Model& model, const Task& task, const Batch& batch) const override;
  ModelOutput infer(Model& model, const Batch& batch) const override;
  void backward(const torch::Tensor& loss) override;
  bool step(torch::optim::Optimizer& optimizer, const std::function<void()>& inspect) override;

  // float16: {"loss_scale", s}, {"skipped_steps", steps skipped so far}; bfloat16: none.
  std::vector<std::pair<std::string, double>> stats() const override;
  bool has_state() const override { return scaler_.has_value(); }
  bool skips_overflowing_steps() const override { return scaler_.has_value(); }
  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

  const std::optional<GradScaler>& scaler() const { return scaler_; }

 private:
  at::ScalarType dtype_;
  std::optional<GradScaler> scaler_;  // float16 only
};

// The policy of --amp off|fp16|bf16 on `placement`; throws std::invalid_argument naming --amp for an
// unknown value or a precision the device cannot run with this LibTorch.
std::unique_ptr<ExecutionPolicy> make_execution_policy(const std::string& amp, Placement placement);

// Checks an --amp value without a device (off, fp16 or bf16); throws std::invalid_argument.
void validate_amp(const std::string& amp);

}  // namespace eshift
