#pragma once
// Shared by the mixed-precision tests on CPU and CUDA: steps of momentum SGD with the ε-shifted L2 on
// one fixed batch of 16 random images with random labels, under an --amp policy. A network that
// trains memorizes them, so the loss must fall far; one whose gradients or steps were lost does not.
#include <torch/torch.h>

#include <string>

#include "eshift/models/registry.h"
#include "eshift/nn/param_roles.h"
#include "eshift/optim/regularized_sgd.h"
#include "eshift/regularize/decay_policy.h"
#include "eshift/tasks/classification.h"
#include "eshift/train/mixed_precision.h"
#include "eshift/train/step.h"

namespace eshift::test {

struct FitResult {
  double first_loss = 0, last_loss = 0;
  int skipped_steps = 0;
};

inline FitResult fit_one_batch(const std::string& amp, torch::Device device, int steps = 40) {
  torch::manual_seed(7);
  ModelSpec spec;
  spec.name = "resnet8";
  spec.width = 8;
  spec.in_channels = 3;
  spec.num_classes = 4;
  auto model = build_model(spec);
  const Placement placement{device, true};
  placement.place(*model);
  model->train();
  auto policy = make_execution_policy(amp, placement);
  const DecayFlags flags = conv_decay_preset(ConvDecay::EpsShifted, 1e-4, 1e-3, 1e-4);
  RegularizedSGD sgd(DecayPolicy(flags).group(describe_parameters(*model)), RegularizedSGDOptions(0.05).momentum(0.9));
  const ClassificationTask task;
  const Batch batch = policy->place({torch::randn({16, 3, 16, 16}), torch::randint(4, {16}, torch::kInt64)});
  FitResult r;
  for (int i = 0; i < steps; ++i) {
    const auto out = train_step(*model, task, sgd, *policy, batch);
    if (i == 0) r.first_loss = out.loss;
    r.last_loss = out.loss;
    r.skipped_steps += !out.stepped;
  }
  return r;
}

}  // namespace eshift::test
