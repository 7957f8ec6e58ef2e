// eshift: train, evaluate and benchmark weight-normalized networks with the ε-shifted L2 regularizer.
//   eshift train  [flags]      train a CIFAR-style ResNet on an MNIST-layout dataset
//   eshift eval   --checkpoint F   evaluate a checkpoint on the test split
//   eshift bench  [flags]      time training steps on random data
//   eshift demo   [flags]      plain L2 vs ε-shifted L2 on Fashion-MNIST, side by side
//   eshift audit  [flags]      which parameters of a model are scale-invariant, measured
//   eshift experiment NAME     equivalence | underfit | collapse | seeds | equilibrium
//   eshift report DIR...       figures and a Markdown summary of runs and experiments
// Every error ends the program with one line "eshift: error: …" on stderr and exit status 1
// (2 for command-line syntax errors).
#include <CLI/CLI.hpp>

#include <malloc.h>

#include <csignal>
#include <cstdio>
#include <iostream>
#include <thread>

#include "eshift/audit.h"
#include "eshift/checkpoint.h"
#include "eshift/experiments.h"
#include "eshift/report.h"
#include "eshift/idx_reader.h"
#include "eshift/step_benchmark.h"
#include "eshift/trainer.h"

using namespace eshift;

namespace {

int default_threads() { return std::max(1u, std::thread::hardware_concurrency()); }

void set_threads(int threads) {
  if (threads < 1) throw std::invalid_argument("--threads must be >= 1");
  torch::set_num_threads(threads);  // intra-op pool, also OpenMP (and so OpenBLAS/oneDNN)
}

// glibc hands large freed blocks back to the kernel (mmap'd chunks above a threshold, heap trims),
// and LibTorch's CPU allocator frees every activation each step, so every step page-faults its
// memory in again. Keeping it: +30–50 % img/s for WS-ResNet-20 here, same peak RSS
// (bench/README.md has the measurements).
void keep_freed_memory() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);  // the largest allowed value: blocks below 32 MiB come from the heap
  mallopt(M_TRIM_THRESHOLD, 1 << 30);   // trim the heap only above 1 GiB of free memory at its top
}

void on_signal(int) {
  if (g_stop_requested) std::_Exit(130);  // second ^C: stop now
  g_stop_requested = true;
}

// "CxHxW" → (C, H, W), each >= 1.
std::tuple<int64_t, int64_t, int64_t> parse_image(const std::string& image) {
  long long ch = 0, h = 0, w = 0;
  char tail = 0;
  if (std::sscanf(image.c_str(), "%lldx%lldx%lld%c", &ch, &h, &w, &tail) != 3 || ch < 1 || h < 1 || w < 1)
    throw std::invalid_argument("--image must be CxHxW, e.g. 3x32x32, got '" + image + "'");
  return {ch, h, w};
}

// Model flags shared by train, bench and demo.
struct ModelFlags {
  std::string wnorm = "ws";
  void add(CLI::App* app, ModelSpec& spec) {
    app->add_option("--model", spec.name, "resnet20|32|44|56|110 (any resnet<6n+2>)")->capture_default_str();
    app->add_option("--wnorm", wnorm, "weight normalization of every conv: none|ws|wn|cwn")->capture_default_str();
    app->add_option("--norm", spec.norm, "feature normalization after each conv: bn|gn")->capture_default_str();
    app->add_option("--gn-groups", spec.gn_groups, "GroupNorm groups")->capture_default_str();
    app->add_option("--width", spec.width, "filters of the first stage")->capture_default_str();
    app->add_option("--ws-delta", spec.ws.delta, "WS δ (paper: 1e-5, outside the sqrt of the unbiased var.)")
        ->capture_default_str();
    app->add_flag("--ws-delta-inside-sqrt", spec.ws.delta_inside_sqrt,
                  "WS: (w-μ)/sqrt(biased var + δ) instead of (w-μ)/(σ+δ)");
  }
  void apply(ModelSpec& spec) const { spec.wnorm = parse_family(wnorm); }
};

