// eshift bench: training steps of a model on random data, timed (analysis/step_benchmark.h).
#include <algorithm>
#include <cstdio>

#include <chrono>
#include <fstream>
#include <iterator>
#include <thread>

#include "command.h"
#include "eshift/analysis/runtime_info.h"
#include "eshift/analysis/step_benchmark.h"
#include "eshift/data/batch_loader.h"
#include "eshift/data/detection_loader.h"
#include "eshift/data/image_folder.h"
#include "eshift/data/jpeg.h"
#include "flags.h"

namespace eshift::cli {

namespace {
class BenchCommand : public Command {
 public:
  void add_flags(CLI::App& app) override {
    auto& c = config_;
    model_.add(app, c.model);
    app.add_option("--batch-size", c.batch_size)->capture_default_str();
    app.add_option("--image", image_, "input size CxHxW")->capture_default_str();
    app.add_option("--classes", c.model.num_classes)->capture_default_str();
    app.add_option("--reg", c.reg, "decay on conv weights: none|l2|el2")->capture_default_str();
    app.add_option("--lam", c.lam)->capture_default_str();
    app.add_option("--mineps", c.eps)->capture_default_str();
    app.add_option("--wd", c.wd)->capture_default_str();
    app.add_option("--steps", c.steps, "timed steps")->capture_default_str();
    app.add_option("--warmup", c.warmup, "untimed warm-up steps")->capture_default_str();
    add_device_flag(app, c.device);
    add_amp_flag(app, c.amp);
    add_channels_last_flag(app, c.channels_last, "parameters and input");
    app.add_option("--seed", c.seed)->capture_default_str();
    app.add_flag("--flops", c.count_flops, "also report conv GFLOP/s against this machine's measured sgemm and oneDNN GFLOP/s");
    threads_.add(app);
    app.add_option("--probe-every", c.probe_every, "run the probes (σ, effective rate, gradient vs float16) every N steps, timed; 0: never")
        ->capture_default_str();
    app.add_flag("--profile", c.profile, "print LibTorch's per-operator self times of the timed steps");
    app.add_flag("--fused-bn,!--no-fused-bn", c.fused_batch_norm_act,
                 "fused BatchNorm+ReLU(+residual) kernels (channels-last CPU training)")
        ->capture_default_str();
    app.add_flag("--fused-ws,!--no-fused-ws", c.fused_weight_standardization,
                 "weight standardization as one function with its own kernels (CPU, float32/float64 weights)")
        ->capture_default_str();
    app.add_flag("--fused-reg,!--no-fused-reg", c.fused_eps_shift,
                 "the ε-shifted L2 gradient added by one kernel (CPU, float32/float64 weights), where the fused SGD "
                 "step does not add it itself")
        ->capture_default_str();
    app.add_flag("--fused-sgd,!--no-fused-sgd", c.fused_sgd_step,
                 "the momentum step with its decay (none, L2, ε-shifted) as one kernel per parameter (CPU, "
                 "float32/float64 parameters)")
        ->capture_default_str();
    app.add_option("--loader", loader_dir_,
                   "instead of training steps: time the ImageNet loader (RandomResizedCrop + flip) on the image folder "
                   "DIR (DIR/train/<class>/*.JPEG) against decoding the same files in full with libjpeg-turbo");
    app.add_option("--coco", coco_dir_,
                   "instead of training steps: time the COCO detection loader on DIR's train2017 split (decode, flip, "
                   "resize to --min-size/--max-size with the masks, padding to 32), after a summary of the targets");
    app.add_option("--min-size", min_size_, "--coco: the images' shorter side")->capture_default_str();
    app.add_option("--max-size", max_size_, "--coco: the most their longer side may be")->capture_default_str();
    app.add_option("--workers", workers_, "--loader, --coco: decoding threads")->capture_default_str();
    app.add_option("--image-size", image_size_, "--loader: crop size")->capture_default_str();
    app.add_option("--images", loader_images_, "--loader, --coco: images timed (0 = all)")->capture_default_str();
  }

