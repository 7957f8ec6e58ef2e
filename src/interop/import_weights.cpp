#include "eshift/interop/import_weights.h"

#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <vector>

#include "eshift/nn/normalized_layers.h"
#include "eshift/nn/weight_family.h"

namespace eshift {

namespace {

bool resnet_family(const std::string& model) {
  for (const char* prefix : {"resnet", "resnext", "wide_resnet"})
    if (model.rfind(prefix, 0) == 0) return true;
  return false;
}

// eshift name → torchvision name for one model
class NameMap {
 public:
  explicit NameMap(const Model& model) {
    if (model.spec().name.rfind("maskrcnn_", 0) == 0) {
      for (const auto& child : model.named_children())
        if (child.key() == "backbone")
          if (const auto* backbone = dynamic_cast<const Model*>(child.value().get()))
            backbone_ = std::make_shared<NameMap>(*backbone);
      return;
    }
    if (!resnet_family(model.spec().name)) return;
    for (const auto& child : model.named_children()) {
      if (child.key() != "stages") continue;
      int stage = 1, in_stage = 0, index = 0;
      for (const auto& block : child.value()->named_children()) {
        if (index > 0 && strided(*block.value())) {
          ++stage;
          in_stage = 0;
        }
        blocks_[block.key()] = "layer" + std::to_string(stage) + "." + std::to_string(in_stage);
        ++in_stage, ++index;
      }
    }
  }

  std::string operator()(const std::string& name) const {
    if (backbone_) return detector_name(name);
    if (blocks_.empty()) return name;
    if (name.rfind("norm1.", 0) == 0) return "bn1." + name.substr(6);  // the stem
    if (name.rfind("stages.", 0) != 0) return name;
    const size_t dot = name.find('.', 7);
    const auto block = blocks_.find(name.substr(7, dot == std::string::npos ? std::string::npos : dot - 7));
    if (block == blocks_.end() || dot == std::string::npos) return name;
    std::string rest = name.substr(dot + 1);
    static const std::pair<const char*, const char*> renames[] = {
        {"norm1.", "bn1."}, {"norm2.", "bn2."}, {"norm3.", "bn3."},
        {"shortcut_conv.", "downsample.0."}, {"shortcut_norm.", "downsample.1."}};
    for (const auto& [from, to] : renames)
      if (rest.rfind(from, 0) == 0) {
        rest = to + rest.substr(std::string(from).size());
        break;
      }
    return block->second + "." + rest;
  }

 private:
  // whether a block has a strided conv (the first block of every stage after the first)
  static bool strided(const torch::nn::Module& block) {
    for (const auto& m : block.modules(/*include_self=*/false))
      if (const auto* conv = m->as<torch::nn::Conv2d>())
        for (int64_t s : *conv->options.stride())
          if (s > 1) return true;
    return false;
  }

  // Mask R-CNN (models/detection/mask_rcnn.h) → torchvision's maskrcnn_resnet50_fpn (torchvision
  // ≥ 0.13: its FPN, RPN and mask-head convs are Conv2dNormActivation, hence the ".0").
  std::string detector_name(const std::string& name) const {
    static const std::pair<const char*, const char*> prefixes[] = {
        {"rpn.head.conv.", "rpn.head.conv.0.0."},
        {"roi_heads.fc6.", "roi_heads.box_head.fc6."},
        {"roi_heads.fc7.", "roi_heads.box_head.fc7."},
        {"roi_heads.cls_score.", "roi_heads.box_predictor.cls_score."},
        {"roi_heads.bbox_pred.", "roi_heads.box_predictor.bbox_pred."},
        {"roi_heads.conv5_mask.", "roi_heads.mask_predictor.conv5_mask."},
        {"roi_heads.mask_fcn_logits.", "roi_heads.mask_predictor.mask_fcn_logits."}};
    if (name.rfind("backbone.", 0) == 0) return "backbone.body." + (*backbone_)(name.substr(9));
    for (const auto& [from, to] : prefixes)
      if (name.rfind(from, 0) == 0) return to + name.substr(std::string(from).size());
    // fpn.{inner,layer}_blocks.<i>.conv.P → backbone.fpn.{…}.<i>.0.P; roi_heads.mask_head.<i>.conv.P → ….<i>.0.P
    for (const char* list : {"fpn.inner_blocks.", "fpn.layer_blocks.", "roi_heads.mask_head."}) {
      const std::string prefix = list;
      if (name.rfind(prefix, 0) != 0) continue;
      const size_t dot = name.find('.', prefix.size());
      if (dot == std::string::npos || name.compare(dot, 6, ".conv.") != 0) return name;
      const std::string mapped = name.substr(0, dot) + ".0." + name.substr(dot + 6);
      return prefix.rfind("fpn.", 0) == 0 ? "backbone." + mapped : mapped;
    }
    return name;
  }

