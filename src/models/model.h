#pragma once
// A network eshift trains: a torch::nn::Module built from a ModelSpec by the model registry
// (registry.h). Its layers state the role of every parameter they create (nn/param_roles.h), so
// the decay policy, the probes and the audit work on any model.
#include <torch/torch.h>

#include <utility>

#include "eshift/models/model_spec.h"

namespace eshift {

class Model : public torch::nn::Module {
 public:
  explicit Model(ModelSpec spec) : spec_(std::move(spec)) {}
  // Input [B, C, H, W] → output (logits [B, num_classes] for the classifiers).
  virtual torch::Tensor forward(torch::Tensor x) = 0;
  const ModelSpec& spec() const { return spec_; }

 private:
  ModelSpec spec_;
};

}  // namespace eshift
