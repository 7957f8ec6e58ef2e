#pragma once
// Checkpoints: model parameters and buffers, optimizer state (momentum buffers), the epoch to resume
// at, the model spec (so a checkpoint cannot be loaded into another model) and the CPU RNG state.
// Written atomically (core/atomic_file.h), so a crash never leaves a torn file. Every problem is a
// CheckpointError (core/errors.h) naming the file.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "eshift/core/errors.h"
#include "eshift/models/model_spec.h"

namespace eshift {

struct CheckpointInfo {
  ModelSpec spec;
  int64_t epoch = 0;            // completed epochs (training resumes at this epoch)
  std::string config_json;      // the training configuration that wrote it (informative)
  std::vector<double> input_mean, input_std;  // per-channel input normalization the model was trained with
};

void save_checkpoint(const std::string& path, torch::nn::Module& model, const torch::optim::Optimizer* optimizer,
                     const CheckpointInfo& info);

// Reads only the metadata (spec, epoch, config). Throws CheckpointError on a missing or corrupt file.
CheckpointInfo read_checkpoint_info(const std::string& path);

// Loads into `model` (and `optimizer` when given) after checking the stored spec equals `expected`;
// restores the CPU RNG state. Throws CheckpointError naming the file and the problem.
CheckpointInfo load_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                               const ModelSpec& expected, const torch::Device& device);

}  // namespace eshift
