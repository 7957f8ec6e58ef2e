#include "eshift/observe/eps_calibration.h"

#include <algorithm>
#include <cstdio>

#include "eshift/nn/weight_family.h"
#include "eshift/observe/probe_record.h"

namespace eshift {

torch::Tensor filter_radius(const torch::Tensor& weight, WeightFamily family) {
  auto r = filter_rows(weight.detach()).to(torch::kFloat64);
  if (family == WeightFamily::WS) return r.std(1, /*unbiased=*/true);
  if (family == WeightFamily::CWN) return (r - r.mean(1, true)).norm(2, 1);
  return r.norm(2, 1);
}

EpsCalibration::EpsCalibration(const std::vector<ParamInfo>& params) {
  for (const auto& p : params)
    if ((p.role == ParamRole::NormalizedWeight || p.role == ParamRole::ConvWeight) && p.tensor.dim() >= 2 &&
        p.tensor.numel() / p.tensor.size(0) >= 2) {
      params_.push_back(p);
      largest_.push_back(torch::zeros({}, p.tensor.options().dtype(torch::kFloat64)));
    }
}

void EpsCalibration::observe() {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    const auto& g = params_[i].tensor.grad();
    if (!g.defined()) continue;
    auto p = filter_rows(g).abs().amax(1).to(torch::kFloat64) * filter_radius(params_[i].tensor, params_[i].family);
    largest_[i] = torch::maximum(largest_[i], p.max());
  }
  ++steps_;
}

EpsChoice EpsCalibration::choose(double loss_scale, double margin) const {
  torch::NoGradGuard no_grad;
  EpsChoice c;
  c.loss_scale = loss_scale;
  c.margin = margin;
  c.steps = steps_;
  for (size_t i = 0; i < params_.size(); ++i) {
    EpsChoice::Layer l;
    l.name = params_[i].name;
    l.product = largest_[i].item<double>();
    l.eps = margin * loss_scale * l.product / kFloat16Max;
    const auto radius = filter_radius(params_[i].tensor, params_[i].family);
    l.radius_median = radius.median().item<double>();
    l.filters = radius.numel();
    l.below = radius.lt(l.eps).sum().item<int64_t>();
    c.layers.push_back(l);
  }
  return c;
}

double EpsChoice::smallest_eps() const {
  double out = 0;
  for (const auto& l : layers)
    if (out == 0 || (l.eps > 0 && l.eps < out)) out = l.eps;
  return out;
}

std::string EpsChoice::describe() const {
  if (layers.empty()) return "--mineps auto: no ε-shifted weights to choose ε for";
  auto low = layers.front(), high = layers.front();
  int64_t filters = 0, below = 0;
  std::vector<double> eps;
  for (const auto& l : layers) {
    if (l.eps < low.eps) low = l;
    if (l.eps > high.eps) high = l;
    filters += l.filters, below += l.below;
    eps.push_back(l.eps);
  }
  std::sort(eps.begin(), eps.end());
  char line[768];
  std::snprintf(line, sizeof line,
                "--mineps auto: ε per layer from %.3g (%s) to %.3g (%s), median %.3g: ε_l = %.0f · %.0f · P_l / 65504, "
                "P_l the largest gradient element × filter radius of layer l over %lld steps (%s: %.3g, its median filter "
                "radius %.3g); %lld of %lld filters are below their layer's ε now",
                low.eps, low.name.c_str(), high.eps, high.name.c_str(), eps[eps.size() / 2], margin, loss_scale,
                (long long)steps, high.name.c_str(), high.product, high.radius_median, (long long)below, (long long)filters);
  return line;
}

}  // namespace eshift