void add_decay_flags(CLI::App* app, DecayFlags& d) {
  app->add_option("--wd", d.wd, "ordinary L2 weight decay λ (reference --wd)")->capture_default_str();
  app->add_flag("--wd-all", d.wd_all, "decay every parameter, biases and BN β included");
  app->add_flag("--nowd-bn", d.nowd_bn, "no decay on BN/GN γ and WN gains");
  app->add_flag("--nowd-fc", d.nowd_fc, "no decay on the classifier weight");
  app->add_flag("--nowd-conv", d.nowd_conv, "no ordinary decay on conv weights");
  app->add_flag("--el2", d.el2, "ε-shifted L2 on every non-depthwise conv weight (replaces its L2)");
  app->add_option("--mineps", d.mineps, "ε of the ε-shifted L2")->capture_default_str();
  app->add_option("--lam", d.lam, "λ of the ε-shifted L2")->capture_default_str();
  app->add_flag("--decoupled-wd", d.decoupled, "apply ordinary decay decoupled (w -= lr·λ·w), not via the gradient");
}

void add_train_flags(CLI::App* app, TrainConfig& c, ModelFlags& model_flags, int& threads) {
  model_flags.add(app, c.model);
  app->add_option("--data", c.data_dir, "MNIST-layout directory (IDX files, raw or .gz)")->capture_default_str();
  app->add_option("--train-subset", c.train_subset, "use the first N training images (0 = all)")
      ->capture_default_str();
  app->add_option("--test-subset", c.test_subset, "use the first N test images (0 = all)")->capture_default_str();
  app->add_option("--epochs", c.epochs)->capture_default_str();
  app->add_option("--batch-size", c.batch_size)->capture_default_str();
  app->add_option("--eval-batch-size", c.eval_batch_size)->capture_default_str();
  app->add_option("--lr", c.schedule.base_lr, "base learning rate")->capture_default_str();
  app->add_option("--schedule", c.schedule.milestones, "epochs at which lr is multiplied by --gamma");
  app->add_option("--gamma", c.schedule.gamma)->capture_default_str();
  app->add_flag("--cos", c.schedule.cosine, "cosine learning-rate decay (epoch-wise)");
  app->add_option("--warmup", c.schedule.warmup_epochs, "linear warm-up epochs")->capture_default_str();
  app->add_option("--momentum", c.momentum)->capture_default_str();
  app->add_option("--dampening", c.dampening)->capture_default_str();
  app->add_flag("--nesterov", c.nesterov);
  add_decay_flags(app, c.decay);
  app->add_option("--crop-padding", c.crop_padding, "random-crop padding in pixels (0 = off)")->capture_default_str();
  app->add_flag("!--no-flip", c.hflip, "no random horizontal flips");
  app->add_option("--seed", c.seed)->capture_default_str();
  app->add_option("--probe-every", c.probe_every, "probe weights and gradients every k steps (0 = never)")
      ->capture_default_str();
  app->add_option("--device", c.device, "cpu, cuda or cuda:N")->capture_default_str();
  app->add_flag("--channels-last,!--no-channels-last", c.channels_last, "NHWC parameters and batches")
      ->capture_default_str();
  app->add_option("--threads", threads, "CPU threads (default: all cores)")->capture_default_str();
}

// ---------------------------------------------------------------- train
int run_train(TrainConfig& c, const ModelFlags& model_flags, int threads) {
  model_flags.apply(c.model);
  set_threads(threads);
  auto result = train(c);
  if (result.interrupted) return 130;
  if (result.diverged) throw std::runtime_error(result.stop_message);
  if (!c.out_dir.empty()) std::cout << "run written to " << c.out_dir << " (metrics.jsonl, checkpoint.pt)\n";
  return 0;
}

