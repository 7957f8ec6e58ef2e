#include "eshift/models/shufflenet.h"

#include <string>

#include "eshift/models/layers.h"

namespace eshift {

namespace {
// [B, g·n, H, W] → the channels of the g groups interleaved: channel i·n + j goes to j·g + i
torch::Tensor shuffle_channels(const torch::Tensor& x, int64_t groups) {
  const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  return x.reshape({b, groups, c / groups, h, w}).transpose(1, 2).reshape({b, c, h, w});
}

// Registers `layer` in `parent` as `name` (torchvision's nn.Sequential numbers) and returns it.
torch::nn::AnyModule add(torch::nn::Module& parent, const std::string& name, torch::nn::AnyModule layer) {
  parent.register_module(name, layer.ptr());
  return layer;
}

// ---------------------------------------------------------------- ShuffleNet V2
// torchvision's InvertedResidual; the numbers skip its ReLUs (modules without parameters)
class InvertedResidualImpl : public torch::nn::Module {
 public:
  InvertedResidualImpl(const ModelSpec& spec, int64_t in, int64_t out, int64_t stride) : stride_(stride) {
    const int64_t half = out / 2;
    if (stride > 1) {
      auto& b1 = *register_module("branch1", std::make_shared<torch::nn::Module>());
      b1_dw_ = add(b1, "0", make_conv(spec, in, in, 3, stride, /*groups=*/in));
      b1_norm_dw_ = add(b1, "1", make_norm(spec, in));
      b1_pw_ = add(b1, "2", make_conv(spec, in, half, 1, 1));
      b1_norm_pw_ = add(b1, "3", make_norm(spec, half));
    }
    auto& b2 = *register_module("branch2", std::make_shared<torch::nn::Module>());
    b2_pw1_ = add(b2, "0", make_conv(spec, stride > 1 ? in : half, half, 1, 1));
    b2_norm_pw1_ = add(b2, "1", make_norm(spec, half));
    b2_dw_ = add(b2, "3", make_conv(spec, half, half, 3, stride, /*groups=*/half));
    b2_norm_dw_ = add(b2, "4", make_norm(spec, half));
    b2_pw2_ = add(b2, "5", make_conv(spec, half, half, 1, 1));
    b2_norm_pw2_ = add(b2, "6", make_norm(spec, half));
  }
  torch::Tensor forward(torch::Tensor x) {
    torch::Tensor out;
    if (stride_ == 1) {
      auto halves = x.chunk(2, 1);
      out = torch::cat({halves[0], branch2(halves[1])}, 1);
    } else {
      out = torch::cat({branch1(x), branch2(x)}, 1);
    }
    return shuffle_channels(out, 2);
  }

 private:
  torch::Tensor branch1(const torch::Tensor& x) {
    auto y = apply_norm(b1_norm_dw_, b1_dw_.forward(x));
    return norm_relu(b1_norm_pw_, b1_pw_.forward(y));
  }
  torch::Tensor branch2(const torch::Tensor& x) {
    auto y = norm_relu(b2_norm_pw1_, b2_pw1_.forward(x));
    y = apply_norm(b2_norm_dw_, b2_dw_.forward(y));
    return norm_relu(b2_norm_pw2_, b2_pw2_.forward(y));
  }

  int64_t stride_;
  torch::nn::AnyModule b1_dw_, b1_norm_dw_, b1_pw_, b1_norm_pw_;
  torch::nn::AnyModule b2_pw1_, b2_norm_pw1_, b2_dw_, b2_norm_dw_, b2_pw2_, b2_norm_pw2_;
};
TORCH_MODULE(InvertedResidual);

// ---------------------------------------------------------------- ShuffleNet V1
constexpr int64_t kV1Groups = 3;

class ShuffleUnitImpl : public torch::nn::Module {
 public:
  // first_ungrouped: conv1 is a plain 1×1 conv (the first unit of stage 2)
  ShuffleUnitImpl(const ModelSpec& spec, int64_t in, int64_t out, int64_t stride, bool first_ungrouped)
      : stride_(stride) {
    const int64_t mid = out / 4, branch_out = stride > 1 ? out - in : out;
    conv1_ = make_conv(spec, in, mid, 1, 1, first_ungrouped ? 1 : kV1Groups);
    norm1_ = make_norm(spec, mid);
    conv2_ = make_conv(spec, mid, mid, 3, stride, /*groups=*/mid);
    norm2_ = make_norm(spec, mid);
    conv3_ = make_conv(spec, mid, branch_out, 1, 1, kV1Groups);
    norm3_ = make_norm(spec, branch_out);
    register_module("conv1", conv1_.ptr());
    register_module("norm1", norm1_.ptr());
    register_module("conv2", conv2_.ptr());
    register_module("norm2", norm2_.ptr());
    register_module("conv3", conv3_.ptr());
    register_module("norm3", norm3_.ptr());
  }
  torch::Tensor forward(torch::Tensor x) {
    auto y = shuffle_channels(norm_relu(norm1_, conv1_.forward(x)), kV1Groups);
    y = conv3_.forward(apply_norm(norm2_, conv2_.forward(y)));
    if (stride_ == 1) return norm_relu(norm3_, y, x);
    return torch::cat({torch::avg_pool2d(x, 3, 2, 1), norm_relu(norm3_, y)}, 1);  // the pool is ≥ 0 already
  }

