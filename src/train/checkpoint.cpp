#include "eshift/train/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>

#include <filesystem>

#include "eshift/core/atomic_file.h"
#include "eshift/core/text.h"
#include "eshift/train/execution_policy.h"

namespace eshift {

namespace {
torch::serialize::InputArchive open_archive(const std::string& path, const torch::Device& device) {
  if (!std::filesystem::is_regular_file(path)) throw CheckpointError(path + ": no such checkpoint file");
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(path, device);
  } catch (const std::exception& e) {
    throw CheckpointError(path + ": not a readable checkpoint (" + first_line(e.what()) + ")");
  }
  return archive;
}

CheckpointInfo read_info(torch::serialize::InputArchive& archive, const std::string& path) {
  CheckpointInfo info;
  try {
    torch::IValue v;
    archive.read("eshift_spec", v);
    info.spec = ModelSpec::from_json(v.toStringRef());
    archive.read("epoch", v);
    info.epoch = v.toInt();
    archive.read("config", v);
    info.config_json = v.toStringRef();
    archive.read("input_mean", v);
    info.input_mean = v.toDoubleVector();
    archive.read("input_std", v);
    info.input_std = v.toDoubleVector();
  } catch (const std::exception& e) {
    throw CheckpointError(path + ": not an eshift checkpoint (" + first_line(e.what()) + ")");
  }
  return info;
}
}  // namespace

void save_checkpoint(const std::string& path, torch::nn::Module& model, const torch::optim::Optimizer* optimizer,
                     const CheckpointInfo& info, const ExecutionPolicy* policy) {
  torch::serialize::OutputArchive archive;
  archive.write("eshift_spec", torch::IValue(info.spec.to_json()));
  archive.write("epoch", torch::IValue(info.epoch));
  archive.write("config", torch::IValue(info.config_json));
  archive.write("input_mean", torch::IValue(info.input_mean));
  archive.write("input_std", torch::IValue(info.input_std));
  torch::serialize::OutputArchive model_archive;
  model.save(model_archive);
  archive.write("model", model_archive);
  if (optimizer) {
    torch::serialize::OutputArchive optimizer_archive;
    optimizer->save(optimizer_archive);
    archive.write("optimizer", optimizer_archive);
  }
  if (policy && policy->has_state()) {
    torch::serialize::OutputArchive policy_archive;
    policy->save(policy_archive);
    archive.write("execution_policy", policy_archive);
  }
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    archive.write("cpu_rng", gen.get_state(), /*is_buffer=*/true);
  }
  try {
    replace_file(path, [&](const std::string& tmp) { archive.save_to(tmp); });
  } catch (const std::exception& e) {
    throw CheckpointError(first_line(e.what()));
  }
}

CheckpointInfo read_checkpoint_info(const std::string& path) {
  auto archive = open_archive(path, torch::kCPU);
  return read_info(archive, path);
}

CheckpointInfo load_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                               const ModelSpec& expected, const torch::Device& device, ExecutionPolicy* policy) {
  auto archive = open_archive(path, device);
  auto info = read_info(archive, path);
  if (!(info.spec == expected))
    throw CheckpointError(path + ": checkpoint is for model " + info.spec.to_json() + ", not for " + expected.to_json());
  try {
    torch::serialize::InputArchive model_archive;
    archive.read("model", model_archive);
    model.load(model_archive);
    if (optimizer) {
      torch::serialize::InputArchive optimizer_archive;
      archive.read("optimizer", optimizer_archive);
      optimizer->load(optimizer_archive);
    }
    torch::serialize::InputArchive policy_archive;
    if (policy && archive.try_read("execution_policy", policy_archive)) policy->load(policy_archive);
    torch::Tensor rng;
    if (archive.try_read("cpu_rng", rng, /*is_buffer=*/true)) {
      auto gen = at::detail::getDefaultCPUGenerator();
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(rng.to(torch::kCPU));
    }
  } catch (const CheckpointError&) {
    throw;
  } catch (const std::exception& e) {
    throw CheckpointError(path + ": does not fit this model/optimizer (" + first_line(e.what()) + ")");
  }
  return info;
}

}  // namespace eshift