// ---------------------------------------------------------------- eval
int run_eval(const std::string& checkpoint, const std::string& data_dir, int64_t test_subset,
             const std::string& device_name, int threads) {
  set_threads(threads);
  const auto device = parse_device(device_name);
  auto info = read_checkpoint_info(checkpoint);
  ResNet model(info.spec);
  model->to(device);
  load_checkpoint(checkpoint, *model, nullptr, info.spec, device);
  ImageSet test_set = read_mnist_dir(data_dir, "test");
  if (test_subset > 0) test_set = test_set.head(std::min(test_subset, test_set.size()));
  if (test_set.images.size(1) != info.spec.in_channels)
    throw std::invalid_argument(data_dir + ": images have " + std::to_string(test_set.images.size(1)) +
                                " channels, the checkpoint's model expects " + std::to_string(info.spec.in_channels));
  LoaderOptions opts;
  opts.batch_size = 500;
  opts.shuffle = false;
  opts.mean = info.input_mean;
  opts.std = info.input_std;
  auto r = evaluate(model, test_set, opts, Placement{device, false});
  std::printf("checkpoint %s (epoch %lld, %s)\n", checkpoint.c_str(), (long long)info.epoch,
              info.spec.to_json().c_str());
  std::printf("test images %lld: loss %.4f top-1 %.2f%%\n", (long long)test_set.size(), r.loss, 100 * r.accuracy);
  return 0;
}

