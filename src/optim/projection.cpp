#include "eshift/optim/projection.h"

#include <cmath>

namespace eshift {

std::string projection_name(Projection p) {
  switch (p) {
    case Projection::Off: return "off";
    case Projection::Cosine: return "cosine";
    case Projection::Always: return "always";
    case Projection::Never: return "never";
  }
  return "?";
}

void ProjectionOptions::check() const {
  TORCH_CHECK(delta > 0, "invalid projection δ: ", delta, " (must be > 0)");
  TORCH_CHECK(wd_ratio >= 0 && wd_ratio <= 1, "invalid projection wd_ratio: ", wd_ratio, " (must be in [0, 1])");
  TORCH_CHECK(eps > 0, "invalid projection eps: ", eps, " (must be > 0)");
}

namespace {
torch::Tensor rows(const torch::Tensor& x, bool channel) { return channel ? x.reshape({x.size(0), -1}) : x.reshape({1, -1}); }

}  // namespace

double project_update_(const torch::Tensor& p, const torch::Tensor& grad, torch::Tensor& update, Projection mode,
                       const ProjectionOptions& o) {
  if (p.dim() <= 1 || mode == Projection::Off || mode == Projection::Never) return 1.0;
  auto project = [&](bool channel) {
    auto p_rows = rows(p, channel);
    auto p_hat = p_rows / p_rows.norm(2, 1, /*keepdim=*/true).add_(o.eps);
    auto radial = p_hat * (p_hat * rows(update, channel)).sum(1, /*keepdim=*/true);
    update.sub_(radial.view(update.sizes()));  // logical indexing: any memory format (channels-last)
  };
  if (mode == Projection::Always) {
    project(/*channel=*/true);
    return o.wd_ratio;
  }
  for (bool channel : {true, false}) {
    auto p_rows = rows(p, channel);
    auto cos = at::cosine_similarity(rows(grad, channel), p_rows, 1, o.eps).abs_();
    if (cos.max().item<double>() < o.delta / std::sqrt(static_cast<double>(p_rows.size(1)))) {
      project(channel);
      return o.wd_ratio;
    }
  }
  return 1.0;
}

}  // namespace eshift
