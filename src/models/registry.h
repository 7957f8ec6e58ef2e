#pragma once
// The model registry: every model eshift can build, by name (--model). A new model joins by adding
// one entry to model_registry() in registry.cpp. Today: the CIFAR ResNets (resnet.h) and the
// ImageNet zoo: resnet18/34/50/101/152, resnext50_32x4d, resnext101_32x8d (resnet.h), densenet201
// (densenet.h), mobilenet_v1 (mobilenet.h), shufflenet_v1_g3, shufflenet_v2_x1_0 (shufflenet.h).
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "eshift/models/model_spec.h"

namespace eshift {

class Model;  // model.h

struct ModelEntry {
  std::string names;                                   // as listed in errors and --help: "resnet<6n+2>"
  std::function<bool(const std::string&)> matches;     // whether a --model name is this entry's
  std::function<void(const ModelSpec&)> validate;      // name-specific checks; throws std::invalid_argument
  std::function<std::shared_ptr<Model>(const ModelSpec&)> build;
};

const std::vector<ModelEntry>& model_registry();

// The entry of `name`; throws std::invalid_argument ("unknown model 'x' (known: …)").
const ModelEntry& find_model(const std::string& name);

// Validates the spec and builds the model (parameters initialized from LibTorch's CPU generator).
std::shared_ptr<Model> build_model(const ModelSpec& spec);

}  // namespace eshift