// ---------------------------------------------------------------- bench
int run_bench(BenchConfig& c, const ModelFlags& model_flags, const std::string& image, bool sgemm, int threads) {
  model_flags.apply(c.model);
  set_threads(threads);
  std::tie(c.model.in_channels, c.height, c.width) = parse_image(image);
  std::printf("bench %s wnorm=%s norm=%s batch=%lld image=%s reg=%s threads=%d device=%s, %d warm-up + %d timed steps\n",
              c.model.name.c_str(), family_name(c.model.wnorm).c_str(), c.model.norm.c_str(),
              (long long)c.batch_size, image.c_str(), c.reg.c_str(), torch::get_num_threads(), c.device.c_str(),
              c.warmup, c.steps);
  auto r = run_step_benchmark(c);
  auto sorted = r.step_seconds;
  std::sort(sorted.begin(), sorted.end());
  std::printf("step time: min %.1f ms, median %.1f ms, max %.1f ms\n", 1e3 * sorted.front(),
              1e3 * r.median_step_seconds, 1e3 * sorted.back());
  std::printf("peak RSS: %.0f MiB\n", peak_rss_mib());
  if (sgemm) {
    const double blas = measure_sgemm_gflops(), onednn = measure_onednn_conv_gflops();
    std::printf("conv FLOPs per step: %.2f GFLOP (forward + both gradients); achieved %.1f GFLOP/s = %.0f%% of "
                "sgemm %.1f GFLOP/s (2048x2048 torch::mm), %.0f%% of oneDNN %.1f GFLOP/s (3x3 conv "
                "forward, 32x128x32x32), %d threads\n",
                r.conv_flops_per_step / 1e9, r.conv_gflops_per_second(), 100 * r.conv_gflops_per_second() / blas, blas,
                100 * r.conv_gflops_per_second() / onednn, onednn, torch::get_num_threads());
  }
  if (c.profile) {
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
  std::printf("throughput: %.1f img/s\n", r.images_per_second);
  return 0;
}

// ---------------------------------------------------------------- demo
int run_demo(TrainConfig base, const ModelFlags& model_flags, int threads, double lambda) {
  model_flags.apply(base.model);
  set_threads(threads);
  std::printf("eshift demo: %s (wnorm %s, norm %s) on %s\n", base.model.name.c_str(),
              family_name(base.model.wnorm).c_str(), base.model.norm.c_str(), base.data_dir.c_str());
  std::printf("  %s training images, %s test images, %d epochs, batch %lld, lr %g%s, seed %llu for both runs\n",
              base.train_subset ? std::to_string(base.train_subset).c_str() : "all",
              base.test_subset ? std::to_string(base.test_subset).c_str() : "all", base.epochs,
              (long long)base.batch_size, base.schedule.base_lr, base.schedule.cosine ? " (cosine)" : "",
              (unsigned long long)base.seed);
  std::printf("  run A, plain L2:       L2 λ=%g on conv weights, BN γ and the classifier\n", lambda);
  std::printf("  run B, ε-shifted L2:   ε-shifted L2 (λ=%g, ε=%g, the paper's LSGD) on conv weights,\n"
              "                         L2 λ=%g on BN γ and the classifier\n",
              lambda, base.decay.mineps, lambda);
  std::printf("  (the default budget is a subset of Fashion-MNIST; --train-subset 0 --epochs N uses all of it)\n\n");
  TrainConfig plain = base, shifted = base;
  plain.decay.wd = lambda;
  plain.decay.el2 = false;
  plain.label = "plain-L2";
  shifted.decay.wd = lambda;
  shifted.decay.el2 = true;
  shifted.decay.nowd_conv = true;
  shifted.decay.lam = lambda;
  shifted.label = "eps-L2";
  if (!base.out_dir.empty()) {
    plain.out_dir = base.out_dir + "/plain_l2";
    shifted.out_dir = base.out_dir + "/eps_l2";
  }
  auto a = train(plain);
  if (a.interrupted) return 130;
  if (a.diverged) throw std::runtime_error("plain L2 run: " + a.stop_message);
  std::printf("\n");
  auto b = train(shifted);
  if (b.interrupted) return 130;
  if (b.diverged) throw std::runtime_error("ε-shifted L2 run: " + b.stop_message);
  const auto& ra = a.history.back();
  const auto& rb = b.history.back();
  double ta = 0, tb = 0;
  for (const auto& r : a.history) ta += r.seconds;
  for (const auto& r : b.history) tb += r.seconds;
  std::printf("\n%-28s %14s %14s\n", "after the last epoch", "plain L2", "eps-shifted L2");
  std::printf("%-28s %13.2f%% %13.2f%%\n", "test accuracy (top-1)", 100 * ra.test_acc, 100 * rb.test_acc);
  std::printf("%-28s %14.4f %14.4f\n", "test loss", ra.test_loss, rb.test_loss);
  std::printf("%-28s %14.4f %14.4f\n", "final train loss", ra.train_loss, rb.train_loss);
  std::printf("%-28s %13.2f%% %13.2f%%\n", "final train accuracy", 100 * ra.train_acc, 100 * rb.train_acc);
  std::printf("%-28s %14.4g %14.4g\n", "min per-filter sigma (conv)", ra.sigma_min, rb.sigma_min);
  std::printf("%-28s %14.4g %14.4g\n", "mean per-filter sigma (conv)", ra.sigma_mean, rb.sigma_mean);
  std::printf("%-28s %14.1f %14.1f\n", "training+eval seconds", ta, tb);
  if (!base.out_dir.empty()) std::printf("\nruns written to %s/plain_l2 and %s/eps_l2\n", base.out_dir.c_str(), base.out_dir.c_str());
  return 0;
}

// ---------------------------------------------------------------- audit
int run_audit(ModelSpec spec, const ModelFlags& model_flags, AuditOptions options, const std::string& image, int threads) {
  model_flags.apply(spec);
  set_threads(threads);
  std::tie(spec.in_channels, options.height, options.width) = parse_image(image);
  spec.validate();
  std::printf("scale-invariance audit of %s (wnorm %s, norm %s), float64, train mode, batch %lld of %s, "
              "scales 0.5 and 3, tolerance %g\n\n",
              spec.name.c_str(), family_name(spec.wnorm).c_str(), spec.norm.c_str(), (long long)options.batch_size,
              image.c_str(), options.tolerance);
  std::fputs(audit_table(audit_scale_invariance(spec, options)).c_str(), stdout);
  return 0;
}

// ---------------------------------------------------------------- experiment, report
int run_experiment_cmd(const std::string& name, ExperimentOptions o, int threads) {
  set_threads(threads);
  if (o.out_dir.empty()) o.out_dir = "runs/" + name;
  std::printf("experiment %s → %s\n\n", name.c_str(), o.out_dir.c_str());
  auto r = run_experiment(name, o);
  std::printf("\n%s\nsummary and figures: %s\n", r.table.c_str(), r.summary.c_str());
  return 0;
}

int run_report(const std::vector<std::string>& dirs, std::string out_dir) {
  if (out_dir.empty()) out_dir = (dirs.empty() ? std::string(".") : dirs.front()) + "/report";
  std::printf("report written to %s\n", write_report(dirs, out_dir).c_str());
  return 0;
}

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

}  // namespace

