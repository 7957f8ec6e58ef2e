#include "eshift/train/checkpoint.h"

#include <ATen/CPUGeneratorImpl.h>

#include <nlohmann/json.hpp>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>

#include "eshift/core/atomic_file.h"
#include "eshift/core/checksum.h"
#include "eshift/core/little_endian.h"
#include "eshift/core/text.h"
#include "eshift/interop/import_weights.h"
#include "eshift/interop/torch_state_dict.h"
#include "eshift/models/registry.h"
#include "eshift/train/execution_policy.h"

namespace eshift {

namespace {
constexpr char kMagic[8] = {'E', 'S', 'H', 'I', 'F', 'T', 'C', 'K'};
constexpr size_t kHeaderSize = 24;
constexpr char kZipMagic[4] = {'P', 'K', 3, 4};  // format 1: a bare LibTorch archive

std::string read_file(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) throw CheckpointError(path + ": no such checkpoint file");
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw CheckpointError(path + ": cannot read the checkpoint");
  return bytes;
}

// Whether the file begins with an eshift checkpoint's header (format 2).
bool starts_with_checkpoint_magic(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char head[8] = {};
  return in.read(head, 8) && std::memcmp(head, kMagic, 8) == 0;
}

// The archive inside a checkpoint file's bytes, after checking its header, length and checksum.
std::string_view payload_of(const std::string& bytes, const std::string& path) {
  if (bytes.size() >= 4 && std::memcmp(bytes.data(), kZipMagic, 4) == 0) {
    std::cerr << "eshift: warning: " << path << " is a checkpoint without a checksum (format 1); it cannot be verified\n";
    return bytes;
  }
  if (bytes.size() < kHeaderSize || std::memcmp(bytes.data(), kMagic, 8) != 0)
    throw CheckpointError(path + ": not a readable checkpoint (no eshift checkpoint header)");
  const uint64_t version = get_le(bytes.data() + 8, 4);
  if (version != kCheckpointFormat)
    throw CheckpointError(path + ": checkpoint format " + std::to_string(version) + " (damaged, or written by " +
                          "another eshift version; this one reads format " + std::to_string(kCheckpointFormat) + ")");
  const uint64_t length = get_le(bytes.data() + 16, 8);
  if (length != bytes.size() - kHeaderSize)
    throw CheckpointError(path + ": damaged checkpoint (" + std::to_string(bytes.size() - kHeaderSize) +
                          " payload bytes where the header says " + std::to_string(length) + ": truncated or damaged)");
  const std::string_view payload(bytes.data() + kHeaderSize, length);
  if (crc32c(payload.data(), payload.size()) != get_le(bytes.data() + 12, 4))
    throw CheckpointError(path + ": damaged checkpoint (checksum mismatch)");
  return payload;
}

torch::serialize::InputArchive open_archive(const std::string& bytes, const std::string& path, const torch::Device& device) {
  const auto payload = payload_of(bytes, path);
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(payload.data(), payload.size(), device);
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
  std::string payload;
  archive.save_to([&payload](const void* data, size_t size) {
    payload.append(static_cast<const char*>(data), size);
    return size;
  });
  char header[kHeaderSize];
  std::memcpy(header, kMagic, 8);
  put_le(header + 8, kCheckpointFormat, 4);
  put_le(header + 12, crc32c(payload.data(), payload.size()), 4);
  put_le(header + 16, payload.size(), 8);
  try {
    write_file_atomic(path, {std::string_view(header, kHeaderSize), payload});
  } catch (const std::exception& e) {
    throw CheckpointError(first_line(e.what()));
  }
}

void verify_checkpoint(const std::string& path) { payload_of(read_file(path), path); }

std::string read_checkpoint_bytes(const std::string& path) {
  std::string bytes = read_file(path);
  payload_of(bytes, path);
  return bytes;
}

CheckpointInfo read_checkpoint_info(const std::string& path) { return read_checkpoint_info_bytes(read_file(path), path); }

CheckpointInfo read_checkpoint_info_bytes(const std::string& bytes, const std::string& path) {
  auto archive = open_archive(bytes, path, torch::kCPU);
  return read_info(archive, path);
}

CheckpointInfo load_checkpoint(const std::string& path, torch::nn::Module& model, torch::optim::Optimizer* optimizer,
                               const ModelSpec& expected, const torch::Device& device, ExecutionPolicy* policy) {
  return load_checkpoint_bytes(read_file(path), path, model, optimizer, expected, device, policy);
}

CheckpointInfo load_checkpoint_bytes(const std::string& bytes, const std::string& path, torch::nn::Module& model,
                                     torch::optim::Optimizer* optimizer, const ModelSpec& expected,
                                     const torch::Device& device, ExecutionPolicy* policy) {
  auto archive = open_archive(bytes, path, device);
  auto info = read_info(archive, path);
  if (!(info.spec == expected))
    throw CheckpointError(path + ": checkpoint is for model " + info.spec.to_json() + ", not for " + expected.to_json());
  try {
    // LibTorch's archive reader keeps the parameter's dtype and misreads a float64 tensor into a
    // float32 one: a --dtype float64 run's model is made float64 first
    const auto config = nlohmann::json::parse(info.config_json.empty() ? "{}" : info.config_json, nullptr, false);
    if (config.is_object() && config.value("dtype", std::string("float32")) == "float64") model.to(torch::kDouble);
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

void load_backbone_weights(Model& backbone, const std::string& path) {
  std::optional<CheckpointInfo> info;
  if (starts_with_checkpoint_magic(path)) {
    info = read_checkpoint_info(path);  // an eshift checkpoint: its damage is the error
  } else {
    try {
      info = read_checkpoint_info(path);  // version 1, a bare archive
    } catch (const std::exception&) {  // not an eshift checkpoint: a PyTorch file
    }
  }
  if (!info) {
    StateDict dict = read_torch_state_dict(path);
    dict.erase(std::remove_if(dict.begin(), dict.end(), [](const auto& e) { return e.first.rfind("fc.", 0) == 0; }),
               dict.end());
    import_state_dict(backbone, dict, path);
    return;
  }
  const auto& want = backbone.spec();
  if (info->spec.name != want.name || info->spec.wnorm != want.wnorm || info->spec.norm != want.norm)
    throw std::invalid_argument("--init-backbone " + path + " holds " + info->spec.name + " (wnorm " +
                                family_name(info->spec.wnorm) + ", norm " + info->spec.norm + "), the backbone is " +
                                want.name + " (wnorm " + family_name(want.wnorm) + ", norm " + want.norm + ")");
  auto classifier = build_model(info->spec);
  load_checkpoint(path, *classifier, nullptr, info->spec, torch::kCPU);
  std::map<std::string, torch::Tensor> source;
  for (const auto& p : classifier->named_parameters()) source[p.key()] = p.value();
  for (const auto& b : classifier->named_buffers()) source[b.key()] = b.value();
  torch::NoGradGuard no_grad;
  auto copy = [&](const std::string& name, torch::Tensor& target) {
    const auto it = source.find(name);
    if (it == source.end() || !it->second.sizes().equals(target.sizes()))
      throw std::invalid_argument("--init-backbone " + path + ": no " + name + " of the backbone's shape");
    target.copy_(it->second);
  };
  for (auto& p : backbone.named_parameters()) copy(p.key(), p.value());
  for (auto& b : backbone.named_buffers()) copy(b.key(), b.value());
}

}  // namespace eshift
