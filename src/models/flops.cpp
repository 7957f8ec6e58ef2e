#include "eshift/models/flops.h"

#include <ATen/record_function.h>

#include <cstring>
#include <memory>

namespace eshift {

namespace {
// Callbacks take plain function pointers: the count lives in a thread-local (the forward runs on
// this thread; ATen's intra-op threads run kernels, not operator calls).
thread_local double t_flops = 0;

struct ConvCall : at::ObserverContext {
  double macs_per_output = 0;  // C_in/groups · k_h · k_w, read from the weight's shape
};

std::unique_ptr<at::ObserverContext> on_start(const at::RecordFunction& fn) {
  if (std::strcmp(fn.name(), "aten::convolution") != 0) return nullptr;
  const auto weight = fn.inputs()[1].toTensor();  // [C_out, C_in/groups, k_h, k_w]
  auto call = std::make_unique<ConvCall>();
  call->macs_per_output = double(weight.numel()) / double(weight.size(0));
  return call;
}

void on_end(const at::RecordFunction& fn, at::ObserverContext* context) {
  if (!context) return;
  const auto output = fn.outputs()[0].toTensor();
  t_flops += 2.0 * static_cast<ConvCall*>(context)->macs_per_output * double(output.numel());
}
}  // namespace

double conv_forward_flops(Model& model, int64_t height, int64_t width) {
  const auto some = model.parameters().front();
  const auto input = torch::zeros({1, model.spec().in_channels, height, width}, some.options());
  const bool was_training = model.is_training();
  model.eval();  // no change to BatchNorm's running statistics
  torch::NoGradGuard no_grad;
  t_flops = 0;
  const auto handle = at::addThreadLocalCallback(
      at::RecordFunctionCallback(on_start, on_end).needsInputs(true).needsOutputs(true).scopes({at::RecordScope::FUNCTION}));
  try {
    model.forward(input);
  } catch (...) {
    at::removeCallback(handle);
    model.train(was_training);
    throw;
  }
  at::removeCallback(handle);
  model.train(was_training);
  return t_flops;
}

}  // namespace eshift
