#pragma once
// The PyTorch fixtures of tests/fixtures (make_torch_fixtures.py): their paths, the logits of a
// model on the saved input, and the relative difference the import tests compare them by.
#include <algorithm>
#include <string>

#include "eshift/interop/torch_state_dict.h"
#include "eshift/models/model.h"

namespace eshift::test {
inline std::string fixture(const std::string& name) { return std::string(ESHIFT_FIXTURES) + "/" + name; }

// max |a − b| / max(1, max |b|)
inline double relative_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>() / std::max(1.0, b.abs().max().item<double>());
}

// the model's eval-mode logits on the fixtures' input batch (resnet8_input.pt)
inline torch::Tensor eval_logits(Model& model) {
  torch::NoGradGuard no_grad;
  model.eval();
  return model.forward(read_torch_tensor(fixture("resnet8_input.pt")));
}
}  // namespace eshift::test
