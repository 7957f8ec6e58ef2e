#pragma once
// A network eshift trains: a torch::nn::Module built from a ModelSpec by the model registry
// (registry.h). Its layers state the role of every parameter they create (nn/param_roles.h), so
// the decay policy, the probes and the audit work on any model.
#include <torch/torch.h>

#include <utility>
#include <vector>

#include "eshift/data/batch.h"
#include "eshift/models/model_output.h"
#include "eshift/models/model_spec.h"

namespace eshift {

class Model : public torch::nn::Module {
 public:
  explicit Model(ModelSpec spec) : spec_(std::move(spec)) {}
  // Input [B, C, H, W] → output (logits [B, num_classes] for the classifiers).
  virtual torch::Tensor forward(torch::Tensor x) = 0;
  // A placed batch → the model's output (model_output.h). A classifier reads the inputs only; a
  // detector also reads the batch's objects in training (its losses compare with them) and their
  // sizes in evaluation (its detections are per image).
  virtual ModelOutput forward_batch(const Batch& batch) { return forward(batch.inputs); }
  // Whether forward_batch gives losses and detections (a detector) rather than logits.
  virtual bool is_detector() const { return false; }
  // A backbone's stage outputs, shallow to deep (a ResNet's C2–C5: strides 4, 8, 16, 32), what a
  // feature pyramid reads; and their channels. Models without stages refuse.
  virtual std::vector<torch::Tensor> features(torch::Tensor x) {
    TORCH_CHECK(false, "model ", spec_.name, " gives no stage features (a detection backbone is a ResNet)");
  }
  virtual std::vector<int64_t> feature_channels() const {
    TORCH_CHECK(false, "model ", spec_.name, " gives no stage features (a detection backbone is a ResNet)");
  }
  const ModelSpec& spec() const { return spec_; }

 private:
  ModelSpec spec_;
};

}  // namespace eshift
