#pragma once
// The decay flags of the paper's reference trainer, as values (decay_policy.h turns them into a
// regularizer per parameter role), and the paper's comparison as one preset of them. No LibTorch.

#include <string>
#include <vector>

namespace eshift {

struct DecayFlags {
  double wd = 1e-4;        // --wd
  bool wd_all = false;     // --wd-all
  bool nowd_bn = false;    // --nowd-bn
  bool nowd_fc = false;    // --nowd-fc
  bool nowd_conv = false;  // --nowd-conv
  bool el2 = false;        // --el2
  double mineps = 1e-3;    // --mineps (ε)
  bool mineps_auto = false;  // --mineps auto: ε chosen after the first epoch (observe/eps_calibration.h)
  double lam = 1e-4;       // --lam (λ of the ε-shifted term)
  bool decoupled = false;  // --decoupled-wd: every decay applied decoupled (w ← w − η·∂R/∂w)

  void validate() const;   // throws std::invalid_argument on impossible values
  // One line per flag the others silence: --wd-all takes precedence over --nowd-bn/--nowd-fc/
  // --nowd-conv (as in the reference), so each of those given with it is named as overridden.
  std::vector<std::string> warnings() const;
};

// The comparison at the heart of the paper, as one preset (used by the demo, the experiments and the
// benchmark): the conv weights get no decay, plain L2 λ, or the ε-shifted L2 (λ, ε) in its place;
// norm scales (BN/GN γ, WN gains) and the classifier get L2 `others_wd`, or nothing when it is 0;
// biases and norm shifts get nothing. ε is also the probes' σ threshold in every arm. Plain L2 on the
// convs and on the other roles share --wd, so with ConvDecay::L2 `others_wd` must be 0 or λ.
// Flags the preset does not set (--decoupled-wd, --wd-all, and --nowd-bn/--nowd-fc while
// others_wd > 0) keep their values from `base`.
enum class ConvDecay { None, L2, EpsShifted };
DecayFlags conv_decay_preset(ConvDecay conv, double lambda, double eps, double others_wd, DecayFlags base = {});

}  // namespace eshift
