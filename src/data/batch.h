#pragma once
// What the loader hands the trainer and the task consumes.
#include <torch/torch.h>

namespace eshift {

struct Batch {
  torch::Tensor inputs;   // float32 [B, C, H, W], transformed
  torch::Tensor targets;  // what the task compares the model's output with: int64 class indices [B]
                          // for classification (a detection task brings its own target layout)
  int64_t size() const { return inputs.size(0); }
};

}  // namespace eshift
