#include "eshift/analysis/step_benchmark.h"

#include <sys/resource.h>

#include <torch/csrc/autograd/profiler_kineto.h>
#ifdef ESHIFT_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include <algorithm>
#include <chrono>
#include <map>
#include <set>
#include <stdexcept>

#include "eshift/core/placement.h"
#include "eshift/core/torch_compat.h"
#include "eshift/models/flops.h"
#include "eshift/models/registry.h"
#include "eshift/nn/batch_norm_act.h"
#include "eshift/nn/fused_weight_standardization.h"
#include "eshift/nn/param_roles.h"
#include "eshift/observe/probes.h"
#include "eshift/optim/fused_sgd_step.h"
#include "eshift/optim/regularized_sgd.h"
#include "eshift/regularize/fused_eps_shift.h"
#include "eshift/regularize/decay_policy.h"
#include "eshift/tasks/classification.h"
#include "eshift/tasks/detection.h"
#include "eshift/train/mixed_precision.h"
#include "eshift/train/step.h"

namespace eshift {

void BenchConfig::validate() const {
  model.validate();
  if (batch_size < 2) throw std::invalid_argument("--batch-size must be >= 2");
  if (height < 1 || width < 1) throw std::invalid_argument("--image sizes must be >= 1");
  if (reg != "none" && reg != "l2" && reg != "el2")
    throw std::invalid_argument("unknown --reg '" + reg + "' (none, l2 or el2)");
  if (steps < 1 || warmup < 0) throw std::invalid_argument("--steps must be >= 1 and --warmup >= 0");
  if (probe_every < 0) throw std::invalid_argument("--probe-every must be >= 0");
  validate_amp(amp);
}

namespace {

using torch::autograd::profiler::KinetoEvent;
double start_us(const KinetoEvent& e) { return compat::event_start_us(e); }
double duration_us(const KinetoEvent& e) { return compat::event_duration_us(e); }

// Self time per operator name from the profiler's events: per thread, an event's children are the events
// that start and end inside it (LibTorch records whole operator calls, so they nest properly).
std::vector<OpTime> self_times(const std::vector<KinetoEvent>& events, int steps) {
  std::map<uint64_t, std::vector<const KinetoEvent*>> by_thread;
  for (const auto& e : events) by_thread[e.startThreadId()].push_back(&e);
  std::map<std::string, OpTime> by_name;
  for (auto& [thread, list] : by_thread) {
    std::sort(list.begin(), list.end(), [](auto* a, auto* b) {
      return start_us(*a) != start_us(*b) ? start_us(*a) < start_us(*b) : duration_us(*a) > duration_us(*b);
    });
    struct Open {
      const KinetoEvent* event;
      double children_us;
    };
    std::vector<Open> stack;
    auto close = [&](const Open& open) {
      auto& op = by_name[open.event->name()];
      op.name = open.event->name();
      op.self_ms_per_step += (duration_us(*open.event) - open.children_us) / 1e3 / steps;
      op.calls_per_step += 1.0 / steps;
      if (!stack.empty()) stack.back().children_us += duration_us(*open.event);
    };
    for (auto* e : list) {
      while (!stack.empty() && start_us(*stack.back().event) + duration_us(*stack.back().event) <= start_us(*e)) {
        const Open open = stack.back();
        stack.pop_back();
        close(open);
      }
      stack.push_back({e, 0.0});
    }
    while (!stack.empty()) {
      const Open open = stack.back();
      stack.pop_back();
      close(open);
    }
  }
  std::vector<OpTime> out;
  for (auto& [name, op] : by_name) out.push_back(op);
  std::sort(out.begin(), out.end(), [](const OpTime& a, const OpTime& b) { return a.self_ms_per_step > b.self_ms_per_step; });
  return out;
}

// A detector's batch: random images of the given size (already at the detector's size: no resize),
// each with `objects` boxes of sides 64–320 px inside the image, random classes 1..K−1 and the
// boxes' rectangles as masks.
Batch random_detection_batch(const BenchConfig& c) {
  Batch batch;
  batch.inputs = torch::randn({c.batch_size, c.model.in_channels, c.height, c.width});
  const int64_t objects = 6;
  for (int64_t i = 0; i < c.batch_size; ++i) {
    DetectionTarget t;
    t.image_id = i + 1;
    t.original_size = t.size = {c.height, c.width};
    const auto side = torch::rand({objects, 2}) * 256 + 64;  // w, h
    const auto w = torch::minimum(side.select(1, 0), torch::full({objects}, float(c.width - 1)));
    const auto h = torch::minimum(side.select(1, 1), torch::full({objects}, float(c.height - 1)));
    const auto x1 = torch::rand({objects}) * (float(c.width) - w), y1 = torch::rand({objects}) * (float(c.height) - h);
    t.boxes = torch::stack({x1, y1, x1 + w, y1 + h}, 1);
    t.labels = torch::randint(1, std::max<int64_t>(c.model.num_classes, 2), {objects}, torch::kInt64);
    t.masks = torch::zeros({objects, c.height, c.width}, torch::kUInt8);
    for (int64_t k = 0; k < objects; ++k) {
      const auto b = t.boxes[k];
      using torch::indexing::Slice;
      t.masks[k].index_put_({Slice(int64_t(b[1].item<float>()), int64_t(b[3].item<float>())),
                             Slice(int64_t(b[0].item<float>()), int64_t(b[2].item<float>()))},
                            1);
    }
    batch.objects.push_back(std::move(t));
  }
  return batch;
}

void reset_peak_device_memory(const torch::Device& device) {
#ifdef ESHIFT_CUDA
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(device.has_index() ? device.index() : 0);
#endif
}

double peak_device_memory_mib(const torch::Device& device) {
#ifdef ESHIFT_CUDA
  if (device.is_cuda()) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.has_index() ? device.index() : 0);
    return stats.allocated_bytes[0].peak / (1024.0 * 1024.0);  // [0]: the aggregate over pool types
  }
#endif
  return -1;
}

}  // namespace

