#pragma once
// Param groups for eshift's optimizers, whose options each carry their group's Regularizer.
#include <torch/torch.h>

#include <memory>
#include <vector>

#include "eshift/regularize/regularizer.h"

namespace eshift {

// One param group per regularized group: `defaults` with the group's regularizer.
template <class Options>
std::vector<torch::optim::OptimizerParamGroup> regularized_param_groups(const std::vector<RegularizedGroup>& groups,
                                                                        const Options& defaults) {
  std::vector<torch::optim::OptimizerParamGroup> out;
  for (const auto& g : groups) {
    auto options = std::make_unique<Options>(defaults);
    options->regularizer(g.regularizer);
    out.emplace_back(g.params, std::move(options));
  }
  return out;
}

// Adds the groups, each keeping its own options. LibTorch 2.x's add_param_group merges a group's
// options with the defaults only for its own optimizers' option types; any other type gets the
// defaults instead (each group's regularizer would be lost). 1.13 keeps them.
inline void add_param_groups(torch::optim::Optimizer& optimizer,
                             const std::vector<torch::optim::OptimizerParamGroup>& groups) {
  for (const auto& group : groups) {
    optimizer.add_param_group(group);
    if (group.has_options()) optimizer.param_groups().back().set_options(group.options().clone());
  }
}

}  // namespace eshift
