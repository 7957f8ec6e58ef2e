#pragma once
// The optimizers `eshift train --optimizer` names, as values (make_optimizer.h builds them). No LibTorch.
//   sgd    SGD with momentum: coupled decay (before momentum), decoupled with --decoupled-wd
//   lars   SGD with LARS's trust ratio (coefficient 0.001): coupled decay, inside the trust ratio
//   sgdp   SGD with clovaai's projection: decay decoupled and scaled (wd_ratio/(1 − momentum))
//   adam   Adam: coupled decay (Adam + L2), decoupled with --decoupled-wd (then it is adamw)
//   adamw  Adam, decay decoupled
//   lamb   Adam with LAMB's trust ratio: decay decoupled, part of the update the ratio is taken on
//   adamp  Adam with clovaai's projection: decay decoupled and scaled (wd_ratio)
// Every regularizer of the decay policy — plain L2 and the ε-shifted L2 of each weight family —
// works with every optimizer; "decoupled" applies to both (regularize/regularizer.h).
#include <string>
#include <vector>

#include "eshift/regularize/decay_flags.h"

namespace eshift {

struct OptimizerSpec {
  std::string name = "sgd";                             // --optimizer
  double momentum = 0.9, dampening = 0;                 // sgd, lars, sgdp
  bool nesterov = false;
  double beta1 = 0.9, beta2 = 0.999, adam_eps = 1e-8;  // adam, adamw, lamb, adamp
  double trust_coefficient = 0.001;                     // lars
  double proj_delta = 0.1, wd_ratio = 0.1;              // sgdp, adamp (clovaai's defaults)
  // Which weights sgdp/adamp project: "cosine" (clovaai's test on every step), "roles" (the weights
  // whose role is scale-invariant), "audit" (the weights the scale-invariance audit measures so).
  std::string invariance = "cosine";

  void validate() const;  // throws std::invalid_argument naming the flag
  bool sgd_family() const { return name == "sgd" || name == "lars" || name == "sgdp"; }
  // Whether the optimizer applies decay decoupled by definition (adamw, lamb, sgdp, adamp).
  bool decouples_decay() const { return name == "adamw" || name == "lamb" || name == "sgdp" || name == "adamp"; }
  bool projects() const { return name == "sgdp" || name == "adamp"; }
  // The decay flags as this optimizer applies them: decoupled where it decouples by definition.
  DecayFlags applied(DecayFlags flags) const {
    if (decouples_decay()) flags.decoupled = true;
    return flags;
  }
  // One line: "adamw (β 0.9/0.999, eps 1e-08, decay decoupled)".
  std::string describe() const;
};

const std::vector<std::string>& optimizer_names();

}  // namespace eshift
