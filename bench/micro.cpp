// Google Benchmark micro-benchmarks: one WS conv layer forward+backward, and the optimizer step
// with each regularizer on ResNet-50-sized weights. Run by `make bench`.
#include <benchmark/benchmark.h>

#include "eshift/data/batch_loader.h"
#include "eshift/data/registry.h"
#include "eshift/nn/batch_norm_act.h"
#include "eshift/regularize/decay_policy.h"
#include "eshift/nn/normalized_layers.h"
#include "eshift/nn/param_roles.h"
#include "eshift/core/placement.h"
#include "eshift/optim/fused_sgd_step.h"
#include "eshift/optim/regularized_sgd.h"
#include "eshift/models/resnet.h"
#include "eshift/ops/nms.h"
#include "eshift/ops/roi_align.h"

#include <cmath>

using namespace eshift;

// WSConv2d 64→64, 3×3, batch 32 of 32×32, forward and backward (args: channels_last 0/1).
static void BM_WSConvForwardBackward(benchmark::State& state) {
  torch::manual_seed(0);
  WSConv2d conv(torch::nn::Conv2dOptions(64, 64, 3).padding(1).bias(false));
  const Placement placement{torch::kCPU, state.range(0) != 0};
  placement.place(*conv);
  auto x = placement.input(torch::randn({32, 64, 32, 32}));
  for (auto _ : state) {
    conv->zero_grad();
    conv->forward(x).sum().backward();
    benchmark::DoNotOptimize(conv->weight.grad().data_ptr());
  }
  state.SetItemsProcessed(state.iterations() * 32);
}
BENCHMARK(BM_WSConvForwardBackward)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// BatchNorm + ReLU (+ residual) forward and backward on a ResNet-20 stage-1 activation (128×16×32×32,
// channels-last). args: fused 0/1 (batch_norm_act.h's kernels or LibTorch's ops), residual 0/1, bfloat16 0/1 (float32 parameters).
static void BM_BatchNormReLU(benchmark::State& state) {
  torch::manual_seed(0);
  const bool was_fused = fused_batch_norm_act_enabled();
  set_fused_batch_norm_act(state.range(0) != 0);
  torch::nn::BatchNorm2d bn(16);
  const auto dtype = state.range(2) ? torch::kBFloat16 : torch::kFloat32;  // bfloat16: --amp bf16's activations
  auto x = torch::randn({128, 16, 32, 32}, dtype).contiguous(at::MemoryFormat::ChannelsLast).requires_grad_();
  auto r = state.range(1) ? torch::randn_like(x).requires_grad_() : torch::Tensor();
  auto g = torch::randn_like(x);
  auto flush = torch::zeros({64 << 18});  // 64 MiB, written between iterations: caches start cold, as in training
  for (auto _ : state) {
    state.PauseTiming();
    flush.add_(1);
    state.ResumeTiming();
    auto y = batch_norm_act(*bn, x, r);
    y.backward(g);
    benchmark::DoNotOptimize(x.grad().data_ptr());
  }
  set_fused_batch_norm_act(was_fused);
  state.SetLabel(std::string(state.range(0) ? "fused" : "LibTorch ops") + (state.range(1) ? ", residual" : "") +
                 (state.range(2) ? ", bfloat16" : ", float32"));
}
BENCHMARK(BM_BatchNormReLU)->ArgsProduct({{0, 1}, {0, 1}, {0, 1}})->Unit(benchmark::kMillisecond);

// One RegularizedSGD step (momentum 0.9) over the 25.5 M parameters of WS-ResNet-50:
// arg 0 = no decay, 1 = L2 on everything the reference decays, 2 = ε-shifted L2 on conv weights;
// arg 1 = the fused step kernel (optim/fused_sgd_step.h) or LibTorch's ops.
static void BM_OptimizerStepResNet50(benchmark::State& state) {
  torch::manual_seed(0);
  const bool was_fused = fused_sgd_step_enabled();
  set_fused_sgd_step(state.range(1) != 0);
  ModelSpec spec;
  spec.name = "resnet50";
  spec.num_classes = 1000;
  ResNet model(spec);
  const ConvDecay conv[] = {ConvDecay::None, ConvDecay::L2, ConvDecay::EpsShifted};
  const DecayFlags flags = conv_decay_preset(conv[state.range(0)], 1e-4, 1e-3, state.range(0) == 0 ? 0.0 : 1e-4);
  RegularizedSGD optimizer(DecayPolicy(flags).group(describe_parameters(*model)),
                           RegularizedSGDOptions(0.01).momentum(0.9));
  for (auto& p : model->parameters()) p.mutable_grad() = torch::randn_like(p);
  optimizer.step();  // creates the momentum buffers
  for (auto _ : state) optimizer.step();
  set_fused_sgd_step(was_fused);
  state.SetLabel(std::string(state.range(0) == 0 ? "none" : state.range(0) == 1 ? "l2" : "eps-l2") +
                 (state.range(1) ? ", fused" : ", LibTorch ops"));
}
BENCHMARK(BM_OptimizerStepResNet50)->ArgsProduct({{0, 1, 2}, {0, 1}})->Unit(benchmark::kMillisecond);

