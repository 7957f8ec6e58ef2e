#pragma once
// Builds the optimizer an OptimizerSpec names (optimizer_spec.h) over the decay policy's groups.
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <vector>

#include "eshift/nn/param_roles.h"
#include "eshift/optim/optimizer_spec.h"
#include "eshift/regularize/decay_flags.h"

namespace eshift {

// The optimizer over `params` with the regularizers of `flags` (decoupled where the optimizer
// decouples), at rate lr. known_invariant (sgdp/adamp with invariance ≠ cosine): per parameter, in
// the order of `params`, whether it is scale-invariant per output filter; the invariant ones are
// always projected, the others never (their own param groups).
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimizerSpec& spec, double lr,
                                                        const std::vector<ParamInfo>& params, DecayFlags flags,
                                                        const std::vector<bool>& known_invariant = {});

// Sets the learning rate of every group of any optimizer.
void set_learning_rate(torch::optim::Optimizer& optimizer, double lr);

// Sets ε of the ε-shifted regularizers among the groups of an eshift optimizer (--mineps auto, once
// chosen): each group's ε is eps_of(its parameters), the same for all of them (a negative value
// leaves the group as it is); returns how many groups changed. With flags.mineps_auto make_optimizer
// puts each ε-shifted parameter in a group of its own, so that each may get its own ε.
int set_eps_shift(torch::optim::Optimizer& optimizer, const std::function<double(const torch::Tensor&)>& eps_of);

}  // namespace eshift
