#pragma once
// What the loader hands the trainer and the task consumes.
#include <torch/torch.h>

#include <string>
#include <vector>

namespace eshift {

struct Batch {
  torch::Tensor inputs;   // float32 [B, C, H, W], transformed
  torch::Tensor targets;  // what the task compares the model's output with: int64 class indices [B]
                          // for classification (a detection task brings its own target layout)
  // The examples of this batch that could not be decoded (one message each, naming the file): in
  // training their places are taken by other examples of the batch, in evaluation they are left out.
  std::vector<std::string> unreadable = {};
  int64_t size() const { return inputs.size(0); }
};

}  // namespace eshift
