#include "eshift/models/mobilenet.h"

#include <string>
#include <utility>
#include <vector>

#include "eshift/models/layers.h"

namespace eshift {

namespace {
// depthwise 3×3 (stride) + norm + ReLU, then pointwise 1×1 (in → out) + norm + ReLU
class DepthwiseSeparableImpl : public torch::nn::Module {
 public:
  DepthwiseSeparableImpl(const ModelSpec& spec, int64_t in, int64_t out, int64_t stride)
      : dw_conv_(make_conv(spec, in, in, 3, stride, /*groups=*/in)), dw_norm_(make_norm(spec, in)),
        pw_conv_(make_conv(spec, in, out, 1, 1)), pw_norm_(make_norm(spec, out)) {
    register_module("dw_conv", dw_conv_.ptr());
    register_module("dw_norm", dw_norm_.ptr());
    register_module("pw_conv", pw_conv_.ptr());
    register_module("pw_norm", pw_norm_.ptr());
  }
  torch::Tensor forward(torch::Tensor x) {
    x = norm_relu(dw_norm_, dw_conv_.forward(x));
    return norm_relu(pw_norm_, pw_conv_.forward(x));
  }

 private:
  torch::nn::AnyModule dw_conv_, dw_norm_, pw_conv_, pw_norm_;
};
TORCH_MODULE(DepthwiseSeparable);
}  // namespace

MobileNetV1Impl::MobileNetV1Impl(const ModelSpec& spec) : Model(spec) {
  spec.validate();
  conv1_ = make_conv(spec, spec.in_channels, 32, 3, 2);
  norm1_ = make_norm(spec, 32);
  register_module("conv1", conv1_.ptr());
  register_module("norm1", norm1_.ptr());
  // (out channels, stride) of the 13 blocks, Table 1
  const std::vector<std::pair<int64_t, int64_t>> blocks = {{64, 1},  {128, 2}, {128, 1}, {256, 2}, {256, 1},
                                                           {512, 2}, {512, 1}, {512, 1}, {512, 1}, {512, 1},
                                                           {512, 1}, {1024, 2}, {1024, 1}};
  blocks_ = register_module("blocks", torch::nn::Sequential());
  int64_t in = 32;
  for (const auto& [out, stride] : blocks) {
    blocks_->push_back(DepthwiseSeparable(spec, in, out, stride));
    in = out;
  }
  fc_ = register_module("fc", torch::nn::Linear(in, spec.num_classes));
  init_convs(*this);
}

torch::Tensor MobileNetV1Impl::forward(torch::Tensor x) {
  x = norm_relu(norm1_, conv1_.forward(x));
  x = blocks_->forward(x);
  x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
  return fc_->forward(x);
}

ModelEntry mobilenet_v1_entry() {
  return {"mobilenet_v1", [](const std::string& name) { return name == "mobilenet_v1"; }, [](const ModelSpec&) {},
          [](const ModelSpec& spec) { return std::static_pointer_cast<Model>(MobileNetV1(spec).ptr()); }};
}

}  // namespace eshift
