#include "eshift/optim/grad_scaler.h"

#include <cmath>

#include "eshift/core/torch_compat.h"

namespace eshift {

GradScaler::GradScaler(GradScalerOptions options) : options_(options) {
  TORCH_CHECK(std::isfinite(options_.init_scale()) && options_.init_scale() > 0, "the initial loss scale must be > 0");
  TORCH_CHECK(options_.growth_factor() > 1, "the loss scale's growth factor must be > 1");
  TORCH_CHECK(options_.backoff_factor() > 0 && options_.backoff_factor() < 1, "the backoff factor must be in (0, 1)");
  TORCH_CHECK(options_.growth_interval() >= 1, "the growth interval must be >= 1 step");
}

void GradScaler::ensure_state(const torch::Device& device) {
  if (!scale_.defined()) {
    scale_ = torch::full({1}, options_.init_scale(), torch::TensorOptions(torch::kFloat32).device(device));
    growth_tracker_ = torch::zeros({1}, torch::TensorOptions(torch::kInt32).device(device));
  } else if (scale_.device() != device) {
    scale_ = scale_.to(device);
    growth_tracker_ = growth_tracker_.to(device);
  }
}

torch::Tensor GradScaler::scale(const torch::Tensor& loss) {
  ensure_state(loss.device());
  return loss * scale_;
}

void GradScaler::unscale(torch::optim::Optimizer& optimizer) {
  TORCH_CHECK(!unscaled_, "GradScaler::unscale was already called for this step");
  std::vector<torch::Tensor> grads;
  for (auto& group : optimizer.param_groups())
    for (auto& p : group.params())
      if (p.grad().defined()) grads.push_back(p.grad());
  unscaled_ = true;
  if (grads.empty()) {
    found_inf_ = torch::zeros({1}, torch::kFloat32);
    return;
  }
  const auto device = grads.front().device();
  ensure_state(device);
  found_inf_ = torch::zeros({1}, torch::TensorOptions(torch::kFloat32).device(device));
  const auto inv_scale = scale_.to(torch::kFloat64).reciprocal().to(torch::kFloat32);  // as PyTorch: in double
  torch::NoGradGuard no_grad;
  if (compat::has_kernel("aten::_amp_foreach_non_finite_check_and_unscale_", device.type())) {
    at::_amp_foreach_non_finite_check_and_unscale_(grads, found_inf_, inv_scale);
    return;
  }
  for (auto& g : grads) {  // the same, by hand: flag a non-finite element, then multiply by 1/s
    if (!torch::isfinite(g).all().item<bool>()) found_inf_.fill_(1.0);
    g.mul_(inv_scale);
  }
}

bool GradScaler::step(torch::optim::Optimizer& optimizer) {
  if (!unscaled_) unscale(optimizer);
  unscaled_ = false;
  const bool finite = found_inf_.item<float>() == 0.0f;
  if (finite)
    optimizer.step();
  else
    ++skipped_;
  if (!scale_.defined()) return finite;  // no gradients yet: nothing to scale
  // s ← s·backoff after a skipped step; s ← s·growth after growth_interval taken steps in a row
  if (compat::has_kernel("aten::_amp_update_scale_", scale_.device().type())) {
    at::_amp_update_scale_(scale_, growth_tracker_, found_inf_.to(scale_.device()), options_.growth_factor(),
                           options_.backoff_factor(), options_.growth_interval());
  } else if (!finite) {
    scale_.mul_(options_.backoff_factor());
    growth_tracker_.zero_();
  } else if (growth_tracker_.item<int>() + 1 == options_.growth_interval()) {
    const float grown = static_cast<float>(scale_.item<float>() * options_.growth_factor());
    if (std::isfinite(grown)) scale_.fill_(grown);
    growth_tracker_.zero_();
  } else {
    growth_tracker_.add_(1);
  }
  return finite;
}

double GradScaler::current_scale() const { return scale_.defined() ? scale_.item<double>() : options_.init_scale(); }

int64_t GradScaler::growth_tracker() const { return growth_tracker_.defined() ? growth_tracker_.item<int64_t>() : 0; }

void GradScaler::save(torch::serialize::OutputArchive& archive) const {
  archive.write("scale", torch::full({1}, current_scale(), torch::kFloat32), /*is_buffer=*/true);
  archive.write("growth_tracker", torch::full({1}, growth_tracker(), torch::kInt32), /*is_buffer=*/true);
  archive.write("skipped_steps", torch::IValue(skipped_));
}

void GradScaler::load(torch::serialize::InputArchive& archive) {
  torch::Tensor scale, tracker;
  archive.read("scale", scale, /*is_buffer=*/true);
  archive.read("growth_tracker", tracker, /*is_buffer=*/true);
  torch::IValue skipped;
  archive.read("skipped_steps", skipped);
  const auto device = scale_.defined() ? scale_.device() : torch::Device(torch::kCPU);
  scale_ = scale.to(device, torch::kFloat32).reshape({1});
  growth_tracker_ = tracker.to(device, torch::kInt32).reshape({1});
  skipped_ = skipped.toInt();
  unscaled_ = false;
}

}  // namespace eshift
