#pragma once
// Scale-invariance audit: which parameters of a model are scale-invariant, measured rather than
// assumed. In float64 and train mode (batch statistics, as in training), each parameter tensor in
// turn is multiplied by c ∈ {0.5, 3} and the network's output (the logits z, so every loss of them)
// on a fixed random batch is recomputed; the largest relative change max|z(c·p) − z(p)| / max|z(p)|
// decides (below `tolerance` = invariant).
// Norm affines are first randomized (γ ≈ 1 ± 0.3, β ≈ ±0.5) so that the symmetric initialization
// (β = 0) does not make a parameter look invariant when it is not in general.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "eshift/nn/param_roles.h"
#include "eshift/models/model_spec.h"

namespace eshift {

struct AuditRow {
  std::string name;
  std::vector<int64_t> shape;
  ParamRole role;
  WeightFamily family = WeightFamily::None;
  bool expected_invariant = false;  // what the role claims (every eshift conv is followed by a norm)
  bool measured_invariant = false;
  double relative_change = 0;
  bool mismatch() const { return expected_invariant != measured_invariant; }
};

// Whether a parameter of this role is scale-invariant in eshift's models, where every conv is
// followed by BatchNorm/GroupNorm.
bool role_is_scale_invariant(ParamRole role);

struct AuditOptions {
  int64_t batch_size = 16;
  int64_t height = 28, width = 28;
  double tolerance = 1e-3;  // norm layers' own ε (1e-5 under the variance) breaks exactness slightly
  uint64_t seed = 0;
};

// Classifiers only: a detector (Model::is_detector) is refused with std::invalid_argument.
std::vector<AuditRow> audit_scale_invariance(const ModelSpec& spec, const AuditOptions& options);

// The printed table; mismatches are marked "WARNING".
std::string audit_table(const std::vector<AuditRow>& rows);

}  // namespace eshift
