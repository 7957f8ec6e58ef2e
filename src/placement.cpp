#include "eshift/placement.h"

namespace eshift {

void Placement::place(torch::nn::Module& model) const {
  model.to(device);
  if (!channels_last) return;
  torch::NoGradGuard no_grad;
  for (auto& p : model.parameters())
    if (p.dim() == 4) p.set_data(p.data().contiguous(torch::MemoryFormat::ChannelsLast));
  for (auto& b : model.buffers())
    if (b.dim() == 4) b.set_data(b.data().contiguous(torch::MemoryFormat::ChannelsLast));
}

torch::Tensor Placement::input(const torch::Tensor& x) const {
  auto out = x.to(device);
  return channels_last && out.dim() == 4 ? out.contiguous(torch::MemoryFormat::ChannelsLast) : out;
}

}  // namespace eshift