  std::map<std::string, std::string> blocks_;  // "7" → "layer2.3"
  std::shared_ptr<NameMap> backbone_;           // a detector's backbone's names
};

std::string shape_text(const torch::Tensor& t) {
  std::string out = "[";
  for (int64_t d = 0; d < t.dim(); ++d) out += (d ? "," : "") + std::to_string(t.size(d));
  return out + "]";
}

// "a, b, c (and 12 more)"
std::string listed(const std::vector<std::string>& items, size_t shown = 8) {
  std::string out;
  for (size_t k = 0; k < items.size() && k < shown; ++k) out += (k ? ", " : "") + items[k];
  if (items.size() > shown) out += " (and " + std::to_string(items.size() - shown) + " more)";
  return out;
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

std::string torchvision_name(const Model& model, const std::string& name) { return NameMap(model)(name); }

void import_state_dict(Model& model, const StateDict& dict, const std::string& source) {
  const auto& spec = model.spec();
  if (spec.wnorm == WeightFamily::CWN)
    throw std::invalid_argument("--wnorm cwn cannot take PyTorch weights: a centered-WN conv cannot compute a conv whose "
                                "filters do not sum to zero (use --wnorm none, ws or wn)");
  // the WN gains are eshift's own: set from the imported directions below
  std::set<std::string> own;
  std::vector<torch::nn::Module*> wn_layers;
  for (const auto& item : model.named_modules()) {
    auto* m = item.value().get();
    if (dynamic_cast<WNConv2dImpl*>(m) || dynamic_cast<CWNConv2dImpl*>(m) || dynamic_cast<WNLinearImpl*>(m)) {
      own.insert(item.key().empty() ? "gain" : item.key() + ".gain");
      wn_layers.push_back(m);
    }
  }

  // torchvision name → (eshift name, tensor)
  const NameMap to_torchvision(model);
  std::map<std::string, std::pair<std::string, torch::Tensor>> targets;
  std::vector<std::string> order;  // eshift's order, for the list of missing keys
  auto add = [&](const std::string& name, const torch::Tensor& t) {
    if (own.count(name)) return;
    const std::string tv = to_torchvision(name);
    targets[tv] = {name, t};
    order.push_back(tv);
  };
  for (const auto& p : model.named_parameters(/*recurse=*/true)) add(p.key(), p.value());
  for (const auto& b : model.named_buffers(/*recurse=*/true)) add(b.key(), b.value());

  std::vector<std::string> unexpected, mis_shaped, missing;
  std::set<std::string> found;
  for (const auto& [key, tensor] : dict) {
    const auto it = targets.find(key);
    if (it == targets.end()) {
      unexpected.push_back(key);
      continue;
    }
    found.insert(key);
    if (!tensor.sizes().equals(it->second.second.sizes()))
      mis_shaped.push_back(key + " " + shape_text(tensor) + " vs eshift " + shape_text(it->second.second));
  }
  for (const auto& key : order)
    if (!found.count(key) && !ends_with(key, "num_batches_tracked")) missing.push_back(key);
  if (!missing.empty() || !unexpected.empty() || !mis_shaped.empty()) {
    std::string parts;
    auto part = [&parts](const char* what, const std::vector<std::string>& items) {
      if (!items.empty()) parts += (parts.empty() ? "" : "; ") + std::string(what) + ": " + listed(items);
    };
    part("missing", missing);
    part("unexpected", unexpected);
    part("shape", mis_shaped);
    throw CheckpointError(source + " does not match " + spec.name + " (" + std::to_string(spec.num_classes) +
                          " classes, norm " + spec.norm + "): " + parts);
  }

  torch::NoGradGuard no_grad;
  for (const auto& [key, tensor] : dict) targets.at(key).second.copy_(tensor);  // converts dtype and device
  for (auto* m : wn_layers) {  // g ← ‖v‖ per filter: the layer computes the imported weight
    if (auto* conv = dynamic_cast<WNConv2dImpl*>(m)) conv->reset_gain();
    if (auto* linear = dynamic_cast<WNLinearImpl*>(m)) linear->gain.copy_(filter_norm(linear->weight));
  }
}

void import_torch_file(Model& model, const std::string& path) {
  import_state_dict(model, read_torch_state_dict(path), path);
}

}  // namespace eshift
