#pragma once
// Decay policy: maps each parameter role to a regularizer, reproducing the flags of the paper's
// reference trainer (imagenet_fast.py: --wd, --wd-all, --nowd-bn, --nowd-fc, --nowd-conv,
// --el2, --mineps, --lam; decay_flags.h) with its rules:
//   - conv weights (normalized or plain) get ordinary L2 `wd` unless --nowd-conv;
//   - --el2 gives every NON-depthwise conv weight the ε-shifted term λ=lam, ε=mineps (formula of
//     the layer's family; WS for plain convs, as the reference applies the WS formula to every
//     4-D weight) INSTEAD of ordinary L2 (the reference asserts wd == 0 there);
//   - depthwise weights never get the ε-term; they follow --nowd-conv for ordinary L2;
//   - BN/GN γ and WN gains get L2 unless --nowd-bn; the classifier weight unless --nowd-fc;
//   - biases and BN/GN β never get decay unless --wd-all, which decays every parameter with wd
//     (the ε-term still replaces it on the conv weights it covers);
//   - --decoupled-wd applies every regularizer, the ε-shifted one included, decoupled (AdamW's way;
//     the optimizers that decay that way by definition set it, optim/make_optimizer.h).
// One difference, on purpose: the reference recognizes depthwise convs by shape[1] == 1, which
// also catches a first conv on 1-channel images; eshift takes it from the layer (groups == C_in).
#include <torch/torch.h>

#include <string>
#include <vector>

#include "eshift/nn/param_roles.h"
#include "eshift/regularize/decay_flags.h"
#include "eshift/regularize/regularizer.h"

namespace eshift {

class DecayPolicy {
 public:
  explicit DecayPolicy(DecayFlags flags);

  // The regularizer one parameter gets.
  Regularizer regularizer_for(const ParamInfo& p) const;
  // Groups parameters by identical regularizer, in first-appearance order: the optimizer's param groups.
  std::vector<RegularizedGroup> group(const std::vector<ParamInfo>& params) const;
  // Readable table: role → regularizer, tensor and element counts (printed when training starts).
  std::string table(const std::vector<ParamInfo>& params) const;

  const DecayFlags& flags() const { return flags_; }

 private:
  Regularizer ordinary() const;
  DecayFlags flags_;
};

}  // namespace eshift