BenchResult run_step_benchmark(const BenchConfig& config) {
  config.validate();
  const auto policy_ptr = make_execution_policy(config.amp, Placement{parse_device(config.device), config.channels_last});
  ExecutionPolicy& policy = *policy_ptr;
  set_fused_batch_norm_act(config.fused_batch_norm_act);
  set_fused_weight_standardization(config.fused_weight_standardization);
  set_fused_eps_shift(config.fused_eps_shift);
  set_fused_sgd_step(config.fused_sgd_step);
  torch::manual_seed(config.seed);
  auto model = build_model(config.model);
  policy.placement().place(*model);
  model->train();
  const auto conv = config.reg == "el2" ? ConvDecay::EpsShifted : config.reg == "l2" ? ConvDecay::L2 : ConvDecay::None;
  const double lambda = config.reg == "el2" ? config.lam : config.wd;
  const DecayFlags flags = conv_decay_preset(conv, lambda, config.eps, config.reg == "none" ? 0.0 : config.wd);
  RegularizedSGD optimizer(DecayPolicy(flags).group(describe_parameters(*model)), RegularizedSGDOptions(0.01).momentum(0.9));
  const ClassificationTask classify;
  const DetectionTask detect;
  const Task& task = model->is_detector() ? static_cast<const Task&>(detect) : classify;
  const Batch batch = policy.place(
      model->is_detector()
          ? random_detection_batch(config)
          : Batch{torch::randn({config.batch_size, config.model.in_channels, config.height, config.width}),
                  torch::randint(config.model.num_classes, {config.batch_size}, torch::kInt64)});

  Probe probe(describe_parameters(*model), config.eps);
  const auto device = policy.placement().device;
  reset_peak_device_memory(device);

  BenchResult result;
  for (int i = 0; i < config.warmup + config.steps; ++i) {
    if (config.profile && i == config.warmup) {
      // prepare, then enable, as torch.profiler does: LibTorch 2.x's Kineto crashes in startTrace unprepared
      const torch::profiler::impl::ProfilerConfig kineto(torch::profiler::impl::ProfilerState::KINETO);
      const std::set<torch::profiler::impl::ActivityType> cpu{torch::profiler::impl::ActivityType::CPU};
      torch::autograd::profiler::prepareProfiler(kineto, cpu);
      torch::autograd::profiler::enableProfiler(kineto, cpu);
    }
    const auto t0 = std::chrono::steady_clock::now();
    // the trainer's step and its metrics (whose .item() synchronizes with the device)
    MetricSums sums(task.metrics());
    const bool probing = config.probe_every > 0 && i % config.probe_every == 0;
    const auto out = train_step(*model, task, optimizer, policy, batch, {}, [&] { if (probing) probe.before_step(); });
    task.measure(out.output, batch, out.loss, sums);
    if (probing) probe.after_step(i, 1, optimizer.param_groups().front().options().get_lr());
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (i >= config.warmup) result.step_seconds.push_back(s);
  }
  result.peak_device_mib = peak_device_memory_mib(device);
  result.policy_stats = policy.stats();
  if (config.profile) result.op_times = self_times(torch::autograd::profiler::disableProfiler()->events(), config.steps);
  auto sorted = result.step_seconds;
  std::sort(sorted.begin(), sorted.end());
  const size_t n = sorted.size();
  result.median_step_seconds = n % 2 ? sorted[n / 2] : 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]);
  result.images_per_second = config.batch_size / result.median_step_seconds;
  if (config.count_flops && !model->is_detector())
    result.conv_flops_per_step = 3 * conv_forward_flops(*model, config.height, config.width) * config.batch_size;
  return result;
}

namespace {

// Seconds of the fastest of `reps` calls of `fn`, after one untimed warm-up call.
template <typename Fn>
double best_seconds(int reps, Fn fn) {
  fn();
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

}  // namespace

double measure_sgemm_gflops(int64_t n, int reps) {
  auto a = torch::randn({n, n}), b = torch::randn({n, n}), c = torch::empty({n, n});
  return 2.0 * n * n * n / best_seconds(reps, [&] { torch::mm_out(c, a, b); }) / 1e9;
}

double measure_onednn_conv_gflops(int reps) {
  const int64_t n = 32, c = 128, hw = 32;
  auto x = torch::randn({n, c, hw, hw}).contiguous(at::MemoryFormat::ChannelsLast);
  auto w = torch::randn({c, c, 3, 3}).contiguous(at::MemoryFormat::ChannelsLast);
  torch::NoGradGuard no_grad;
  const double seconds = best_seconds(reps, [&] { torch::conv2d(x, w, {}, 1, 1); });
  return 2.0 * n * hw * hw * c * c * 9 / seconds / 1e9;
}

double peak_rss_mib() {
  struct rusage usage {};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / 1024.0;  // Linux reports KiB
}

}  // namespace eshift
