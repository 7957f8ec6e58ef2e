#include "eshift/train/mixed_precision.h"

#include <stdexcept>

#include "eshift/core/torch_compat.h"

namespace eshift {

AutocastScope::AutocastScope(at::DeviceType device, at::ScalarType dtype)
    : device_(device), was_enabled_(compat::autocast_enabled(device)), was_dtype_(compat::autocast_dtype(device)) {
  compat::set_autocast_enabled(device, true);
  compat::set_autocast_dtype(device, dtype);
  at::autocast::increment_nesting();
}

AutocastScope::~AutocastScope() {
  if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
  compat::set_autocast_enabled(device_, was_enabled_);
  compat::set_autocast_dtype(device_, was_dtype_);
}

MixedPrecisionPolicy::MixedPrecisionPolicy(Placement placement, at::ScalarType dtype, GradScalerOptions scaler)
    : ExecutionPolicy(placement), dtype_(dtype) {
  TORCH_CHECK(dtype == torch::kHalf || dtype == torch::kBFloat16, "mixed precision runs float16 or bfloat16");
  if (dtype == torch::kHalf) scaler_.emplace(scaler);
}

std::string MixedPrecisionPolicy::describe() const {
  return dtype_ == torch::kHalf ? "mixed float16 (autocast, dynamic loss scaling)" : "mixed bfloat16 (autocast)";
}

std::pair<ModelOutput, torch::Tensor> MixedPrecisionPolicy::forward(Model& model, const Task& task,
                                                                    const Batch& batch) const {
  AutocastScope autocast(placement().device.type(), dtype_);
  auto output = model.forward_batch(batch);
  auto loss = task.loss(output, batch);
  return {std::move(output), loss.to(torch::kFloat32)};
}

ModelOutput MixedPrecisionPolicy::infer(Model& model, const Batch& batch) const {
  AutocastScope autocast(placement().device.type(), dtype_);
  auto output = model.forward_batch(batch);
  if (output.logits.defined()) output.logits = output.logits.to(torch::kFloat32);
  return output;
}

void MixedPrecisionPolicy::backward(const torch::Tensor& loss) {
  if (scaler_)
    scaler_->scale(loss).backward();
  else
    loss.backward();
}

bool MixedPrecisionPolicy::step(torch::optim::Optimizer& optimizer, const std::function<void()>& inspect) {
  if (!scaler_) return ExecutionPolicy::step(optimizer, inspect);
  scaler_->unscale(optimizer);
  if (inspect) inspect();
  return scaler_->step(optimizer);
}

std::vector<std::pair<std::string, double>> MixedPrecisionPolicy::stats() const {
  if (!scaler_) return {};
  return {{"loss_scale", scaler_->current_scale()}, {"skipped_steps", double(scaler_->skipped_steps())}};
}

void MixedPrecisionPolicy::save(torch::serialize::OutputArchive& archive) const {
  if (scaler_) scaler_->save(archive);
}

void MixedPrecisionPolicy::load(torch::serialize::InputArchive& archive) {
  if (scaler_) scaler_->load(archive);
}

void validate_amp(const std::string& amp) {
  if (amp != "off" && amp != "fp16" && amp != "bf16")
    throw std::invalid_argument("unknown --amp '" + amp + "' (off, fp16 or bf16)");
}

std::unique_ptr<ExecutionPolicy> make_execution_policy(const std::string& amp, Placement placement) {
  validate_amp(amp);
  if (amp == "off") return std::make_unique<ExecutionPolicy>(placement);
  if (amp == "fp16" && placement.device.is_cpu() && !compat::kCpuAutocastFloat16)
    throw std::invalid_argument("--amp fp16 on CPU needs a LibTorch newer than this one (" TORCH_VERSION
                                "; its CPU autocast runs bfloat16 only): use --amp bf16, or a CUDA device");
  return std::make_unique<MixedPrecisionPolicy>(placement, amp == "fp16" ? torch::kHalf : torch::kBFloat16);
}

}  // namespace eshift