  int run() override {
    auto& c = config_;
    model_.apply(c.model);
    threads_.apply();
    if (!loader_dir_.empty()) return run_loader();
    if (!coco_dir_.empty()) return run_coco();
    std::tie(c.model.in_channels, c.height, c.width) = parse_image(image_);
    std::printf("runtime: %s\n", runtime_info().line().c_str());
    const std::string amp = c.amp == "off" ? "" : " amp=" + c.amp;
    const std::string probes = c.probe_every > 0 ? " probe-every=" + std::to_string(c.probe_every) : "";
    std::printf("bench %s wnorm=%s norm=%s batch=%lld image=%s reg=%s threads=%d device=%s%s%s, %d warm-up + %d timed steps\n",
                c.model.name.c_str(), family_name(c.model.wnorm).c_str(), c.model.norm.c_str(),
                (long long)c.batch_size, image_.c_str(), c.reg.c_str(), torch::get_num_threads(), c.device.c_str(),
                amp.c_str(), probes.c_str(), c.warmup, c.steps);
    const auto r = run_step_benchmark(c);
    auto sorted = r.step_seconds;
    std::sort(sorted.begin(), sorted.end());
    std::printf("step time: min %.1f ms, median %.1f ms, max %.1f ms\n", 1e3 * sorted.front(),
                1e3 * r.median_step_seconds, 1e3 * sorted.back());
    std::printf("peak RSS: %.0f MiB\n", peak_rss_mib());
    if (r.peak_device_mib >= 0) std::printf("peak GPU memory: %.0f MiB (allocated by LibTorch)\n", r.peak_device_mib);
    for (const auto& [name, value] : r.policy_stats) std::printf("%s: %g\n", name.c_str(), value);
    if (c.count_flops) print_flops(r);
    if (c.profile) print_profile(r);
    std::printf("throughput: %.1f img/s\n", r.images_per_second);
    return 0;
  }

 private:
  static void print_flops(const BenchResult& r) {
    const double blas = measure_sgemm_gflops(), onednn = measure_onednn_conv_gflops();
    std::printf("conv FLOPs per step: %.2f GFLOP (forward + both gradients); achieved %.1f GFLOP/s = %.0f%% of "
                "sgemm %.1f GFLOP/s (2048x2048 torch::mm), %.0f%% of oneDNN %.1f GFLOP/s (3x3 conv "
                "forward, 32x128x32x32), %d threads\n",
                r.conv_flops_per_step / 1e9, r.conv_gflops_per_second(), 100 * r.conv_gflops_per_second() / blas, blas,
                100 * r.conv_gflops_per_second() / onednn, onednn, torch::get_num_threads());
  }

  static void print_profile(const BenchResult& r) {
    double total = 0;
    for (const auto& op : r.op_times) total += op.self_ms_per_step;
    std::printf("profile (LibTorch profiler, self time per timed step; profiling itself costs time):\n");
    std::printf("  %9s %6s %8s  %s\n", "ms/step", "share", "calls", "operator");
    for (const auto& op : r.op_times) {
      if (op.self_ms_per_step < 0.002 * total) continue;
      std::printf("  %9.2f %5.1f%% %8.1f  %s\n", op.self_ms_per_step, 100 * op.self_ms_per_step / total,
                  op.calls_per_step, op.name.c_str());
    }
    std::printf("  %9.2f        (operators under 0.2%% not listed)\n", total);
  }

