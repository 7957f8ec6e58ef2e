#include "eshift/train/recipe.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

#include "eshift/core/named.h"

namespace eshift {

namespace {
std::string text(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

std::string join(const std::vector<int>& v) {
  std::string out;
  for (int x : v) out += (out.empty() ? "" : " ") + std::to_string(x);
  return out;
}

const char* kPaper = "paper §4, large-model recipe";
const char* kMobile = "paper §4, mobile recipe";
const char* kEps = "paper §3, typical ε";
const char* kTop5 = "ImageNet convention: top-1 and top-5";
const char* k1x = "the standard 1× schedule (Detectron, maskrcnn-benchmark, torchvision's detection reference)";

RecipeSetting set_model(const std::string& name, const char* source) {
  return {"--model", source, [name](TrainConfig& c) { return c.model.name = name; }};
}
RecipeSetting set_int(const std::string& flag, int64_t value, const char* source, int64_t TrainConfig::*field) {
  return {flag, source, [=](TrainConfig& c) { c.*field = value; return std::to_string(value); }};
}
RecipeSetting set_epochs(int value, const char* source) {
  return {"--epochs", source, [=](TrainConfig& c) { c.epochs = value; return std::to_string(value); }};
}
// lr = base · batch / reference_batch: the linear scaling rule (Goyal et al. 2017), after the batch size
RecipeSetting scaled_lr(double base, int reference_batch, const char* source) {
  return {"--lr", std::string(source) + "; " + text(base) + " × batch/" + std::to_string(reference_batch),
          [=](TrainConfig& c) {
            c.schedule.base_lr = base * double(c.batch_size) / reference_batch;
            return text(c.schedule.base_lr);
          }};
}
// The step schedule of a recipe whose run is `recipe_length` long (in `unit`: epochs or
// iterations), scaled to the run's length (length_of) when --epochs or --iterations shortens or
// lengthens it: milestones rounded, kept in [1, length − 1], without repeats.
RecipeSetting scaled_steps(std::vector<int> milestones, double gamma, int64_t recipe_length, const char* unit,
                           int64_t (*length_of)(const TrainConfig&), const char* source) {
  return {"--schedule", source, [=](TrainConfig& c) {
            const int64_t n = length_of(c);
            std::vector<int> scaled;
            for (int m : milestones) {
              const auto e = static_cast<int>(std::llround(double(m) * double(n) / double(recipe_length)));
              if (e >= 1 && e < n && (scaled.empty() || scaled.back() != e)) scaled.push_back(e);
            }
            c.schedule.milestones = scaled;
            c.schedule.gamma = gamma;
            std::string out = (scaled.empty() ? "none" : join(scaled)) + " (--gamma " + text(gamma) + ")";
            if (n != recipe_length)
              out += ", " + join(milestones) + " of " + std::to_string(recipe_length) + " " + unit + " scaled to " +
                     std::to_string(n);
            return out;
          }};
}
RecipeSetting steps(std::vector<int> milestones, double gamma, int recipe_epochs, const char* source) {
  return scaled_steps(std::move(milestones), gamma, recipe_epochs, "epochs",
                      [](const TrainConfig& c) { return int64_t(c.epochs); }, source);
}
RecipeSetting iteration_steps(std::vector<int> milestones, double gamma, int64_t recipe_iterations, const char* source) {
  return scaled_steps(std::move(milestones), gamma, recipe_iterations, "iterations",
                      [](const TrainConfig& c) { return c.schedule.iterations; }, source);
}
// The warm-up's length, shortened to a tenth of a run that --iterations makes shorter than ten of it.
RecipeSetting warmup_iters(int64_t value, const char* source) {
  return {"--warmup-iters", source, [=](TrainConfig& c) {
            const int64_t n = c.schedule.iterations;
            c.schedule.warmup_iters = std::min(value, n / 10);
            return std::to_string(c.schedule.warmup_iters) +
                   (c.schedule.warmup_iters < value ? " (" + std::to_string(value) + ", cut to a tenth of --iterations " +
                                                          std::to_string(n) + ")"
                                                    : "");
          }};
}
RecipeSetting text_setting(const std::string& flag, const std::string& value, const char* source,
                           std::function<void(TrainConfig&, const std::string&)> set) {
  return {flag, source, [=](TrainConfig& c) { set(c, value); return value; }};
}
RecipeSetting flag(const std::string& name, const char* source, std::function<void(TrainConfig&)> set) {
  return {name, source, [set](TrainConfig& c) { set(c); return std::string("on"); }};
}
RecipeSetting value(const std::string& name, double v, const char* source, std::function<void(TrainConfig&, double)> set) {
  return {name, source, [=](TrainConfig& c) { set(c, v); return text(v); }};
}
RecipeSetting data(const std::string& name, const char* source) {
  return {"--data", source, [name](TrainConfig& c) { return c.data = name; }};
}
}  // namespace

const std::vector<Recipe>& recipes() {
  static const std::vector<Recipe> all = {
      {"imagenet-large",
       "WS-ResNet-50 on ImageNet with the ε-shifted L2: the paper's large-model recipe (also ResNet-101, ResNeXt, DenseNet)",
       {data("imagenet", kPaper), set_model("resnet50", kPaper), set_epochs(100, kPaper),
        set_int("--batch-size", 256, "paper §4: 8 GPUs × 32", &TrainConfig::batch_size), scaled_lr(0.1, 256, kPaper),
        steps({30, 60, 90}, 0.1, 100, kPaper), value("--momentum", 0.9, kPaper, [](TrainConfig& c, double v) { c.optimizer.momentum = v; }),
        value("--wd", 1e-4, kPaper, [](TrainConfig& c, double v) { c.decay.wd = v; }),
        flag("--el2", kPaper, [](TrainConfig& c) { c.decay.el2 = true; }),
        value("--lam", 1e-4, "paper §3: λ of large models", [](TrainConfig& c, double v) { c.decay.lam = v; }),
        value("--mineps", 1e-3, kEps, [](TrainConfig& c, double v) { c.decay.mineps = v; }),
        flag("--nowd-conv", "paper §3: the ε-shift replaces the conv weights' L2", [](TrainConfig& c) { c.decay.nowd_conv = true; }),
        flag("--top5", kTop5, [](TrainConfig& c) { c.top5 = true; })}},
      {"imagenet-mobile",
       "WS-MobileNetV1 on ImageNet with the ε-shifted L2: the paper's mobile recipe (also the ShuffleNets, ε 1e-8)",
       {data("imagenet", kMobile), set_model("mobilenet_v1", kMobile), set_epochs(300, kMobile),
        set_int("--batch-size", 1024, kMobile, &TrainConfig::batch_size), scaled_lr(0.4, 1024, kMobile),
        flag("--cos", kMobile, [](TrainConfig& c) { c.schedule.cosine = true; }),
        value("--warmup", 5, kMobile, [](TrainConfig& c, double v) { c.schedule.warmup_epochs = static_cast<int>(v); }),
        value("--label-smoothing", 0.1, kMobile, [](TrainConfig& c, double v) { c.label_smoothing = v; }),
        value("--momentum", 0.9, "as the large-model recipe", [](TrainConfig& c, double v) { c.optimizer.momentum = v; }),
        value("--wd", 4e-5, kMobile, [](TrainConfig& c, double v) { c.decay.wd = v; }),
        flag("--nowd-bn", "paper §4: decay on conv weights only (BN γ/β and biases undecayed, as mobile nets are usually trained)",
             [](TrainConfig& c) { c.decay.nowd_bn = true; }),
        flag("--nowd-fc", "paper §4: decay on conv weights only", [](TrainConfig& c) { c.decay.nowd_fc = true; }),
        flag("--el2", kMobile, [](TrainConfig& c) { c.decay.el2 = true; }),
        value("--lam", 4e-5, "paper §3: λ of mobile models", [](TrainConfig& c, double v) { c.decay.lam = v; }),
        value("--mineps", 1e-6, "paper §4: MobileNetV1's ε", [](TrainConfig& c, double v) { c.decay.mineps = v; }),
        flag("--nowd-conv", "paper §3: the ε-shift replaces the conv weights' L2", [](TrainConfig& c) { c.decay.nowd_conv = true; }),
        flag("--top5", kTop5, [](TrainConfig& c) { c.top5 = true; })}},
      {"cifar100",
       "WS-ResNet-110 on CIFAR-100 with the ε-shifted L2 (bearpaw/pytorch-classification's ResNet-110 schedule, "
       "which the authors' CIFAR trainer derives from)",
       {data("cifar100", "the paper's CIFAR-100 validation"), set_model("resnet110", "bearpaw: resnet-110"),
        set_epochs(164, "bearpaw: --epochs 164"), set_int("--batch-size", 128, "bearpaw: --train-batch 128", &TrainConfig::batch_size),
        scaled_lr(0.1, 128, "bearpaw: --lr 0.1"), steps({81, 122}, 0.1, 164, "bearpaw: --schedule 81 122 --gamma 0.1"),
        value("--momentum", 0.9, "bearpaw", [](TrainConfig& c, double v) { c.optimizer.momentum = v; }),
        value("--wd", 1e-4, "bearpaw: --wd 1e-4", [](TrainConfig& c, double v) { c.decay.wd = v; }),
        value("--crop-padding", 4, "standard CIFAR augmentation: 4-pixel pad, random 32 crop, flip",
              [](TrainConfig& c, double v) { c.crop_padding = static_cast<int>(v); }),
        flag("--el2", "the ε-shifted L2 on conv weights", [](TrainConfig& c) { c.decay.el2 = true; }),
        value("--lam", 1e-4, "paper §3: λ 1e-4", [](TrainConfig& c, double v) { c.decay.lam = v; }),
        value("--mineps", 1e-3, kEps, [](TrainConfig& c, double v) { c.decay.mineps = v; }),
        flag("--nowd-conv", "paper §3: the ε-shift replaces the conv weights' L2", [](TrainConfig& c) { c.decay.nowd_conv = true; }),
        flag("--top5", "100 classes: top-5 too", [](TrainConfig& c) { c.top5 = true; })}},
      {"coco-1x",
       "Mask R-CNN R50-FPN with a WS + GroupNorm backbone on COCO at the standard 1× schedule (the paper's third "
       "validation); the decay is yours to choose: plain --wd, or --el2 --lam 1e-4 --mineps 1e-3 --nowd-conv",
       {text_setting("--task", "detect", "COCO detection and instance segmentation", [](TrainConfig& c, const std::string& v) { c.task = v; }),
        data("coco", "the paper's COCO validation"), set_model("maskrcnn_resnet50_fpn", "torchvision's maskrcnn_resnet50_fpn"),
        text_setting("--norm", "gn", "2 images per GPU: GroupNorm with WS, as the WS paper's Mask R-CNN (Qiao et al. 2019)",
                     [](TrainConfig& c, const std::string& v) { c.model.norm = v; }),
        set_int("--batch-size", 16, "1×: 8 GPUs × 2 images", &TrainConfig::batch_size), scaled_lr(0.02, 16, k1x),
        {"--iterations", k1x, [](TrainConfig& c) { c.schedule.iterations = 90000; return std::string("90000"); }}, iteration_steps({60000, 80000}, 0.1, 90000, k1x),
        warmup_iters(500, "maskrcnn-benchmark's 1×: 500 iterations from 1/3"),
        value("--warmup-factor", 1.0 / 3, "maskrcnn-benchmark's 1×", [](TrainConfig& c, double v) { c.schedule.warmup_factor = v; }),
        value("--momentum", 0.9, k1x, [](TrainConfig& c, double v) { c.optimizer.momentum = v; }),
        value("--wd", 1e-4, k1x, [](TrainConfig& c, double v) { c.decay.wd = v; }),
        set_int("--min-size", 800, k1x, &TrainConfig::min_size), set_int("--max-size", 1333, k1x, &TrainConfig::max_size),
        set_int("--eval-batch-size", 2, "2 images per process: a batch at 800×1333 is large", &TrainConfig::eval_batch_size)}},
  };
  return all;
}

const Recipe& find_recipe(const std::string& name) { return find_named(recipes(), name, "--recipe"); }

std::vector<std::string> apply_recipe(const Recipe& recipe, TrainConfig& config,
                                      const std::function<bool(const std::string&)>& given) {
  std::vector<std::string> lines;
  config.recipe = recipe.name;
  for (const auto& s : recipe.settings) {
    if (given(s.flag)) {
      lines.push_back("  " + s.flag + ": given on the command line (the recipe's value is not used)");
      continue;
    }
    const std::string v = s.apply(config);
    lines.push_back("  " + s.flag + " " + v + "  (" + s.source + ")");
  }
  return lines;
}

}  // namespace eshift
