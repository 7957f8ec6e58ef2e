#pragma once
// The paper's training recipes as named presets (--recipe NAME). A recipe sets flags the user did
// not give; every flag given on the command line wins. The values and where each comes from are
// printed before training. A step schedule follows --epochs when that is given (30/60/90 of 100
// epochs become 3/6/9 of 10); the warm-up does not (it is in epochs, and short runs are checks).
//   imagenet-large   WS-ResNet/ResNeXt/DenseNet on ImageNet: the paper's large-model recipe (§4)
//   imagenet-mobile  MobileNetV1/ShuffleNets on ImageNet: the paper's mobile recipe (§4)
//   cifar100         WS-ResNet-110 on CIFAR-100: the CIFAR trainer the authors' code derives from
//   coco-1x          Mask R-CNN R50-FPN (WS + GN) on COCO, the standard 1× schedule: 90k iterations
//                    of batch 16, lr 0.02 ×0.1 at 60k and 80k, warm-up 500 iterations from 1/3; a
//                    given --iterations scales the milestones (the warm-up at most a tenth of it)
#include <functional>
#include <string>
#include <vector>

#include "eshift/train/config.h"

namespace eshift {

struct RecipeSetting {
  std::string flag;    // the command-line flag it stands for, e.g. "--lr"
  std::string source;  // where the value comes from
  std::function<std::string(TrainConfig&)> apply;  // sets it; returns the value as text
};

struct Recipe {
  std::string name, description;
  std::vector<RecipeSetting> settings;  // applied in this order (the learning rate after the batch size)
};

const std::vector<Recipe>& recipes();
// Throws std::invalid_argument naming --recipe and the known recipes.
const Recipe& find_recipe(const std::string& name);

// Applies the settings whose flag `given` says the user did not give; returns one line per setting:
// "  --lr 0.1  (source)" or "  --lr 0.05  (given on the command line)".
std::vector<std::string> apply_recipe(const Recipe& recipe, TrainConfig& config,
                                      const std::function<bool(const std::string& flag)>& given);

}  // namespace eshift
