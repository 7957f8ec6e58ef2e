#pragma once
// --mineps auto: ε chosen from the run itself (paper.md §3, claim 3: σ → 0 makes the gradients of a
// scale-invariant weight grow as 1/σ until float16 overflows).
//
// For a filter whose weight is scale-invariant, the loss gradient scales inversely with the
// filter's radius r (σ for WS, ‖w − μ‖ for CWN, ‖w‖ for WN and plain convs: the r the ε-shifted
// penalty holds at ε): g(c·w) = g(w)/c. So p = max|g|·r, the largest gradient element times the
// radius, does not change as decay shrinks the filter, and the filter's largest gradient element at
// radius r is p/r. Under mixed precision with loss scale S it overflows float16 once p·S/r ≥ 65504.
// The calibration trains the first epoch with plain L2 in place of the ε-shift (ε = 0), watches p
// over every filter of every such weight at every step of the epoch's second half (past the
// initialization's transient), and chooses for each layer l
//
//     ε_l = margin · S · P_l / 65504,   P_l = the largest p of the layer's filters seen,
//                                       S = 2^16 (GradScaler's initial scale),
//                                       margin = 2 (GradScaler doubles its scale after 2000 clean steps)
//
// the smallest radius at which none of the layer's filters, scaled, comes within the margin of
// float16's limit: a filter the ε-shift holds at r ≥ ε_l stays representable wherever decay takes it,
// and filters above ε_l are left alone by the ε-term. ε is per layer because p is: the first conv of
// a 1-channel network (fan-in 9) has a p ten times the others' in the demo's setting, and one ε for
// all would inflate every other layer's σ to the first conv's need. The choice and the numbers it
// came from are printed and kept in config.json ("mineps_layers"; "mineps" holds the smallest ε_l,
// "mineps_auto": true).
#include <torch/torch.h>

#include <string>
#include <vector>

#include "eshift/nn/param_roles.h"

namespace eshift {

struct EpsChoice {
  struct Layer {
    std::string name;
    double product = 0;  // P_l: the largest max|g|·r of its filters seen
    double eps = 0;      // ε_l
    double radius_median = 0;
    int64_t filters = 0, below = 0;  // filters, and those with radius below ε_l when it is chosen
  };
  std::vector<Layer> layers;
  double loss_scale = 0, margin = 0;
  int64_t steps = 0;
  double smallest_eps() const;
  std::string describe() const;  // the printed line: the choice and the numbers it came from
};

class EpsCalibration {
 public:
  static constexpr double kLossScale = 65536.0, kMargin = 2.0;

  // Watches the per-filter scale-invariant weights among `params` (normalized and plain convs).
  explicit EpsCalibration(const std::vector<ParamInfo>& params);
  // After backward, with the gradients the step will use (unscaled): the running max of p per layer,
  // kept on the device (no synchronization). The trainer calls it in the second half of epoch 1.
  void observe();
  EpsChoice choose(double loss_scale = kLossScale, double margin = kMargin) const;

 private:
  std::vector<ParamInfo> params_;
  std::vector<torch::Tensor> largest_;  // per layer: the largest p so far (0-dim, float64)
  int64_t steps_ = 0;
};

// The filter radius the ε-shifted penalty of `family` holds at ε: σ (unbiased) for WS, ‖w − μ‖ for
// CWN, ‖w‖ otherwise; per output filter, float64.
torch::Tensor filter_radius(const torch::Tensor& weight, WeightFamily family);

}  // namespace eshift
