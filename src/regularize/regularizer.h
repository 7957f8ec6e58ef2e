#pragma once
// Weight-decay regularizers with closed-form penalty and gradient (paper.md §3).
//
// Every formula is per OUTPUT FILTER w ∈ R^n (a row of the weight viewed as [out, n]);
// penalties are summed over filters. μ = mean(w), σ = UNBIASED std(w) (divide by n − 1).
//
//   none         R = 0
//   l2           R = ½λ‖w‖²                                  ∂R/∂w = λw
//   eps-shifted, by family of the weight:
//     WS   R = ½λ[n·μ² + (n−1)(σ − ε)²]                     ∂R/∂w = λ[(1 − ε/σ)(w − μ) + μ]
//     CWN  R = ½λ[n·μ² + (‖w − μ‖ − ε)²]                     ∂R/∂w = λ[(1 − ε/‖w−μ‖)(w − μ) + μ]
//     WN   R = ½λ(‖w‖ − ε)²                                  ∂R/∂w = λ(1 − ε/‖w‖)w
//   With ε = 0 each eps-shifted row IS plain L2 (‖w‖² = nμ² + (n−1)σ²); this implementation then
//   computes λw / ½λ‖w‖² directly so that ε = 0 equals l2 bit for bit.
//   A filter without a radius: r = 0 (σ, ‖w − μ‖ or ‖w‖ zero: a zero filter, a constant one, a
//   pruned or zero-initialised conv) has no direction (w − c)/r for the ε-term to push along, and
//   ε/r is infinite. There the factor (1 − ε/r) is taken as 1 (so ∂R/∂w = λw, the ε = 0 value,
//   for that filter: finite, and w − c = 0 makes it λc for WS/CWN and 0 for WN); the same for a
//   radius below the dtype's smallest normal number, where ε/r would overflow. The penalty is
//   finite there as written (½λ(n−1)ε², ½λε²).
//
// How an optimizer applies ∂R/∂w is the second, independent choice:
//   coupled      added to the loss gradient, so it passes through momentum / Adam's moments
//   decoupled    applied to the weight outside them: w ← w − η·c·∂R/∂w, c the optimizer's factor
//                (1 for AdamW; wd_ratio and 1/(1 − momentum) for SGDP), w ← (1 − ηcλ)·w for l2
#include <torch/torch.h>

#include <string>
#include <vector>

#include "eshift/nn/weight_family.h"

namespace eshift {

// The values are stored in checkpoints; 2 was "decoupled l2" before decoupling became a flag of
// its own and still reads as that.
enum class RegKind { None = 0, L2 = 1, EpsShifted = 3 };

struct Regularizer {
  RegKind kind = RegKind::None;
  double lambda = 0;
  double eps = 0;                           // only for EpsShifted
  WeightFamily family = WeightFamily::WS;   // formula used by EpsShifted (None is read as WS)
  bool decoupled = false;                   // applied outside the gradient (see above)

  static Regularizer none() { return {}; }
  static Regularizer l2(double lambda);
  static Regularizer decoupled_l2(double lambda);  // AdamW's decay
  static Regularizer eps_shifted(WeightFamily family, double lambda, double eps);
  // The same penalty applied the other way.
  Regularizer applied_decoupled(bool on = true) const;

  // Total penalty R(w) as a 0-dim tensor (float64 math follows w's dtype).
  torch::Tensor penalty(const torch::Tensor& w) const;
  // ∂R/∂w, same shape as w (whichever way it is applied).
  torch::Tensor gradient(const torch::Tensor& w) const;
  // Adds scale·∂R/∂w to `out` in place (no temporary for L2); used by the optimizers.
  void add_gradient_(torch::Tensor& out, const torch::Tensor& w, double scale = 1.0) const;
  // The decoupled step w ← w − step·∂R/∂w, in place (l2: w ← (1 − step·λ)·w, as torch's AdamW).
  void apply_decoupled_(torch::Tensor& w, double step) const;

  bool active() const { return kind != RegKind::None && lambda != 0; }
  bool coupled() const { return active() && !decoupled; }
  // e.g. "l2(λ=0.0001)", "eps-l2[ws](λ=0.0001, ε=0.001)", "decoupled l2(λ=0.0005)", "none"
  std::string describe() const;
};

// Parameters that share one regularizer: the plain parameter groups optimizers take.
struct RegularizedGroup {
  Regularizer regularizer;
  std::vector<torch::Tensor> params;
};

}  // namespace eshift
