#include "eshift/models/audit.h"

#include <cmath>
#include <sstream>
#include <stdexcept>

#include "eshift/core/text.h"
#include "eshift/models/model.h"
#include "eshift/models/registry.h"

namespace eshift {

bool role_is_scale_invariant(ParamRole role) {
  return role == ParamRole::NormalizedWeight || role == ParamRole::ConvWeight || role == ParamRole::DepthwiseWeight;
}

std::vector<AuditRow> audit_scale_invariance(const ModelSpec& spec, const AuditOptions& options) {
  TORCH_CHECK(options.batch_size >= 2, "the audit needs a batch of at least 2 (batch norm statistics)");
  TORCH_CHECK(options.tolerance > 0, "the audit tolerance must be > 0");
  torch::manual_seed(options.seed);
  auto model = build_model(spec);
  if (model->is_detector())
    throw std::invalid_argument("the audit scales each parameter and compares a classifier's logits; --model " +
                                spec.name + " is a detector (its convs take the roles of the same layers in a classifier)");
  model->to(torch::kFloat64);
  model->train();
  auto params = describe_parameters(*model);
  torch::NoGradGuard no_grad;
  for (auto& p : params) {
    if (p.role == ParamRole::NormScale) p.tensor.copy_(1 + 0.3 * torch::randn_like(p.tensor));
    if (p.role == ParamRole::NormShift || p.role == ParamRole::Bias) p.tensor.copy_(0.5 * torch::randn_like(p.tensor));
  }
  auto x = torch::randn({options.batch_size, spec.in_channels, options.height, options.width}, torch::kFloat64);
  const auto base = model->forward(x);
  const double scale = base.abs().max().item<double>();

  std::vector<AuditRow> rows;
  for (auto& p : params) {
    AuditRow row{p.name, p.tensor.sizes().vec(), p.role, p.family, role_is_scale_invariant(p.role)};
    auto saved = p.tensor.clone();
    for (double c : {0.5, 3.0}) {
      p.tensor.mul_(c);
      const double change = (model->forward(x) - base).abs().max().item<double>() / scale;
      row.relative_change = std::max(row.relative_change, change);
      p.tensor.copy_(saved);
    }
    row.measured_invariant = row.relative_change < options.tolerance;
    rows.push_back(row);
  }
  return rows;
}

std::string audit_table(const std::vector<AuditRow>& rows) {
  std::ostringstream s;
  char line[512];
  std::snprintf(line, sizeof line, "%-36s %-16s %-26s %-10s %-12s\n", "parameter", "shape", "role", "invariant",
                "rel. change of output");
  s << line;
  int warnings = 0;
  for (const auto& r : rows) {
    std::string shape;
    for (size_t i = 0; i < r.shape.size(); ++i) shape += (i ? "x" : "") + std::to_string(r.shape[i]);
    std::string role = role_name(r.role);
    if (r.family != WeightFamily::None) role += " [" + family_name(r.family) + "]";
    // role names hold multi-byte characters: pad by characters, not bytes
    role = pad_right(role, 26);
    std::snprintf(line, sizeof line, "%-36s %-16s %s %-10s %-12.3g%s\n", r.name.c_str(), shape.c_str(), role.c_str(),
                  r.measured_invariant ? "yes" : "no", r.relative_change,
                  r.mismatch() ? (r.expected_invariant ? "  WARNING: role says scale-invariant, measurement says not"
                                                       : "  WARNING: measured scale-invariant, role says not")
                               : "");
    s << line;
    warnings += r.mismatch();
  }
  s << rows.size() << " parameters, " << warnings << " warning" << (warnings == 1 ? "" : "s") << "\n";
  return s.str();
}

}  // namespace eshift
