#include "eshift/models/detection/feature_pyramid.h"

namespace eshift {

FeaturePyramidImpl::FeaturePyramidImpl(const ModelSpec& spec, const std::vector<int64_t>& in_channels, int64_t channels)
    : channels_(channels) {
  TORCH_CHECK(!in_channels.empty(), "a feature pyramid needs at least one backbone stage");
  inner_blocks_ = register_module("inner_blocks", torch::nn::ModuleList());
  layer_blocks_ = register_module("layer_blocks", torch::nn::ModuleList());
  for (int64_t c : in_channels) {
    inner_blocks_->push_back(HeadConv(spec, c, channels, 1, /*relu=*/false, HeadConvInit::KaimingUniformA1));
    layer_blocks_->push_back(HeadConv(spec, channels, channels, 3, /*relu=*/false, HeadConvInit::KaimingUniformA1));
  }
}

std::vector<torch::Tensor> FeaturePyramidImpl::forward(const std::vector<torch::Tensor>& stages) {
  const size_t n = inner_blocks_->size();
  TORCH_CHECK(stages.size() == n, "the feature pyramid takes ", n, " stages, got ", stages.size());
  std::vector<torch::Tensor> out(n);
  auto top_down = inner_blocks_->ptr<HeadConvImpl>(n - 1)->forward(stages[n - 1]);
  out[n - 1] = layer_blocks_->ptr<HeadConvImpl>(n - 1)->forward(top_down);
  for (size_t i = n - 1; i-- > 0;) {
    const auto lateral = inner_blocks_->ptr<HeadConvImpl>(i)->forward(stages[i]);
    const auto upsampled = torch::nn::functional::interpolate(
        top_down, torch::nn::functional::InterpolateFuncOptions()
                      .size(std::vector<int64_t>{lateral.size(-2), lateral.size(-1)})
                      .mode(torch::kNearest));
    top_down = lateral + upsampled;
    out[i] = layer_blocks_->ptr<HeadConvImpl>(i)->forward(top_down);
  }
  out.push_back(torch::max_pool2d(out.back(), {1, 1}, {2, 2}, {0, 0}));
  return out;
}

}  // namespace eshift
