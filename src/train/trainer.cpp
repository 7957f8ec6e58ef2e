#include "eshift/train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <tuple>

#include <nlohmann/json.hpp>

#include "eshift/core/atomic_file.h"
#include "eshift/core/fault_injection.h"
#include "eshift/core/text.h"
#include "eshift/data/batch_loader.h"
#include "eshift/data/registry.h"
#include "eshift/distributed/communicator.h"
#include "eshift/interop/import_weights.h"
#include "eshift/interop/torch_state_dict.h"
#include "eshift/models/audit.h"
#include "eshift/models/detection/mask_rcnn.h"
#include "eshift/models/registry.h"
#include "eshift/observe/progress.h"
#include "eshift/regularize/decay_policy.h"
#include "eshift/train/checkpoint.h"
#include "eshift/train/mixed_precision.h"

namespace eshift {

std::atomic<bool> g_stop_requested{false};
std::atomic<int> g_stop_signal{0};

namespace {
// The configuration as the run uses it: cosine decays over the whole run; validated. A handed
// model's spec is its own (config.json and the checkpoints record it), not one of the registry's.
TrainConfig prepared(TrainConfig config, const Model* handed) {
  config.schedule.epochs = config.epochs;
  if (!handed) {
    config.validate();
    return config;
  }
  TrainConfig registered = config;  // every other setting validated as usual
  registered.model = ModelSpec{};
  registered.validate();
  config.model = handed->spec();
  return config;
}

std::unique_ptr<ExecutionPolicy> policy_of(const TrainConfig& config, const DistEnvironment& dist) {
  // a data-parallel process on a GPU machine uses the GPU of its local rank
  const std::string device = config.device == "cuda" && dist.distributed() ? "cuda:" + std::to_string(dist.local_rank)
                                                                            : config.device;
  return make_execution_policy(config.amp,
                               Placement{parse_device(device), config.channels_last, parse_dtype(config.dtype)});
}
}  // namespace

// ---------------------------------------------------------------- set up
Trainer::Trainer(TrainConfig config, std::shared_ptr<const Task> task, TrainerParts parts)
    : config_(prepared(std::move(config), parts.model.get())), dist_(std::move(parts.dist)), task_(std::move(task)),
      policy_(parts.policy ? std::move(parts.policy) : policy_of(config_, dist_)), data_(std::move(parts.data)),
      model_(std::move(parts.model)),
      observer_(parts.observer ? std::move(parts.observer) : std::make_shared<ConsoleObserver>()) {
  if (config_.batch_size % dist_.world_size != 0)
    throw std::invalid_argument("--batch-size " + std::to_string(config_.batch_size) + " (the global batch) is not divisible by WORLD_SIZE " +
                                std::to_string(dist_.world_size));
  set_up_data();
  set_up_model();
  print_header();
  connect();
  set_up_output();
  set_up_data_parallel();
  probe_ = std::make_unique<Probe>(params_, config_.collapse_threshold());
  collapse_watch_ = std::make_unique<CollapseWatch>(config_.collapse_threshold(), config_.collapse_share, config_.decay.el2);
  if (config_.decay.mineps_auto && start_epoch_ == 0) {
    calibration_ = std::make_unique<EpsCalibration>(params_);
    observer_->message("--mineps auto: epoch 1 trains with ε = 0 (plain L2 on the ε-shifted weights) and measures "
                       "their gradients in its second half; ε is chosen after it");
  }
}

namespace {
// What every rank of a run must share with rank 0: the settings a resume compares, and the data.
std::string run_identity(const TrainConfig& config, const DataSplit& train_set, const DataSplit& eval_set) {
  nlohmann::json j;
  j["config"] = config.to_json();
  j["train_data"] = train_set.fingerprint();
  j["eval_data"] = eval_set.fingerprint();
  return j.dump();
}

// The differences of `mine` (this rank's run_identity) from rank 0's, in one line; empty when none.
std::string differences_from_rank0(const std::string& rank0, const std::string& mine, int rank) {
  const auto theirs = nlohmann::json::parse(rank0), ours = nlohmann::json::parse(mine);
  const std::string here = " on rank " + std::to_string(rank);
  std::string out;
  auto add = [&](const std::string& text) { out += (out.empty() ? "" : "; ") + text; };
  for (const auto& c : meaning_changes(theirs.at("config").get<std::string>(), ours.at("config").get<std::string>()))
    add(c.name + " is " + c.before + " on rank 0 but " + c.after + here);
  for (const char* split : {"train_data", "eval_data"})
    if (theirs.at(split) != ours.at(split))
      add(std::string(split == std::string("train_data") ? "the training data" : "the evaluation data") + " is " +
          theirs.at(split).get<std::string>() + " on rank 0 but " + ours.at(split).get<std::string>() + here);
  if (out.empty()) return out;
  return "the ranks of the run differ: " + out + " (start every process with the same flags and data)";
}
}  // namespace

void Trainer::connect() {
  if (!dist_.distributed()) return;
  communicator_ = std::make_shared<Communicator>(dist_, std::chrono::seconds(config_.dist_timeout),
                                                 policy_->placement().device);
  const std::string what = "the comparison of the ranks' settings";
  const std::string mine = run_identity(config_, *data_.train, *data_.eval);
  std::string rank0 = mine;
  communicator_->broadcast_bytes(rank0, 0, what);
  const std::string problem = dist_.rank == 0 ? "" : differences_from_rank0(rank0, mine, dist_.rank);
  if (auto report = communicator_->agree(problem, what)) throw DistributedError(report->text);
}

void Trainer::set_up_output() {
  if (!communicator_) return open_output();
  // rank 0 alone opens --out; an error there (or anywhere) stops every rank with its line
  auto agreed = [&](const std::function<void()>& step, const std::string& what) {
    std::string problem;
    std::exception_ptr own;
    try {
      step();
    } catch (const std::exception& e) {
      problem = dist_.describe() + ": " + first_line(e.what());
      own = std::current_exception();
    }
    if (auto report = communicator_->agree(problem, what)) {
      if (own) std::rethrow_exception(own);
      throw DistributedError(report->text);
    }
  };
  agreed([&] { open_output(); }, "the set-up of the run directory");
  agreed([&] { resume_on_other_ranks(); }, "the resume from rank 0's checkpoint");
}

void Trainer::resume_on_other_ranks() {
  std::string bytes = std::move(resumed_bytes_);  // rank 0: the checkpoint it resumed from (empty: a new run)
  resumed_bytes_.clear();
  communicator_->broadcast_bytes(bytes, 0, "the broadcast of rank 0's checkpoint");
  if (dist_.rank == 0 || bytes.empty()) return;
  const auto info = load_checkpoint_bytes(bytes, "rank 0's checkpoint", *model_, optimizer_.get(), config_.model,
                                          policy_->placement().device, policy_.get());
  start_epoch_ = static_cast<int>(info.epoch);
  keep_chosen_eps(info.config_json);
}

void Trainer::keep_chosen_eps(const std::string& stored_config_json) {
  if (!config_.decay.mineps_auto) return;
  const auto stored = nlohmann::json::parse(stored_config_json, nullptr, false);
  if (!stored.is_object() || !stored.value("mineps_auto", false)) return;  // the resume comparison refuses it
  config_.decay.mineps = stored.value("mineps", 0.0);
  config_.mineps_layers.clear();
  if (stored.contains("mineps_layers") && stored["mineps_layers"].is_object())
    for (const auto& [layer, eps] : stored["mineps_layers"].items()) config_.mineps_layers[layer] = eps.get<double>();
  // LibTorch's Optimizer::load restores the state but not the groups' options: ε is set here
  apply_layer_eps();
}

void Trainer::apply_layer_eps() {
  set_eps_shift(*optimizer_, [&](const torch::Tensor& t) {
    for (const auto& p : params_)
      if (p.tensor.is_same(t)) {
        const auto found = config_.mineps_layers.find(p.name);
        return found == config_.mineps_layers.end() ? -1.0 : found->second;
      }
    return -1.0;
  });
}

void Trainer::set_up_data_parallel() {
  if (!dist_.distributed()) return;
  auto communicator = communicator_;
  DataParallelOptions options;
  options.bucket_bytes = static_cast<int64_t>(config_.bucket_mb * (1 << 20));
  options.overlap = config_.dist_overlap;
  options.sync_bn = config_.sync_bn;
  options.check_every = config_.dist_check_every;
  data_parallel_ = std::make_unique<DataParallel>(communicator, *model_, options);
  std::ostringstream line;
  line << "data parallel: " << dist_.world_size << " processes (" << communicator->backend() << ", rendezvous "
       << dist_.master_addr << ":" << dist_.master_port << "), batch " << config_.batch_size / dist_.world_size
       << " per process, BatchNorm statistics " << (config_.sync_bn ? "synchronized" : "per process")
       << (config_.dist_check_every > 0 ? ", parameters compared every " + std::to_string(config_.dist_check_every) + " steps" : "");
  observer_->message(line.str());
}

void Trainer::set_up_data() {
  if (!data_.train) {  // not handed over: the task opens --data
    DataRequest request;
    request.name = config_.data;
    request.dir = config_.resolved_data_dir();
    request.options = config_.data_options;
    request.augment = {config_.crop_padding, config_.hflip};
    request.train_subset = config_.train_subset;
    request.test_subset = config_.test_subset;
    data_ = task_->open_data(request);
  }
  if (data_.train->size() < config_.batch_size) {  // handed or opened: one batch at least
    throw std::invalid_argument("the training set (" + std::to_string(data_.train->size()) +
                                " examples) is smaller than --batch-size " + std::to_string(config_.batch_size));
  }
  config_.model.in_channels = data_.in_channels;
  config_.model.num_classes = data_.num_classes;
  steps_per_epoch_ = batches_per_epoch(data_.train->size(), train_loader_options());
  if (config_.schedule.iterations > 0) {  // the epochs the steps start (config.json records them)
    config_.epochs = static_cast<int>((config_.schedule.iterations + steps_per_epoch_ - 1) / steps_per_epoch_);
    config_.schedule.epochs = config_.epochs;
  }
}

LoaderOptions Trainer::train_loader_options() const {
  LoaderOptions options;
  options.batch_size = config_.batch_size / dist_.world_size;  // this process's part of the global batch
  options.drop_last = true;  // as the reference: a partial last batch is skipped
  options.seed = config_.seed;
  options.rank = dist_.rank;
  options.world_size = dist_.world_size;
  options.workers = config_.workers;
  options.pin_memory = policy_->placement().device.is_cuda();
  return options;
}

void Trainer::set_up_model() {
  torch::manual_seed(config_.seed);
  if (!model_) model_ = build_model(config_.model);
  task_->check(*model_);
  policy_->placement().place(*model_);
  if (!config_.init_from.empty() && !config_.resume && config_.resume_from.empty()) {  // a resume takes its checkpoint's
    import_torch_file(*model_, config_.init_from);
    observer_->message("initial weights from " + config_.init_from);
  }
  if (!config_.init_backbone.empty() && !config_.resume && config_.resume_from.empty()) {
    auto* detector = dynamic_cast<MaskRcnnImpl*>(model_.get());
    if (!detector)
      throw std::invalid_argument("--init-backbone initializes a detector's backbone, and --model " +
                                  config_.model.name + " is not a detector");
    load_backbone_weights(detector->backbone(), config_.init_backbone);
    observer_->message("backbone weights from " + config_.init_backbone);
  }
  params_ = describe_parameters(*model_);
  optimizer_ = make_optimizer(config_.optimizer, config_.schedule.base_lr, params_, config_.decay, known_invariance());
}

std::vector<bool> Trainer::known_invariance() const {
  std::vector<bool> out;
  if (config_.optimizer.invariance == "roles") {
    for (const auto& p : params_) out.push_back(role_is_scale_invariant(p.role));
  } else if (config_.optimizer.invariance == "audit") {
    AuditOptions options;  // measured on a model of the same spec, at the data's image size (at most 64)
    const auto shape = data_.audit_shape;
    options.height = std::min<int64_t>(shape.height, 64);
    options.width = std::min<int64_t>(shape.width, 64);
    std::map<std::string, bool> measured;
    for (const auto& row : audit_scale_invariance(config_.model, options)) measured[row.name] = row.measured_invariant;
    for (const auto& p : params_) out.push_back(measured.count(p.name) && measured.at(p.name));
  }
  return out;
}

void Trainer::print_header() const {
  int64_t numel = 0;
  for (const auto& p : params_) numel += p.tensor.numel();
  const auto& m = config_.model;
  std::ostringstream header;
  header << "model " << m.name << " (wnorm " << family_name(m.wnorm) << ", norm " << m.norm << ") " << numel
         << " parameters on " << policy_->placement().device << ", " << torch::get_num_threads() << " threads"
         << (config_.amp == "off" ? "" : ", " + policy_->describe()) << "\n"
         << "data " << config_.resolved_data_dir() << ": " << data_.train->size() << " train / "
         << data_.eval->size() << " test images " << data_.train->describe() << "\n"
         << "schedule " << config_.schedule.describe() << ", optimizer " << config_.optimizer.describe()
         << ", batch " << config_.batch_size << "\n"
         << "decay policy:\n"
         << DecayPolicy(config_.optimizer.applied(config_.decay)).table(params_);
  std::string text = header.str();
  while (!text.empty() && text.back() == '\n') text.pop_back();
  observer_->message(text);
  for (const auto& w : config_.decay.warnings()) observer_->warning(w);
}

void Trainer::open_output() {
  if (!writes_files()) return;  // rank 0 alone opens the run directory (the others get its checkpoint)
  const bool resuming = config_.resume || !config_.resume_from.empty();
  // one run per directory, for the run's whole life (a resume of a directory that does not exist
  // fails below, without creating it)
  if (!resuming || std::filesystem::exists(config_.out_dir)) lock_ = std::make_unique<RunLock>(config_.out_dir);
  checkpoints_ = std::make_unique<RunCheckpoints>(config_.out_dir, config_.keep_checkpoints);
  const bool holds_run = std::filesystem::exists(checkpoints_->latest()) || !checkpoints_->epochs().empty();
  if (!resuming && holds_run && dist_.restart_count > 0) {
    // torchrun restarted the processes with the same command: continue the run
    config_.resume = true;
    observer_->message("torchrun restart " + std::to_string(dist_.restart_count) + ": continuing the run in " +
                       config_.out_dir + " from its checkpoint");
  }
  if (config_.resume || !config_.resume_from.empty()) {
    resume_run();
  } else if (holds_run) {
    throw std::invalid_argument(config_.out_dir + " already holds a run (checkpoint.pt): use --resume to "
                                "continue it or choose another --out");
  }
  std::filesystem::create_directories(config_.out_dir);
  checkpoints_->remove_stale_temporaries();
  if (!resumed_from_.empty()) checkpoints_->restart_from(resumed_from_, start_epoch_);
  log_ = std::make_unique<MetricsLog>(config_.out_dir, start_epoch_ > 0 || config_.resume ? start_epoch_ : -1);
  write_text_atomic(config_.out_dir + "/config.json", config_.to_json() + "\n");
}

void Trainer::resume_run() {
  // checkpoint.pt, or (a crash between an epoch's file and the link) the newest intact epoch file
  std::string path = config_.resume_from;
  if (path.empty()) {
    path = checkpoints_->latest();
    if (!std::filesystem::exists(path) && !checkpoints_->newest_intact("").empty()) path = checkpoints_->newest_intact("");
  }
  std::string bytes;  // the file, read once: its metadata, then (settings checked) the state
  CheckpointInfo info;
  try {
    bytes = read_checkpoint_bytes(path);  // verifies the checksum
    info = read_checkpoint_info_bytes(bytes, path);
  } catch (const CheckpointError& e) {
    const std::string older = checkpoints_->newest_intact(path);
    if (older.empty()) throw;
    throw CheckpointError(first_line(e.what()) + "; " + older + " is intact: continue from it with --resume-from " + older);
  }
  start_epoch_ = static_cast<int>(info.epoch);

  keep_chosen_eps(info.config_json);
  // the settings may change only where the user says so
  const auto names = setting_names(config_.to_json());
  std::vector<std::string> allowed;
  for (auto name : config_.resume_override) {
    if (name.rfind("--", 0) == 0) name = name.substr(2);
    std::replace(name.begin(), name.end(), '-', '_');
    if (std::find(names.begin(), names.end(), name) == names.end())
      throw std::invalid_argument("--resume-override: unknown setting '" + name + "' (config.json's names, e.g. epochs, lr, model.width)");
    allowed.push_back(name);
    if (name == "iterations") allowed.push_back("epochs");  // derived from them
  }
  const auto changes = meaning_changes(info.config_json, config_.to_json());
  std::string refused;
  for (const auto& c : changes)
    if (std::find(allowed.begin(), allowed.end(), c.name) == allowed.end())
      refused += (refused.empty() ? "" : ", ") + c.name + " " + c.before + " → " + c.after;
  if (!refused.empty())
    throw std::invalid_argument("--resume would change the run's settings: " + refused +
                                " (give the run's flags again, or name the settings meant to change in --resume-override)");
  load_checkpoint_bytes(bytes, path, *model_, optimizer_.get(), config_.model, policy_->placement().device, policy_.get());
  if (dist_.distributed()) resumed_bytes_ = std::move(bytes);  // for the other ranks
  resumed_from_ = path;
  config_.history = history_after_resume(info.config_json, start_epoch_, changes);
  std::string line = "resumed from " + path + " after epoch " + std::to_string(start_epoch_);
  for (const auto& c : changes) line += (&c == &changes[0] ? "; changed: " : ", ") + c.name + " " + c.before + " → " + c.after;
  observer_->message(line);
}

// ---------------------------------------------------------------- run
TrainResult Trainer::run() {
  TrainResult result;
  result.test_images = data_.eval->size();
  for (int epoch = start_epoch_; epoch < config_.epochs; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    EpochRecord record;
    record.epoch = epoch + 1;
    if (!train_epoch(epoch, record, result)) break;
    record.test = evaluate();
    std::tie(record.sigma_min, record.sigma_mean) = conv_filter_sigma(params_);
    watch_collapse(record.step, record.epoch, /*at_epoch_end=*/true, &record);
    if (calibration_) choose_eps();  // before the epoch's checkpoint, which then holds ε
    record.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    end_epoch(record, result);
  }
  return result;
}

bool Trainer::train_epoch(int epoch, EpochRecord& record, TrainResult& result) {
  const LrSchedule& schedule = config_.schedule;
  const int64_t first_step = int64_t(epoch) * steps_per_epoch_;  // the steps before this epoch's
  // an epoch of the loader's batches; the last one of a run of --iterations stops at its count
  const int64_t steps = schedule.iterations > 0 ? std::min(steps_per_epoch_, schedule.iterations - first_step)
                                                : steps_per_epoch_;
  double lr = schedule.lr_at_step(first_step, epoch);
  set_learning_rate(*optimizer_, lr);
  model_->train();
  const auto loader = data_.train->loader(train_loader_options(), epoch);
  observer_->epoch_started(config_.label + " " + std::to_string(epoch + 1) + "/" + std::to_string(config_.epochs), steps);
  MetricSums sums(task_->metrics());
  int64_t step = 0, unreadable = 0;
  while (step < steps) {
    auto batch = loader->next();
    if (!batch) break;
    const int64_t global_step = first_step + step + 1;
    if (schedule.per_step() && step > 0) {
      lr = schedule.lr_at_step(global_step - 1, epoch);
      set_learning_rate(*optimizer_, lr);
    }
    const bool probing = config_.probe_every > 0 && global_step % config_.probe_every == 0;
    for (const auto& message : batch->unreadable) observer_->warning("skipped " + message);
    unreadable += static_cast<int64_t>(batch->unreadable.size());
    const auto placed = policy_->place(*batch);
    const auto out = train_step(
        *model_, *task_, *optimizer_, *policy_, placed, [&] { for (auto& hook : gradient_hooks_) hook(); },
        [&] {  // the gradients the step will use
          loss_scale_.step(max_abs_gradient(params_));
          if (calibration_ && step >= loader->num_batches() / 2) calibration_->observe();  // past the start's transient
          if (probing) probe_->before_step();
        },
        [&](torch::Tensor& loss) {  // the mean over the ranks, and whether any rank asked to stop
          if (data_parallel_) stop_agreed_ = data_parallel_->after_backward(loss, g_stop_requested);
        });
    fault_point("step");
    if (data_parallel_) data_parallel_->check_identical(global_step);
    if (!out.nonfinite.empty()) {
      ++nonfinite_in_a_row_;
      const std::string what = out.nonfinite + " is not finite (loss " + std::to_string(out.loss) + ") at epoch " +
                               std::to_string(epoch + 1) + " step " + std::to_string(step + 1);
      // float16 loss scaling: the scaler skipped the step and lowered the scale, as PyTorch's does;
      // only a run of them in a row is divergence
      const bool scaled = policy_->skips_overflowing_steps();
      if (!scaled) loss_scale_.step(INFINITY);  // a non-finite step overflows at any scale (else the scaler's step saw it)
      if ((!scaled && config_.on_nonfinite == "stop") || nonfinite_in_a_row_ >= kMaxNonfiniteInARow) {
        result.diverged = true;
        result.stop_message = "training diverged: " + what +
                              (nonfinite_in_a_row_ > 1 ? " (" + std::to_string(nonfinite_in_a_row_) + " steps in a row)" : "") +
                              "; the last checkpoint holds epoch " + std::to_string(epoch);
        observer_->epoch_ended(config_.label + ": " + result.stop_message);
        return false;
      }
      if (!scaled) {
        ++nonfinite_skipped_;
        observer_->message("skipped: " + what);
      }
      ++step;
      continue;
    }
    nonfinite_in_a_row_ = 0;
    if (auto warning = loss_watch_.add(out.loss)) observer_->warning(*warning);
    task_->measure(out.output, placed, out.loss, sums);
    if (probing) {
      result.probes.push_back(probe_->after_step(global_step, epoch + 1, lr));
      loss_scale_.annotate(result.probes.back());
      if (log_) log_->probe(result.probes.back());
      watch_collapse(global_step, epoch + 1, /*at_epoch_end=*/false, nullptr);
    }
    observer_->step(++step, sums.means(), sums.examples() * dist_.world_size);  // img/s of all ranks
    if (data_parallel_ ? stop_agreed_ : g_stop_requested.load()) {
      result.interrupted = true;
      result.stop_message = "interrupted in epoch " + std::to_string(epoch + 1) +
                            "; the last checkpoint holds epoch " + std::to_string(epoch);
      observer_->epoch_ended(result.stop_message);
      return false;
    }
  }
  record.step = first_step + steps;
  record.lr = lr;  // the epoch's last step's
  if (data_parallel_) sums.set_totals(data_parallel_->sum(sums.totals()));  // over every rank's examples
  record.train = sums.means();
  record.extras = policy_->stats();
  if (data_parallel_) record.extras.emplace_back("allreduce_wait_seconds", data_parallel_->take_wait_seconds());
  if (config_.on_nonfinite == "skip") record.extras.emplace_back("nonfinite_skipped_steps", nonfinite_skipped_);
  if (!data_.train->fatal_unreadable()) {  // this rank's count (a data-parallel run logs rank 0's)
    record.extras.emplace_back("unreadable_images", unreadable);
  }
  nonfinite_skipped_ = 0;  // per epoch: a resumed run logs what an uninterrupted one does
  return true;
}

Metrics Trainer::evaluate() {
  if (data_parallel_) data_parallel_->broadcast_buffers();  // rank 0's BatchNorm statistics, as the checkpoint holds them
  const int64_t batch = config_.eval_batch_size > 0 ? config_.eval_batch_size : task_->eval_batch_size();
  auto mine = evaluate_split(*model_, *task_, *data_.eval, *policy_, batch, dist_.rank,
                             dist_.world_size, config_.workers, observer_.get());
  if (!communicator_) return mine->finalize();
  // every rank's share, merged in rank order on every rank: the whole split's metrics (COCO AP is no sum)
  auto all = task_->evaluator(*data_.eval);
  for (int rank = 0; rank < dist_.world_size; ++rank) {
    std::string bytes = rank == dist_.rank ? mine->to_bytes() : "";
    communicator_->broadcast_bytes(bytes, rank, "the gathering of rank " + std::to_string(rank) + "'s evaluation");
    all->merge(bytes);
  }
  return all->finalize();
}

void Trainer::watch_collapse(int64_t step, int epoch, bool at_epoch_end, EpochRecord* record) {
  const auto census = sigma_census(params_, collapse_watch_->threshold());
  if (record) {
    record->sigma_below_share = census.share();
    record->sigma_threshold = collapse_watch_->threshold();
  }
  if (auto warning = collapse_watch_->check(census, step, epoch, at_epoch_end)) observer_->warning(*warning);
}

void Trainer::choose_eps() {
  const EpsChoice choice = calibration_->choose();
  calibration_.reset();
  config_.mineps_layers.clear();
  for (const auto& l : choice.layers) config_.mineps_layers[l.name] = l.eps;
  config_.decay.mineps = choice.smallest_eps();
  apply_layer_eps();
  probe_->set_eps(config_.collapse_threshold());
  collapse_watch_->set_threshold(config_.collapse_threshold());
  observer_->message(choice.describe());
  if (writes_files()) write_text_atomic(config_.out_dir + "/config.json", config_.to_json() + "\n");
}

void Trainer::end_epoch(EpochRecord& record, TrainResult& result) {
  char summary[512];
  std::snprintf(summary, sizeof summary, "%s epoch %d/%d: lr %.4g train %s | test %s | σ min %.3g mean %.3g | %.1fs",
                config_.label.c_str(), record.epoch, config_.epochs, record.lr, record.train.format().c_str(),
                record.test.format().c_str(), record.sigma_min, record.sigma_mean, record.seconds);
  observer_->epoch_ended(summary);  // the epoch's progress line ends with its summary
  result.history.push_back(record);
  if (log_) {
    // the metrics line first, then the checkpoint: a crash between the two leaves metrics.jsonl one
    // epoch ahead, and the resume (which keeps only the lines up to the checkpoint's epoch) computes
    // that epoch again, bit-identically. The other order would lose the epoch's line for good.
    log_->epoch(record);
    fault_point("before-checkpoint");
    checkpoints_->save(record.epoch, [&](const std::string& path) {
      save_checkpoint(path, *model_, optimizer_.get(),
                      {config_.model, record.epoch, config_.to_json(), data_.normalization.mean, data_.normalization.std},
                      policy_.get());
    });
  }
}

TrainResult train(const TrainConfig& config, std::shared_ptr<const Task> task) {
  return Trainer(config, std::move(task)).run();
}

}  // namespace eshift
