#include "eshift/observe/probes.h"

#include <algorithm>
#include <cmath>

namespace eshift {

namespace {
torch::Tensor rows64(const torch::Tensor& w) {
  return filter_rows(w.detach()).to(torch::kCPU, torch::kFloat64);
}
double median_of(const torch::Tensor& t) {
  // the lower median for even counts, like torch::median
  return t.median().item<double>();
}
bool centered_family(WeightFamily f) { return f == WeightFamily::WS || f == WeightFamily::CWN; }
}  // namespace

FilterStats filter_stats(const torch::Tensor& v) {
  return {v.min().item<double>(), median_of(v), v.max().item<double>()};
}

torch::Tensor filter_directions(const torch::Tensor& weight, WeightFamily family) {
  auto r = rows64(weight);
  if (centered_family(family)) r = r - r.mean(1, true);
  return r / r.norm(2, 1, true);
}

torch::Tensor filter_angles(const torch::Tensor& a, const torch::Tensor& b) {
  return 2 * torch::asin(((a - b).norm(2, 1) / 2).clamp_max(1.0));
}

torch::Tensor effective_lr(const torch::Tensor& weight, WeightFamily family, double lr) {
  auto r = rows64(weight);
  if (centered_family(family)) r = r - r.mean(1, true);  // (n−1)σ² = ‖w − μ‖²
  return lr / r.pow(2).sum(1);
}

Probe::Probe(const std::vector<ParamInfo>& params, double eps) : eps_(eps) {
  for (const auto& p : params)
    if ((p.role == ParamRole::NormalizedWeight || p.role == ParamRole::ConvWeight) && p.tensor.dim() >= 2)
      params_.push_back(p);
}

void Probe::before_step() {
  torch::NoGradGuard no_grad;
  before_.clear();
  grad_norm_.clear();
  grad_max_.clear();
  for (const auto& p : params_) {
    before_.push_back(filter_directions(p.tensor, p.family));
    const auto& g = p.tensor.grad();
    grad_norm_.push_back(g.defined() ? g.norm().item<double>() : 0.0);
    grad_max_.push_back(g.defined() ? g.abs().max().item<double>() : 0.0);
  }
}

ProbeRecord Probe::after_step(int64_t step, int epoch, double lr) {
  torch::NoGradGuard no_grad;
  TORCH_CHECK(before_.size() == params_.size(), "Probe::after_step without before_step");
  ProbeRecord rec;
  rec.step = step;
  rec.epoch = epoch;
  rec.lr = lr;
  std::vector<torch::Tensor> all_sigma, all_angles;
  std::vector<double> layer_eff;
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& p = params_[i];
    auto r = rows64(p.tensor);
    LayerProbe lp;
    lp.name = p.name;
    lp.family = p.family;
    lp.filters = r.size(0);
    lp.fan_in = r.size(1);
    auto sigma = lp.fan_in > 1 ? r.std(1, /*unbiased=*/true) : torch::zeros({lp.filters}, r.options());
    lp.norm = filter_stats(r.norm(2, 1));
    lp.sigma = filter_stats(sigma);
    lp.mean = filter_stats(r.mean(1));
    lp.effective_lr = median_of(effective_lr(p.tensor, p.family, lr));
    auto angles = filter_angles(before_[i], filter_directions(p.tensor, p.family));
    lp.angular_update = median_of(angles);
    lp.grad_norm = grad_norm_[i];
    lp.grad_max_abs = grad_max_[i];
    lp.fp16_ratio = grad_max_[i] / kFloat16Max;
    lp.frac_sigma_below_eps = sigma.lt(eps_).to(torch::kFloat64).mean().item<double>();
    all_sigma.push_back(sigma);
    all_angles.push_back(angles);
    layer_eff.push_back(lp.effective_lr);
    rec.grad_max_abs = std::max(rec.grad_max_abs, lp.grad_max_abs);
    rec.layers.push_back(std::move(lp));
  }
  before_.clear();
  if (!rec.layers.empty()) {
    auto sigma = torch::cat(all_sigma);
    rec.sigma_min = sigma.min().item<double>();
    rec.frac_sigma_below_eps = sigma.lt(eps_).to(torch::kFloat64).mean().item<double>();
    rec.angular_update_median = median_of(torch::cat(all_angles));
    rec.effective_lr_median = median_of(torch::tensor(layer_eff, torch::kFloat64));
    rec.fp16_ratio = rec.grad_max_abs / kFloat16Max;
  }
  return rec;
}

double max_abs_gradient(const std::vector<ParamInfo>& params) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> maxima;
  for (const auto& p : params)
    if (p.tensor.grad().defined() && p.tensor.grad().numel() > 0) maxima.push_back(p.tensor.grad().norm(INFINITY).to(torch::kFloat64));  // max|g|, no copy
  if (maxima.empty()) return 0.0;
  // max() propagates NaN, so a NaN gradient makes the result NaN
  return torch::stack(maxima).max().item<double>();
}

SigmaCensus sigma_census(const std::vector<ParamInfo>& params, double threshold) {
  torch::NoGradGuard no_grad;
  SigmaCensus census;
  std::vector<torch::Tensor> minima;
  for (const auto& p : params) {
    if ((p.role != ParamRole::NormalizedWeight && p.role != ParamRole::ConvWeight) || p.tensor.dim() < 2) continue;
    auto r = rows64(p.tensor);
    if (r.size(1) < 2) continue;  // no σ of one element
    auto sigma = r.std(1, /*unbiased=*/true);
    SigmaCensus::Layer layer{p.name, r.size(0), sigma.lt(threshold).sum().item<int64_t>()};
    census.filters += layer.filters;
    census.below += layer.below;
    census.layers.push_back(layer);
    minima.push_back(sigma.min());
  }
  census.sigma_min = minima.empty() ? 0.0 : torch::stack(minima).min().item<double>();
  return census;
}

std::pair<double, double> conv_filter_sigma(const std::vector<ParamInfo>& params) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> sigmas;
  for (const auto& p : params)
    if (p.role == ParamRole::NormalizedWeight || p.role == ParamRole::ConvWeight)
      if (p.tensor.dim() == 4) sigmas.push_back(filter_std(p.tensor).to(torch::kCPU, torch::kFloat64));
  if (sigmas.empty()) return {NAN, NAN};
  auto all = torch::cat(sigmas);
  return {all.min().item<double>(), all.mean().item<double>()};
}

}  // namespace eshift
