#include "eshift/models/registry.h"

#include <stdexcept>

#include "eshift/models/densenet.h"
#include "eshift/models/detection/mask_rcnn.h"
#include "eshift/models/mobilenet.h"
#include "eshift/models/model.h"
#include "eshift/models/resnet.h"
#include "eshift/models/shufflenet.h"

namespace eshift {

const std::vector<ModelEntry>& model_registry() {
  // the exact names first: resnet50 is the ImageNet layout, not a CIFAR depth
  static const std::vector<ModelEntry> entries = {imagenet_resnet_entry(), resnext_entry(),       densenet_entry(),
                                                  mobilenet_v1_entry(),    shufflenet_v1_entry(), shufflenet_v2_entry(),
                                                  cifar_resnet_entry(),   mask_rcnn_entry()};
  return entries;
}

const ModelEntry& find_model(const std::string& name) {
  std::string known;
  for (const auto& entry : model_registry()) {
    if (entry.matches(name)) return entry;
    known += (known.empty() ? "" : ", ") + entry.names;
  }
  throw std::invalid_argument("unknown model '" + name + "' (known: " + known + ")");
}

std::shared_ptr<Model> build_model(const ModelSpec& spec) {
  spec.validate();
  return find_model(spec.name).build(spec);
}

}  // namespace eshift
