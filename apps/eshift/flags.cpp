#include "flags.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <thread>

#include "eshift/data/registry.h"
#include "eshift/models/registry.h"
#include "eshift/tasks/registry.h"
#include "eshift/train/recipe.h"

namespace eshift::cli {

void ThreadFlags::add(CLI::App& app) {
  // OMP_NUM_THREADS, when set to a positive number, is the default (as in PyTorch); else all cores
  const char* omp = std::getenv("OMP_NUM_THREADS");
  threads = omp && std::atoi(omp) > 0 ? std::atoi(omp) : std::max(1u, std::thread::hardware_concurrency());
  app.add_option("--threads", threads, "CPU threads (default: OMP_NUM_THREADS if set, else all cores)")
      ->capture_default_str();
}

void ThreadFlags::apply() const {
  if (threads < 1) throw std::invalid_argument("--threads must be >= 1");
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (threads > 4 * cores)
    throw std::invalid_argument("--threads " + std::to_string(threads) + " is more than 4× this machine's " +
                                std::to_string(cores) + " cores");
  torch::set_num_threads(threads);  // intra-op pool, also OpenMP (and so OpenBLAS/oneDNN)
}

void add_device_flag(CLI::App& app, std::string& device) {
  app.add_option("--device", device, "cpu, cuda or cuda:N")->capture_default_str();
}

void add_amp_flag(CLI::App& app, std::string& amp) {
  app.add_option("--amp", amp,
                 "mixed precision: off, fp16 (autocast + dynamic loss scaling) or bf16 (autocast); parameters, "
                 "optimizer state and the regularizer stay float32")
      ->capture_default_str();
}

void add_channels_last_flag(CLI::App& app, bool& channels_last, const std::string& what) {
  app.add_flag("--channels-last,!--no-channels-last", channels_last, "NHWC " + what)->capture_default_str();
}

void DataFlags::add(CLI::App& app) {
  std::string names;
  for (const auto& entry : dataset_registry()) names += (names.empty() ? "" : ", ") + entry.name;
  app.add_option("--data", data, "dataset: " + names + " (default " + kDefaultDataset + ")");
  app.add_option("--data-dir", data_dir, "directory of the dataset (default: its standard place, " +
                                             find_dataset(kDefaultDataset).default_dir + " for " +
                                             kDefaultDataset + ")");
}

void DataFlags::apply(std::string& name, std::string& dir) const {
  if (!data_dir.empty()) dir = data_dir;
  if (data.empty()) return;
  bool known = false;
  for (const auto& entry : dataset_registry()) known = known || entry.name == data;
  if (known) {
    name = data;
    return;
  }
  if (data.find('/') != std::string::npos || std::filesystem::is_directory(data)) {
    if (!data_dir.empty()) throw std::invalid_argument("--data " + data + " is a directory and --data-dir is given too");
    name = kDefaultDataset;  // the old spelling: --data DIR
    dir = data;
    return;
  }
  find_dataset(data);  // throws: unknown --data 'x' (known: …)
}

void ModelFlags::add(CLI::App& app, ModelSpec& spec) {
  std::string models;  // the registry's names (eshift models lists them with their sizes)
  for (const auto& entry : model_registry()) models += (models.empty() ? "" : ", ") + entry.names;
  app.add_option("--model", spec.name, models)->capture_default_str();
  app.add_option("--wnorm", wnorm, "weight normalization of every conv: none|ws|wn|cwn")->capture_default_str();
  app.add_option("--norm", spec.norm, "feature normalization after each conv: bn|gn")->capture_default_str();
  app.add_option("--gn-groups", spec.gn_groups, "GroupNorm groups")->capture_default_str();
  app.add_option("--width", spec.width, "filters of the first stage")->capture_default_str();
  app.add_option("--ws-delta", spec.ws.delta, "WS δ (paper: 1e-5, outside the sqrt of the unbiased var.)")
      ->capture_default_str();
  app.add_flag("--ws-delta-inside-sqrt", spec.ws.delta_inside_sqrt,
               "WS: (w-μ)/sqrt(biased var + δ) instead of (w-μ)/(σ+δ)");
  // Mask R-CNN: torchvision's MaskRCNN keyword arguments, same names and defaults
  auto& d = spec.detector;
  auto* g = app.add_option_group("Detector (maskrcnn_*: torchvision's MaskRCNN arguments)");
  g->add_option("--rpn-pre-nms-top-n-train", d.rpn.pre_nms_top_n_train, "RPN: proposals a level before NMS, training")->capture_default_str();
  g->add_option("--rpn-pre-nms-top-n-test", d.rpn.pre_nms_top_n_test, "RPN: proposals a level before NMS, evaluation")->capture_default_str();
  g->add_option("--rpn-post-nms-top-n-train", d.rpn.post_nms_top_n_train, "RPN: proposals an image after NMS, training")->capture_default_str();
  g->add_option("--rpn-post-nms-top-n-test", d.rpn.post_nms_top_n_test, "RPN: proposals an image after NMS, evaluation")->capture_default_str();
  g->add_option("--rpn-nms-thresh", d.rpn.nms_thresh, "RPN: NMS IoU threshold")->capture_default_str();
  g->add_option("--rpn-fg-iou-thresh", d.rpn.fg_iou_thresh, "RPN: anchors at least this IoU with an object are positive")->capture_default_str();
  g->add_option("--rpn-bg-iou-thresh", d.rpn.bg_iou_thresh, "RPN: anchors below this IoU with every object are background")->capture_default_str();
  g->add_option("--rpn-batch-size-per-image", d.rpn.batch_size_per_image, "RPN: anchors sampled an image for its losses")->capture_default_str();
  g->add_option("--rpn-positive-fraction", d.rpn.positive_fraction, "RPN: largest positive share of the sampled anchors")->capture_default_str();
  g->add_option("--rpn-score-thresh", d.rpn.score_thresh, "RPN: proposals scoring below this are dropped")->capture_default_str();
  g->add_option("--box-score-thresh", d.box.score_thresh, "detections scoring at most this are dropped")->capture_default_str();
  g->add_option("--box-nms-thresh", d.box.nms_thresh, "detections: NMS IoU threshold, per class")->capture_default_str();
  g->add_option("--box-detections-per-img", d.box.detections_per_img, "detections kept an image")->capture_default_str();
  g->add_option("--box-fg-iou-thresh", d.box.fg_iou_thresh, "box head: proposals at least this IoU with an object are positive")->capture_default_str();
  g->add_option("--box-bg-iou-thresh", d.box.bg_iou_thresh, "box head: proposals below this IoU are background")->capture_default_str();
  g->add_option("--box-batch-size-per-image", d.box.batch_size_per_image, "box head: proposals sampled an image for its losses")->capture_default_str();
  g->add_option("--box-positive-fraction", d.box.positive_fraction, "box head: largest positive share of the sampled proposals")->capture_default_str();
  g->add_option("--fpn-channels", d.fpn_channels, "width of the feature pyramid, the RPN head and the mask head")->capture_default_str();
  g->add_option("--representation-size", d.box.representation_size, "width of the box head's two layers")->capture_default_str();
  g->add_option("--trainable-backbone-layers", d.trainable_backbone_layers,
                "backbone stages that train, from the last (5: all; torchvision's for a pretrained backbone: 3)")
      ->capture_default_str();
  g->add_flag("--frozen-backbone-bn", d.frozen_backbone_bn,
              "the backbone's BatchNorm keeps its initial statistics and affine parameters (torchvision's FrozenBatchNorm2d)");
}

void ModelFlags::apply(ModelSpec& spec) const { spec.wnorm = parse_family(wnorm); }

void add_decay_flags(CLI::App& app, DecayFlags& d, std::string& mineps) {
  app.add_option("--wd", d.wd, "ordinary L2 weight decay λ (reference --wd)")->capture_default_str();
  app.add_flag("--wd-all", d.wd_all, "decay every parameter, biases and BN β included");
  app.add_flag("--nowd-bn", d.nowd_bn, "no decay on BN/GN γ and WN gains");
  app.add_flag("--nowd-fc", d.nowd_fc, "no decay on the classifier weight");
  app.add_flag("--nowd-conv", d.nowd_conv, "no ordinary decay on conv weights");
  app.add_flag("--el2", d.el2, "ε-shifted L2 on every non-depthwise conv weight (replaces its L2)");
  app.add_option("--mineps", mineps,
                 "ε of the ε-shifted L2, or auto: chosen after the first epoch (trained with ε = 0) so that no filter's "
                 "largest gradient element reaches float16's limit at the loss scale 2^16 with a margin of 2")
      ->capture_default_str();
  app.add_option("--lam", d.lam, "λ of the ε-shifted L2")->capture_default_str();
  app.add_flag("--decoupled-wd", d.decoupled,
               "sgd/adam: apply every decay, the ε-shifted one too, decoupled (w -= lr·∂R/∂w), not via the gradient");
}

void apply_mineps(const std::string& mineps, DecayFlags& decay) {
  decay.mineps_auto = mineps == "auto";
  if (decay.mineps_auto) {
    decay.mineps = 0;  // until the calibration chooses it
    return;
  }
  size_t end = 0;
  double value = 0;
  try {
    value = std::stod(mineps, &end);
  } catch (const std::exception&) {
    end = 0;
  }
  if (end == 0 || end != mineps.size()) throw std::invalid_argument("--mineps must be a number or auto, got '" + mineps + "'");
  decay.mineps = value;
}

void TrainFlags::add(CLI::App& app, TrainConfig& c) {
  app_ = &app;
  model.add(app, c.model);
  data.add(app);
  app.add_option("--train-subset", c.train_subset, "use the first N training images (0 = all)")->capture_default_str();
  app.add_option("--test-subset", c.test_subset, "use the first N test images (0 = all)")->capture_default_str();
  app.add_option("--epochs", c.epochs)->capture_default_str();
  app.add_option("--batch-size", c.batch_size)->capture_default_str();
  app.add_option("--eval-batch-size", c.eval_batch_size, "images per evaluation batch (0: the task's, 500 to classify, 2 to detect)")
      ->capture_default_str();
  app.add_option("--lr", c.schedule.base_lr, "base learning rate")->capture_default_str();
  app.add_option("--iterations", c.schedule.iterations,
                 "the run's length in steps instead of --epochs, as detection recipes count (the last epoch stops "
                 "early; --schedule then counts iterations)")
      ->capture_default_str();
  app.add_option("--schedule", c.schedule.milestones, "epochs (iterations with --iterations) at which lr is multiplied by --gamma");
  app.add_option("--gamma", c.schedule.gamma)->capture_default_str();
  app.add_flag("--cos", c.schedule.cosine, "cosine learning-rate decay (epoch-wise)");
  app.add_option("--warmup", c.schedule.warmup_epochs, "linear warm-up epochs")->capture_default_str();
  app.add_option("--warmup-iters", c.schedule.warmup_iters,
                 "linear warm-up over the first N steps, from --warmup-factor × lr (per step; with --epochs or --iterations)")
      ->capture_default_str();
  app.add_option("--warmup-factor", c.schedule.warmup_factor, "the fraction of lr the --warmup-iters warm-up starts from")
      ->capture_default_str();
  auto& o = c.optimizer;
  app.add_option("--optimizer", o.name,
                 "sgd, lars, sgdp, adam, adamw, lamb or adamp; each takes every decay flag (adamw, lamb, sgdp, adamp "
                 "apply decay decoupled); adam-family default --lr 0.001")
      ->capture_default_str();
  app.add_option("--momentum", o.momentum, "sgd, lars, sgdp")->capture_default_str();
  app.add_option("--dampening", o.dampening, "sgd, lars, sgdp")->capture_default_str();
  app.add_flag("--nesterov", o.nesterov, "sgd, lars, sgdp");
  app.add_option("--beta1", o.beta1, "adam, adamw, lamb, adamp")->capture_default_str();
  app.add_option("--beta2", o.beta2, "adam, adamw, lamb, adamp")->capture_default_str();
  app.add_option("--adam-eps", o.adam_eps, "adam, adamw, lamb, adamp: ε of the denominator")->capture_default_str();
  app.add_option("--trust-coefficient", o.trust_coefficient, "lars: trust ratio coefficient")->capture_default_str();
  app.add_option("--proj-delta", o.proj_delta, "sgdp, adamp: δ of the cosine test")->capture_default_str();
  app.add_option("--wd-ratio", o.wd_ratio, "sgdp, adamp: decay factor of projected weights")->capture_default_str();
  app.add_option("--invariance", o.invariance,
                 "sgdp, adamp: which weights to project: cosine (clovaai's test), roles (scale-invariant by role), "
                 "audit (measured by the scale-invariance audit)")
      ->capture_default_str();
  add_decay_flags(app, c.decay, mineps);
  app.add_option("--crop-padding", c.crop_padding,
                 "random-crop padding in pixels (0 = off; default: the dataset's, 2 for Fashion-MNIST, 4 for CIFAR)");
  app.add_flag("!--no-flip", c.hflip, "no random horizontal flips");
  std::string tasks;
  for (const auto& entry : task_registry()) tasks += (tasks.empty() ? "" : "; ") + entry.name + ": " + entry.description;
  app.add_option("--task", c.task, "what the model learns (" + tasks + ")")->capture_default_str();
  app.add_option("--label-smoothing", c.label_smoothing, "cross-entropy label smoothing s (target (1-s)·one-hot + s/K)")
      ->capture_default_str();
  app.add_flag("--top5", c.top5, "also measure top-5 accuracy");
  app.add_option("--min-size", c.min_size, "detection: resize so that the shorter side is this …")->capture_default_str();
  app.add_option("--max-size", c.max_size, "detection: … unless the longer side would pass this")->capture_default_str();
  app.add_flag("--cifar100-coarse", c.data_options.cifar100_coarse, "CIFAR-100: train on the 20 superclasses");
  app.add_option("--image-size", c.data_options.image_size,
                 "image folders: training crop and evaluation center crop (resize to size·256/224 first)")
      ->capture_default_str();
  app.add_option("--bad-images", bad_images,
                 "image folders: an unreadable image is skipped with a warning and counted (skip) or stops the run (fatal)")
      ->capture_default_str();
  app.add_option("--max-image-pixels", c.data_options.max_image_pixels,
                 "image folders: a JPEG whose header declares more pixels is damaged (PIL's decompression-bomb limit)")
      ->capture_default_str();
  app.add_option("--workers", c.workers, "batches prepared at once by the loader, each on its own thread (JPEG decoding)")
      ->capture_default_str();
  std::string names;
  for (const auto& r : recipes()) names += (names.empty() ? "" : ", ") + r.name;
  app.add_option("--recipe", recipe, "the paper's recipe as a preset (" + names +
                                         "); flags given explicitly override it; its settings are printed before training");
  app.add_option("--seed", c.seed)->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--probe-every", c.probe_every, "probe weights and gradients every k steps (0 = never)")
      ->capture_default_str();
  app.add_option("--collapse-share", c.collapse_share,
                 "warn when this share of the normalized filters has σ below --collapse-sigma (0 = never warn)")
      ->capture_default_str();
  app.add_option("--collapse-sigma", c.collapse_sigma,
                 "the σ below which a filter counts as collapsed (default: --mineps, the ε the run uses or would use)");
  add_device_flag(app, c.device);
  add_amp_flag(app, c.amp);
  app.add_option("--dtype", c.dtype, "parameters and computation: float32, or float64 for checks at rounding level")
      ->capture_default_str();
  add_channels_last_flag(app, c.channels_last, "parameters and batches");
  threads.add(app);
}

std::vector<std::string> TrainFlags::apply(TrainConfig& c) const {
  model.apply(c.model);
  data.apply(c.data, c.data_dir);
  threads.apply();
  if (bad_images != "skip" && bad_images != "fatal")
    throw std::invalid_argument("unknown --bad-images '" + bad_images + "' (skip or fatal)");
  c.data_options.bad_images_fatal = bad_images == "fatal";
  auto given = [this](const std::string& flag) { return app_ && app_->get_option(flag)->count() > 0; };
  if (given("--mineps")) apply_mineps(mineps, c.decay);
  if (given("--epochs") && given("--iterations"))
    throw std::invalid_argument("--epochs and --iterations both set the run's length: give one");
  std::vector<std::string> lines;
  bool recipe_pads = false;
  if (!recipe.empty()) {
    const Recipe& r = find_recipe(recipe);
    lines = apply_recipe(r, c, given);
    lines.insert(lines.begin(), "recipe " + r.name + ": " + r.description);
    for (const auto& s : r.settings) recipe_pads = recipe_pads || s.flag == "--crop-padding";
  }
  if (given("--epochs") && c.schedule.iterations > 0)
    throw std::invalid_argument("--recipe " + recipe + " counts the run in iterations: give --iterations N (its "
                                "schedule scales with it), not --epochs");
  if (!given("--crop-padding") && !recipe_pads) c.crop_padding = find_dataset(c.data).crop_padding;
  if (!c.optimizer.sgd_family() && !given("--lr") && recipe.empty()) {
    c.schedule.base_lr = 1e-3;  // Adam's own default; SGD's 0.1 would blow an Adam run up
    lines.push_back("--optimizer " + c.optimizer.name + ": --lr 0.001 (the Adam family's default; give --lr to change it)");
  }
  return lines;
}

std::tuple<int64_t, int64_t, int64_t> parse_image(const std::string& image) {
  long long ch = 0, h = 0, w = 0;
  char tail = 0;
  if (std::sscanf(image.c_str(), "%lldx%lldx%lld%c", &ch, &h, &w, &tail) != 3 || ch < 1 || h < 1 || w < 1)
    throw std::invalid_argument("--image must be CxHxW, e.g. 3x32x32, got '" + image + "'");
  return {ch, h, w};
}

}  // namespace eshift::cli
