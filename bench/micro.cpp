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
#include "eshift/optim/regularized_sgd.h"
#include "eshift/models/resnet.h"

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
// channels-last). args: fused 0/1 (batch_norm_act.h's kernels or LibTorch's ops), residual 0/1.
static void BM_BatchNormReLU(benchmark::State& state) {
  torch::manual_seed(0);
  const bool was_fused = fused_batch_norm_act_enabled();
  set_fused_batch_norm_act(state.range(0) != 0);
  torch::nn::BatchNorm2d bn(16);
  auto x = torch::randn({128, 16, 32, 32}).contiguous(at::MemoryFormat::ChannelsLast).requires_grad_();
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
  state.SetLabel(std::string(state.range(0) ? "fused" : "LibTorch ops") + (state.range(1) ? ", residual" : ""));
}
BENCHMARK(BM_BatchNormReLU)->ArgsProduct({{0, 1}, {0, 1}})->Unit(benchmark::kMillisecond);

// One RegularizedSGD step (momentum 0.9) over the 25.5 M parameters of WS-ResNet-50:
// arg 0 = no decay, 1 = L2 on everything the reference decays, 2 = ε-shifted L2 on conv weights.
static void BM_OptimizerStepResNet50(benchmark::State& state) {
  torch::manual_seed(0);
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
  state.SetLabel(state.range(0) == 0 ? "none" : state.range(0) == 1 ? "l2" : "eps-l2");
}
BENCHMARK(BM_OptimizerStepResNet50)->Arg(0)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond);

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

int main(int argc, char** argv) {
  torch::set_num_threads(static_cast<int>(std::thread::hardware_concurrency()));
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