int main(int argc, char** argv) {
  keep_freed_memory();
  CLI::App app{"eshift: weight normalization family + ε-shifted L2 regularizer training on LibTorch"};
  app.require_subcommand(1);
  int threads = default_threads();

  TrainConfig train_config;
  ModelFlags train_model;
  auto* train_cmd = app.add_subcommand("train", "train a CIFAR-style ResNet on an MNIST-layout dataset");
  add_train_flags(train_cmd, train_config, train_model, threads);
  train_cmd->add_option("--out", train_config.out_dir, "run directory: metrics.jsonl, config.json, checkpoint.pt");
  train_cmd->add_flag("--resume", train_config.resume, "continue the run in --out from its checkpoint");

  std::string eval_checkpoint, eval_data = kDefaultDataDir, eval_device = "cpu";
  int64_t eval_subset = 0;
  auto* eval_cmd = app.add_subcommand("eval", "evaluate a checkpoint on the test split");
  eval_cmd->add_option("--checkpoint", eval_checkpoint, "checkpoint.pt written by eshift train")->required();
  eval_cmd->add_option("--data", eval_data)->capture_default_str();
  eval_cmd->add_option("--test-subset", eval_subset, "first N test images (0 = all)");
  eval_cmd->add_option("--device", eval_device)->capture_default_str();
  eval_cmd->add_option("--threads", threads)->capture_default_str();

  BenchConfig bench_config;
  ModelFlags bench_model;
  std::string bench_image = "3x32x32";
  bool bench_sgemm = false;
  auto* bench_cmd = app.add_subcommand("bench", "time training steps on random data");
  bench_model.add(bench_cmd, bench_config.model);
  bench_cmd->add_option("--batch-size", bench_config.batch_size)->capture_default_str();
  bench_cmd->add_option("--image", bench_image, "input size CxHxW")->capture_default_str();
  bench_cmd->add_option("--classes", bench_config.model.num_classes)->capture_default_str();
  bench_cmd->add_option("--reg", bench_config.reg, "decay on conv weights: none|l2|el2")->capture_default_str();
  bench_cmd->add_option("--lam", bench_config.lam)->capture_default_str();
  bench_cmd->add_option("--mineps", bench_config.eps)->capture_default_str();
  bench_cmd->add_option("--wd", bench_config.wd)->capture_default_str();
  bench_cmd->add_option("--steps", bench_config.steps, "timed steps")->capture_default_str();
  bench_cmd->add_option("--warmup", bench_config.warmup, "untimed warm-up steps")->capture_default_str();
  bench_cmd->add_option("--device", bench_config.device)->capture_default_str();
  bench_cmd->add_flag("--channels-last,!--no-channels-last", bench_config.channels_last, "NHWC parameters and input")
      ->capture_default_str();
  bench_cmd->add_option("--seed", bench_config.seed)->capture_default_str();
  bench_cmd->add_flag("--flops", bench_sgemm, "also report conv GFLOP/s against this machine's measured sgemm and oneDNN GFLOP/s");
  bench_cmd->add_option("--threads", threads)->capture_default_str();
  bench_cmd->add_flag("--profile", bench_config.profile, "print LibTorch's per-operator self times of the timed steps");
  bench_cmd->add_flag("--fused-bn,!--no-fused-bn", bench_config.fused_batch_norm_act,
                      "fused BatchNorm+ReLU(+residual) kernels (channels-last CPU training)")
      ->capture_default_str();

  ModelSpec audit_spec;
  ModelFlags audit_model;
  AuditOptions audit_options;
  std::string audit_image = "1x28x28";
  auto* audit_cmd = app.add_subcommand("audit", "measure which parameters of a model are scale-invariant");
  audit_model.add(audit_cmd, audit_spec);
  audit_cmd->add_option("--image", audit_image, "input size CxHxW")->capture_default_str();
  audit_cmd->add_option("--classes", audit_spec.num_classes)->capture_default_str();
  audit_cmd->add_option("--batch-size", audit_options.batch_size)->capture_default_str();
  audit_cmd->add_option("--tol", audit_options.tolerance, "relative output change below which a parameter counts as invariant")
      ->capture_default_str();
  audit_cmd->add_option("--seed", audit_options.seed)->capture_default_str();
  audit_cmd->add_option("--threads", threads)->capture_default_str();

  std::string experiment_name;
  ExperimentOptions experiment;
  experiment.data_dir = kDefaultDataDir;
  auto* experiment_cmd = app.add_subcommand("experiment", "run one of the paper-claim experiments");
  experiment_cmd->add_option("name", experiment_name, "equivalence | underfit | collapse | seeds | equilibrium")
      ->required();
  experiment_cmd->add_option("--out", experiment.out_dir, "output directory (default runs/NAME)");
  experiment_cmd->add_option("--data", experiment.data_dir)->capture_default_str();
  experiment_cmd->add_option("--model", experiment.model, "override the experiment's model");
  experiment_cmd->add_option("--train-subset", experiment.train_subset, "override: first N training images (0 = all)");
  experiment_cmd->add_option("--test-subset", experiment.test_subset, "override: first N test images (0 = all)");
  experiment_cmd->add_option("--batch-size", experiment.batch_size, "override the batch size");
  experiment_cmd->add_option("--epochs", experiment.epochs, "override the epochs of each run");
  experiment_cmd->add_option("--steps", experiment.steps, "equivalence: steps (default 300)");
  experiment_cmd->add_option("--lr", experiment.lr, "override the learning rate");
  experiment_cmd->add_option("--lambda", experiment.lambda, "override the decay strength λ");
  experiment_cmd->add_option("--eps", experiment.eps, "override ε of the ε-shifted runs");
  experiment_cmd->add_option("--seeds", experiment.seeds, "seeds: number of seeds")->capture_default_str();
  experiment_cmd->add_option("--seed", experiment.seed)->capture_default_str();
  experiment_cmd->add_option("--device", experiment.device)->capture_default_str();
  experiment_cmd->add_option("--threads", threads)->capture_default_str();

  std::vector<std::string> report_dirs;
  std::string report_out;
  auto* report_cmd = app.add_subcommand("report", "figures (PNG) and report.md from run and experiment directories");
  report_cmd->add_option("dirs", report_dirs, "run directories (metrics.jsonl) and experiment directories")->required();
  report_cmd->add_option("--out", report_out, "where report.md and the figures go (default DIR1/report)");

  TrainConfig demo_config;
  // default budget: about 4 minutes on a 2-core machine (20000 training images, 5 epochs, cosine)
  demo_config.train_subset = 20000;
  demo_config.test_subset = 0;
  demo_config.epochs = 5;
  demo_config.schedule.base_lr = 0.1;
  demo_config.schedule.cosine = true;
  double demo_lambda = 5e-4;
  ModelFlags demo_model;
  auto* demo_cmd = app.add_subcommand("demo", "plain L2 vs ε-shifted L2 on Fashion-MNIST, same seed, side by side");
  add_train_flags(demo_cmd, demo_config, demo_model, threads);
  demo_cmd->add_option("--lambda", demo_lambda, "λ of both regularizers")->capture_default_str();
  demo_cmd->add_option("--out", demo_config.out_dir, "directory for both runs (plain_l2/, eps_l2/)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "eshift: error: %s (see eshift --help)\n", first_line(e.what()).c_str());
    return 2;
  }

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  try {
    if (*train_cmd) return run_train(train_config, train_model, threads);
    if (*eval_cmd) return run_eval(eval_checkpoint, eval_data, eval_subset, eval_device, threads);
    if (*bench_cmd) return run_bench(bench_config, bench_model, bench_image, bench_sgemm, threads);
    if (*demo_cmd) return run_demo(demo_config, demo_model, threads, demo_lambda);
    if (*audit_cmd) return run_audit(audit_spec, audit_model, audit_options, audit_image, threads);
    if (*experiment_cmd) return run_experiment_cmd(experiment_name, experiment, threads);
    if (*report_cmd) return run_report(report_dirs, report_out);
  } catch (const std::exception& e) {
    std::fflush(stdout);
    std::fprintf(stderr, "eshift: error: %s\n", first_line(e.what()).c_str());
    return 1;
  }
  return 0;
}
