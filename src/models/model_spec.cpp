#include "eshift/models/model_spec.h"

#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "eshift/models/registry.h"

namespace eshift {

void ModelSpec::validate() const {
  find_model(name).validate(*this);
  if (norm != "bn" && norm != "gn") throw std::invalid_argument("unknown --norm '" + norm + "' (bn or gn)");
  if (gn_groups < 1) throw std::invalid_argument("--gn-groups must be >= 1");
  if (in_channels < 1) throw std::invalid_argument("input channels must be >= 1");
  if (num_classes < 2) throw std::invalid_argument("need at least 2 classes");
  if (width < 1) throw std::invalid_argument("--width must be >= 1");
  if (!(ws.delta >= 0)) throw std::invalid_argument("--ws-delta must be >= 0");
  detector.validate();
  if (detector.frozen_backbone_bn && norm != "bn")
    throw std::invalid_argument("--frozen-backbone-bn freezes BatchNorm, and --norm is " + norm);
}

namespace {
// name ↔ field of every detector setting, in torchvision's order
template <typename F>
void each_detector_setting(DetectorSettings& d, F&& f) {
  f("rpn_pre_nms_top_n_train", d.rpn.pre_nms_top_n_train);
  f("rpn_pre_nms_top_n_test", d.rpn.pre_nms_top_n_test);
  f("rpn_post_nms_top_n_train", d.rpn.post_nms_top_n_train);
  f("rpn_post_nms_top_n_test", d.rpn.post_nms_top_n_test);
  f("rpn_nms_thresh", d.rpn.nms_thresh);
  f("rpn_fg_iou_thresh", d.rpn.fg_iou_thresh);
  f("rpn_bg_iou_thresh", d.rpn.bg_iou_thresh);
  f("rpn_batch_size_per_image", d.rpn.batch_size_per_image);
  f("rpn_positive_fraction", d.rpn.positive_fraction);
  f("rpn_score_thresh", d.rpn.score_thresh);
  f("box_score_thresh", d.box.score_thresh);
  f("box_nms_thresh", d.box.nms_thresh);
  f("box_detections_per_img", d.box.detections_per_img);
  f("box_fg_iou_thresh", d.box.fg_iou_thresh);
  f("box_bg_iou_thresh", d.box.bg_iou_thresh);
  f("box_batch_size_per_image", d.box.batch_size_per_image);
  f("box_positive_fraction", d.box.positive_fraction);
  f("fpn_channels", d.fpn_channels);
  f("representation_size", d.box.representation_size);
  f("trainable_backbone_layers", d.trainable_backbone_layers);
  f("frozen_backbone_bn", d.frozen_backbone_bn);
}

std::string flag_of(const std::string& setting) {
  std::string flag = "--" + setting;
  for (auto& c : flag)
    if (c == '_') c = '-';
  return flag;
}
}  // namespace

void DetectorSettings::validate() const {
  auto d = *this;
  each_detector_setting(d, [](const std::string& name, auto value) {
    if (!(value >= 0)) throw std::invalid_argument(flag_of(name) + " must be >= 0, got " + std::to_string(value));
  });
  for (auto [name, value] : {std::pair<const char*, double>{"rpn_nms_thresh", rpn.nms_thresh},
                             {"rpn_fg_iou_thresh", rpn.fg_iou_thresh}, {"rpn_bg_iou_thresh", rpn.bg_iou_thresh},
                             {"rpn_positive_fraction", rpn.positive_fraction}, {"box_nms_thresh", box.nms_thresh},
                             {"box_fg_iou_thresh", box.fg_iou_thresh}, {"box_bg_iou_thresh", box.bg_iou_thresh},
                             {"box_positive_fraction", box.positive_fraction}})
    if (value > 1) throw std::invalid_argument(flag_of(name) + " must be in [0, 1], got " + std::to_string(value));
  if (trainable_backbone_layers > 5)
    throw std::invalid_argument("--trainable-backbone-layers must be 0..5, got " + std::to_string(trainable_backbone_layers));
  if (rpn.bg_iou_thresh > rpn.fg_iou_thresh)
    throw std::invalid_argument("--rpn-bg-iou-thresh must not exceed --rpn-fg-iou-thresh");
  if (box.bg_iou_thresh > box.fg_iou_thresh)
    throw std::invalid_argument("--box-bg-iou-thresh must not exceed --box-fg-iou-thresh");
  for (auto [name, value] : {std::pair<const char*, int64_t>{"rpn_pre_nms_top_n_train", rpn.pre_nms_top_n_train},
                             {"rpn_pre_nms_top_n_test", rpn.pre_nms_top_n_test},
                             {"rpn_post_nms_top_n_train", rpn.post_nms_top_n_train},
                             {"rpn_post_nms_top_n_test", rpn.post_nms_top_n_test},
                             {"rpn_batch_size_per_image", rpn.batch_size_per_image},
                             {"box_detections_per_img", box.detections_per_img},
                             {"box_batch_size_per_image", box.batch_size_per_image},
                             {"fpn_channels", fpn_channels}, {"representation_size", box.representation_size}})
    if (value < 1) throw std::invalid_argument(flag_of(name) + " must be >= 1, got " + std::to_string(value));
}

std::string ModelSpec::to_json() const {
  nlohmann::json j{{"name", name},          {"wnorm", family_name(wnorm)}, {"norm", norm},
                   {"gn_groups", gn_groups}, {"ws_delta", ws.delta},      {"ws_delta_inside_sqrt", ws.delta_inside_sqrt},
                   {"in_channels", in_channels}, {"num_classes", num_classes}, {"width", width}};
  if (is_detector()) {
    auto d = detector;
    each_detector_setting(d, [&](const std::string& key, auto value) { j["detector"][key] = value; });
  }
  return j.dump();
}

ModelSpec ModelSpec::from_json(const std::string& text) {
  auto j = nlohmann::json::parse(text);
  ModelSpec s;
  s.name = j.at("name").get<std::string>();
  s.wnorm = parse_family(j.at("wnorm").get<std::string>());
  s.norm = j.at("norm").get<std::string>();
  s.gn_groups = j.at("gn_groups").get<int>();
  s.ws.delta = j.at("ws_delta").get<double>();
  s.ws.delta_inside_sqrt = j.at("ws_delta_inside_sqrt").get<bool>();
  s.in_channels = j.at("in_channels").get<int64_t>();
  s.num_classes = j.at("num_classes").get<int64_t>();
  s.width = j.at("width").get<int64_t>();
  if (j.contains("detector")) {
    const auto& d = j.at("detector");
    each_detector_setting(s.detector, [&](const std::string& key, auto& value) {
      if (d.contains(key)) value = d.at(key).get<std::decay_t<decltype(value)>>();
    });
  }
  return s;
}

}  // namespace eshift
