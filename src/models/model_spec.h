#pragma once
// What a model is built from: its registry name and the options every eshift model takes (the
// weight-normalization family of its convs, its feature normalization, WS conventions, input
// channels, classes). Stored in checkpoints as JSON, so a checkpoint cannot be loaded into another
// model.
#include <cstdint>
#include <string>

#include "eshift/models/detector_settings.h"
#include "eshift/nn/family.h"

namespace eshift {

struct ModelSpec {
  std::string name = "resnet20";        // a name the model registry knows (registry.h)
  WeightFamily wnorm = WeightFamily::WS;
  std::string norm = "bn";              // bn | gn
  int gn_groups = 8;                    // groups of GroupNorm (capped at the channel count)
  WSOptions ws;                         // WS conventions (δ, where δ sits)
  int64_t in_channels = 3;
  int64_t num_classes = 10;
  int64_t width = 16;                   // filters of the first stage (models that have one)
  DetectorSettings detector;            // detectors only (kept in the JSON of detector names)

  // Throws std::invalid_argument on an unknown name or impossible values (naming the flag).
  void validate() const;
  // A detector's name (maskrcnn_*): it reads batches of images with objects, and has `detector`.
  bool is_detector() const { return name.rfind("maskrcnn_", 0) == 0; }
  std::string to_json() const;
  static ModelSpec from_json(const std::string& json);
  bool operator==(const ModelSpec& other) const { return to_json() == other.to_json(); }
};

}  // namespace eshift