// The data path: BatchLoader::make_batch (random crop with padding 2, flip, normalization) on
// Fashion-MNIST in one thread, batches of 128; items/s is images per second per loader thread.
// (Training consumes about 1100 img/s of 28×28 images on this 2-core machine.)
static void BM_LoaderFashionMNIST(benchmark::State& state) {
  std::shared_ptr<const Dataset> set;
  try {
    set = open_dataset("fashion-mnist", "", "train");
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    return;
  }
  LoaderOptions o;
  o.batch_size = 128;
  const auto transform = set->train_transform({/*crop_padding=*/2, /*hflip=*/true}, set->channel_stats());
  BatchLoader loader(set, *transform, o, 0);
  int64_t i = 0;
  for (auto _ : state) {
    auto batch = loader.make_batch(i++ % loader.num_batches());
    benchmark::DoNotOptimize(batch.inputs.data_ptr());
  }
  state.SetItemsProcessed(state.iterations() * 128);
}
BENCHMARK(BM_LoaderFashionMNIST)->Unit(benchmark::kMicrosecond);

// ---- detection ops: the same inputs as bench/detection_ops.py builds for torchvision.ops (same formulas)
// Box i of n in a width × height image: centre at the R2 low-discrepancy point (frac(i·a1)·width,
// frac(i·a2)·height), sides 16 + frac(i·√2)·240 by 16 + frac(i·√3)·240 px, clipped to the image;
// its score frac(i·φ). Computed in double, returned as float32.
static double frac(double v) { return v - std::floor(v); }
static torch::Tensor bench_boxes(int64_t n, double width, double height) {
  auto boxes = torch::empty({n, 4}, torch::kFloat64);
  auto b = boxes.accessor<double, 2>();
  for (int64_t i = 0; i < n; ++i) {
    const double cx = frac(i * 0.7548776662466927) * width, cy = frac(i * 0.5698402909980532) * height;
    const double w = 16 + frac(i * 1.4142135623730951) * 240, h = 16 + frac(i * 1.7320508075688772) * 240;
    b[i][0] = std::max(cx - w / 2, 0.0);
    b[i][1] = std::max(cy - h / 2, 0.0);
    b[i][2] = std::min(cx + w / 2, width);
    b[i][3] = std::min(cy + h / 2, height);
  }
  return boxes.to(torch::kFloat32);
}
static torch::Tensor bench_scores(int64_t n) {
  auto scores = torch::empty({n}, torch::kFloat64);
  for (int64_t i = 0; i < n; ++i) scores[i] = frac(i * 0.6180339887498949);
  return scores.to(torch::kFloat32);
}

// RoIAlign as Mask R-CNN R50-FPN's box head (7×7) or mask head (14×14) calls it at 800×1344 on P2:
// features [2, 256, 200, 336] float32, spatial scale 1/4, sampling ratio 2, aligned false; K RoIs
// alternating between the two images. args: output side, K, channels-last 0/1, backward 0/1 (the
// forward, then the gradient of the sum w.r.t. the features).
static void BM_RoIAlign(benchmark::State& state) {
  torch::manual_seed(0);
  const int64_t side = state.range(0), k = state.range(1);
  auto features = torch::randn({2, 256, 200, 336});
  if (state.range(2)) features = features.contiguous(at::MemoryFormat::ChannelsLast);
  const bool backward = state.range(3) != 0;
  features.requires_grad_(backward);
  auto rois = torch::cat({torch::arange(k).remainder(2).to(torch::kFloat32).unsqueeze(1), bench_boxes(k, 1344, 800)}, 1);
  for (auto _ : state) {
    if (backward) features.mutable_grad() = torch::Tensor();
    auto out = roi_align(features, rois, {side, side}, 0.25, 2, false);
    if (backward) out.sum().backward();
    benchmark::DoNotOptimize(out.data_ptr());
  }
  state.SetLabel(std::string(state.range(2) ? "channels-last" : "NCHW") + (backward ? ", forward+backward" : ", forward"));
}
BENCHMARK(BM_RoIAlign)
    ->ArgsProduct({{7}, {1024}, {0, 1}, {0, 1}})
    ->ArgsProduct({{14}, {256}, {0, 1}, {0, 1}})
    ->Unit(benchmark::kMillisecond);

// NMS over n boxes of a 1344×800 image: args n, IoU threshold in percent, categories (0: nms, as the
// RPN's per-image NMS at 0.7; c > 0: batched_nms with box i in category i mod c, as the box head's
// per-class NMS at 0.5).
static void BM_Nms(benchmark::State& state) {
  const int64_t n = state.range(0), categories = state.range(2);
  const double threshold = state.range(1) / 100.0;
  const auto boxes = bench_boxes(n, 1344, 800);
  const auto scores = bench_scores(n);
  const auto idxs = categories > 0 ? torch::arange(n).remainder(categories) : torch::Tensor();
  int64_t kept = 0;
  for (auto _ : state) {
    auto keep = categories > 0 ? batched_nms(boxes, scores, idxs, threshold) : nms(boxes, scores, threshold);
    kept = keep.numel();
  }
  state.counters["kept"] = static_cast<double>(kept);
}
BENCHMARK(BM_Nms)->Args({4000, 70, 0})->Args({5000, 50, 80})->Unit(benchmark::kMillisecond);

int main(int argc, char** argv) {
  torch::set_num_threads(static_cast<int>(std::thread::hardware_concurrency()));
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