 private:
  int64_t stride_;
  torch::nn::AnyModule conv1_, norm1_, conv2_, norm2_, conv3_, norm3_;
};
TORCH_MODULE(ShuffleUnit);
}  // namespace

ShuffleNetV2Impl::ShuffleNetV2Impl(const ModelSpec& spec) : Model(spec) {
  spec.validate();
  auto& conv1 = *register_module("conv1", std::make_shared<torch::nn::Module>());
  conv1_ = add(conv1, "0", make_conv(spec, spec.in_channels, 24, 3, 2));
  norm1_ = add(conv1, "1", make_norm(spec, 24));
  const int64_t repeats[3] = {4, 8, 4}, channels[3] = {116, 232, 464};
  torch::nn::Sequential* stages[3] = {&stage2_, &stage3_, &stage4_};
  int64_t in = 24;
  for (int s = 0; s < 3; ++s) {
    *stages[s] = register_module("stage" + std::to_string(s + 2), torch::nn::Sequential());
    for (int u = 0; u < repeats[s]; ++u) {
      (*stages[s])->push_back(InvertedResidual(spec, in, channels[s], u == 0 ? 2 : 1));
      in = channels[s];
    }
  }
  auto& conv5 = *register_module("conv5", std::make_shared<torch::nn::Module>());
  conv5_ = add(conv5, "0", make_conv(spec, in, 1024, 1, 1));
  norm5_ = add(conv5, "1", make_norm(spec, 1024));
  fc_ = register_module("fc", torch::nn::Linear(1024, spec.num_classes));
  init_convs(*this);
}

torch::Tensor ShuffleNetV2Impl::forward(torch::Tensor x) {
  x = torch::max_pool2d(norm_relu(norm1_, conv1_.forward(x)), 3, 2, 1);
  x = stage4_->forward(stage3_->forward(stage2_->forward(x)));
  x = norm_relu(norm5_, conv5_.forward(x));
  return fc_->forward(x.mean({2, 3}));
}

ShuffleNetV1Impl::ShuffleNetV1Impl(const ModelSpec& spec) : Model(spec) {
  spec.validate();
  conv1_ = make_conv(spec, spec.in_channels, 24, 3, 2);
  norm1_ = make_norm(spec, 24);
  register_module("conv1", conv1_.ptr());
  register_module("norm1", norm1_.ptr());
  const int64_t repeats[3] = {4, 8, 4}, channels[3] = {240, 480, 960};
  torch::nn::Sequential* stages[3] = {&stage2_, &stage3_, &stage4_};
  int64_t in = 24;
  for (int s = 0; s < 3; ++s) {
    *stages[s] = register_module("stage" + std::to_string(s + 2), torch::nn::Sequential());
    for (int u = 0; u < repeats[s]; ++u) {
      (*stages[s])->push_back(ShuffleUnit(spec, in, channels[s], u == 0 ? 2 : 1, s == 0 && u == 0));
      in = channels[s];
    }
  }
  fc_ = register_module("fc", torch::nn::Linear(in, spec.num_classes));
  init_convs(*this);
}

torch::Tensor ShuffleNetV1Impl::forward(torch::Tensor x) {
  x = torch::max_pool2d(norm_relu(norm1_, conv1_.forward(x)), 3, 2, 1);
  x = stage4_->forward(stage3_->forward(stage2_->forward(x)));
  return fc_->forward(torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1));
}

ModelEntry shufflenet_v2_entry() {
  return {"shufflenet_v2_x1_0", [](const std::string& name) { return name == "shufflenet_v2_x1_0"; },
          [](const ModelSpec&) {},
          [](const ModelSpec& spec) { return std::static_pointer_cast<Model>(ShuffleNetV2(spec).ptr()); }};
}

ModelEntry shufflenet_v1_entry() {
  return {"shufflenet_v1_g3", [](const std::string& name) { return name == "shufflenet_v1_g3"; },
          [](const ModelSpec&) {},
          [](const ModelSpec& spec) { return std::static_pointer_cast<Model>(ShuffleNetV1(spec).ptr()); }};
}

}  // namespace eshift