  // The loader's img/s against libjpeg-turbo's full-size decode of the same files (read into memory
  // first, so neither pays for the disk), both on --workers threads.
  int run_loader() const {
    DataOptions options;
    options.image_size = image_size_;
    auto set = std::make_shared<ImageFolderDataset>(loader_dir_, "train", options);
    const int64_t n = loader_images_ > 0 ? std::min(loader_images_, set->size()) : set->size();
    const int64_t batch = std::min<int64_t>(config_.batch_size, n);
    std::printf("loader bench: %s, %lld images, batch %lld, %d workers, %d LibTorch threads, crop %d\n",
                loader_dir_.c_str(), (long long)n, (long long)batch, workers_, torch::get_num_threads(), image_size_);
    std::vector<std::vector<uint8_t>> files(static_cast<size_t>(n));
    for (int64_t k = 0; k < n; ++k) {
      std::ifstream in(set->path(k), std::ios::binary);
      files[static_cast<size_t>(k)].assign(std::istreambuf_iterator<char>(in), {});
    }
    auto seconds_since = [](auto t0) { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
    // libjpeg-turbo alone: every file decoded at full size, the files split over the workers
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> threads;
    for (int w = 0; w < workers_; ++w)
      threads.emplace_back([&, w] {
        for (int64_t k = w; k < n; k += workers_)
          decode_jpeg(files[size_t(k)].data(), files[size_t(k)].size(), 1, set->path(k));
      });
    for (auto& t : threads) t.join();
    const double decode = seconds_since(t0);
    // the loader: batches of RandomResizedCrop + flip, each on its own worker thread
    const auto subset = n < set->size() ? set->head(n) : set;
    const auto transform = subset->train_transform({0, true}, subset->channel_stats());
    LoaderOptions lo;
    lo.batch_size = batch;
    lo.workers = workers_;
    lo.drop_last = true;
    t0 = std::chrono::steady_clock::now();
    BatchLoader loader(subset, *transform, lo, 0);
    int64_t images = 0;
    while (auto b = loader.next()) images += b->size();
    const double load = seconds_since(t0);
    std::printf("libjpeg-turbo full-size decode: %.1f img/s (%.1f per worker)\n", n / decode, n / decode / workers_);
    std::printf("loader (decode at DCT scale, crop, resize, flip, normalize): %.1f img/s (%.1f per worker)\n",
                images / load, images / load / workers_);
    std::printf("loader time / decode time per image: %.2f\n", (load / images) / (decode / n));
    return 0;
  }

  // The detection loader's img/s, and what its batches hold.
  int run_coco() const {
    auto set = std::make_shared<const CocoDataset>(coco_dir_, "train");
    std::printf("%s\n", set->summary().c_str());
    const int64_t n = loader_images_ > 0 ? std::min(loader_images_, set->size()) : set->size();
    DetectionTransformOptions options;
    options.min_size = min_size_;
    options.max_size = max_size_;
    options.hflip = true;
    LoaderOptions lo;
    lo.batch_size = std::max<int64_t>(1, std::min<int64_t>(config_.batch_size, n));
    lo.workers = workers_;
    const auto t0 = std::chrono::steady_clock::now();
    DetectionLoader loader(set, DetectionTransform(options), lo, 0);
    int64_t images = 0, objects = 0, unreadable = 0, batches = 0;
    int64_t largest_h = 0, largest_w = 0;
    while (images < n) {
      auto r = loader.next();
      if (!r) break;
      ++batches;
      images += r->size();
      unreadable += int64_t(r->unreadable.size());
      largest_h = std::max(largest_h, r->inputs.size(2));
      largest_w = std::max(largest_w, r->inputs.size(3));
      for (const auto& t : r->objects) objects += t.boxes.size(0);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("coco loader: %lld images in %lld batches of %lld (largest %lldx%lld), %lld objects with %s, "
                "%lld unreadable; %.1f img/s on %d workers\n",
                (long long)images, (long long)batches, (long long)lo.batch_size, (long long)largest_h,
                (long long)largest_w, (long long)objects, set->has_masks() ? "masks" : "no masks",
                (long long)unreadable, images / seconds, workers_);
    return 0;
  }

  std::string loader_dir_, coco_dir_;
  int64_t min_size_ = 800, max_size_ = 1333;
  int workers_ = 1, image_size_ = 224;
  int64_t loader_images_ = 0;
  BenchConfig config_;
  ModelFlags model_;
  ThreadFlags threads_;
  std::string image_ = "3x32x32";
};
}  // namespace

std::unique_ptr<Command> make_bench_command() { return std::make_unique<BenchCommand>(); }

}  // namespace eshift::cli
