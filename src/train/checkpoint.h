#pragma once
// Checkpoints: model parameters and buffers, optimizer state (momentum buffers), the execution
// policy's state (the float16 loss scale), the epoch to resume at, the model spec (so a checkpoint
// cannot be loaded into another model) and the CPU RNG state.
// Written atomically (core/atomic_file.h), so a crash never leaves a torn file. Every problem is a
// CheckpointError (core/errors.h) naming the file.
//
// File format, version 2 (all integers little endian):
//   bytes  0–7    "ESHIFTCK"
//   bytes  8–11   format version (uint32): 2
//   bytes 12–15   CRC-32C of the payload (uint32, core/checksum.h)
//   bytes 16–23   payload length in bytes (uint64)
//   bytes 24–     payload: LibTorch's archive (a zip) as torch::serialize::OutputArchive writes it
// LibTorch does not verify its zip's CRCs; the checksum catches every flipped bit, a truncation and
// a damaged header before anything is loaded. Version 1 (eshift before the checksum) is the bare
// archive; it still loads, with a warning that it cannot be verified.
#include <torch/torch.h>

#include <string>
#include <vector>

#include "eshift/core/errors.h"
#include "eshift/models/model.h"
#include "eshift/models/model_spec.h"

namespace eshift {

struct CheckpointInfo {
  ModelSpec spec;
  int64_t epoch = 0;            // completed epochs (training resumes at this epoch)
  std::string config_json;      // the training configuration that wrote it (informative)
  std::vector<double> input_mean, input_std;  // per-channel input normalization the model was trained with
};

class ExecutionPolicy;  // execution_policy.h

void save_checkpoint(const std::string& path, torch::nn::Module& model, const torch::optim::Optimizer* optimizer,
                     const CheckpointInfo& info, const ExecutionPolicy* policy = nullptr);

constexpr uint32_t kCheckpointFormat = 2;

// Checks the header, length and checksum; throws CheckpointError naming the file and the damage.
void verify_checkpoint(const std::string& path);

// Reads only the metadata (spec, epoch, config). Throws CheckpointError on a missing or corrupt file.
CheckpointInfo read_checkpoint_info(const std::string& path);

// The file's bytes, verified as verify_checkpoint does (what rank 0 of a data-parallel run sends the
// others, so that only it needs the run directory).
std::string read_checkpoint_bytes(const std::string& path);

// Loads into `model` (and `optimizer` and `policy` when given) after checking the stored spec
// equals `expected`; restores the CPU RNG state. A checkpoint without policy state (float32 runs,
// older checkpoints) leaves the policy as it is. Throws CheckpointError naming the file and the problem.
CheckpointInfo load_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                               const ModelSpec& expected, const torch::Device& device,
                               ExecutionPolicy* policy = nullptr);
// read_checkpoint_info and load_checkpoint from bytes of read_checkpoint_bytes (a file read once);
// `name` (the file they came from) names them in errors.
CheckpointInfo read_checkpoint_info_bytes(const std::string& bytes, const std::string& name);
CheckpointInfo load_checkpoint_bytes(const std::string& bytes, const std::string& name, torch::nn::Module& model,
                                     torch::optim::Optimizer* optimizer, const ModelSpec& expected,
                                     const torch::Device& device, ExecutionPolicy* policy = nullptr);

// A detector's backbone (mask_rcnn.h) from an ImageNet classifier of the same ResNet: an eshift
// checkpoint (its model's weights: the same name, --wnorm and --norm) or a PyTorch state dict in
// torchvision's names (interop/import_weights.h); the classifier's fc is left out either way.
// Throws std::invalid_argument or CheckpointError naming the file.
void load_backbone_weights(Model& backbone, const std::string& path);

}  // namespace eshift
