#pragma once
// The trainer: a run of epochs of any dataset, model and task.
//   set up       data (the task's splits: Task::open_data), model, decay policy, optimizer, output
//                directory or resume from its checkpoint; reports the run's header
//   run          the remaining epochs, each: train_epoch → evaluate → end_epoch (a run of
//                --iterations N is the epochs its N steps start, the last one cut short)
//   train_epoch  the loader's batches through train_step, the learning rate of each step (per
//                epoch, or per step: --iterations, --warmup-iters), probes every k steps, progress
//   evaluate     the task's evaluator over the evaluation split (data parallel: ranks merged)
//   end_epoch    summary line, metrics.jsonl + TensorBoard, then the checkpoint
// Everything it reports goes to its RunObserver (observe/run_observer.h; the console by default).
// A run stops early, after the current step, on SIGINT/SIGTERM (g_stop_requested; the checkpoint
// stays at the last completed epoch) or on a non-finite loss or gradient (--on-nonfinite stop; with
// skip the step is skipped and counted, and the run stops only after 20 in a row). Resuming continues
// a run exactly: a resumed run ends with the weights of an uninterrupted one. A resume refuses
// settings that change the run's meaning unless --resume-override names them; the changes are
// recorded in config.json's "history".
//
// The σ-collapse watch (observe/collapse_watch.h) checks the filters' σ at every probe and epoch end
// and warns once collapse shows; --mineps auto trains the first epoch with ε = 0 and then chooses ε
// from its gradients (observe/eps_calibration.h).
//
// One run per directory: the process that writes --out holds its lock (core/run_lock.h) from set-up
// to the end; a second run on it is refused naming the holder. Under torchrun's restarts
// (TORCHELASTIC_RESTART_COUNT > 0) a run whose directory holds a checkpoint resumes it by itself.
//
// Data parallelism (distributed/data_parallel.h): given a DistEnvironment with WORLD_SIZE > 1, the
// trainer connects to the other processes after checking its data, and the ranks agree before
// anything is written: every rank's settings (those a resume compares) and data fingerprints must
// equal rank 0's, and an error in any rank's set-up stops all of them with its line. Rank 0 alone
// opens --out (lock, resume: it reads the checkpoint and sends its bytes to the others, so only rank
// 0 needs the directory); every rank then takes rank 0's initial (or resumed) state, trains on its
// shard of every epoch (batch_size / W per process), averages the gradients and the loss after
// backward, and adds up the metric sums; only rank 0 writes the run's files. All ranks agree on
// stopping (a signal, divergence), so none waits for a step the others do not take.
#include <torch/torch.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "eshift/core/metrics.h"
#include "eshift/core/run_lock.h"
#include "eshift/data/data_split.h"
#include "eshift/distributed/data_parallel.h"
#include "eshift/distributed/environment.h"
#include "eshift/models/model.h"
#include "eshift/nn/param_roles.h"
#include "eshift/observe/collapse_watch.h"
#include "eshift/observe/eps_calibration.h"
#include "eshift/observe/metrics_log.h"
#include "eshift/observe/probes.h"
#include "eshift/observe/run_observer.h"
#include "eshift/observe/simulated_loss_scale.h"
#include "eshift/optim/make_optimizer.h"
#include "eshift/tasks/task.h"
#include "eshift/train/config.h"
#include "eshift/train/execution_policy.h"
#include "eshift/train/loss_watch.h"
#include "eshift/train/run_checkpoints.h"
#include "eshift/train/step.h"

namespace eshift {

struct TrainResult {
  std::vector<EpochRecord> history;  // epochs run by this call (after a resume: the rest)
  std::vector<ProbeRecord> probes;   // probes taken by this call
  bool interrupted = false;          // stopped by SIGINT/SIGTERM
  bool diverged = false;             // stopped by a non-finite loss
  int64_t test_images = 0;           // the size of the evaluation split each epoch was tested on
  std::string stop_message;          // why it stopped early
};

// Set by SIGINT/SIGTERM handlers: the loop stops after the current step. g_stop_signal: which
// signal asked (the command exits with 128 + it, as shells expect).
extern std::atomic<bool> g_stop_requested;
extern std::atomic<int> g_stop_signal;

// A run stopped by SIGINT/SIGTERM, raised where a caller cannot return the trainer's result (the
// experiments); the CLI exits with 128 + g_stop_signal for it, and 1 for every other error.
class Interrupted : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Non-finite steps in a row after which --on-nonfinite skip gives up (the run has diverged).
constexpr int kMaxNonfiniteInARow = 20;

// What a trainer is given rather than makes from its configuration; each may be left empty.
struct TrainerParts {
  // Where and in which precision steps run; empty: full precision (or --amp) on config.device,
  // channels-last as config.channels_last says.
  std::unique_ptr<ExecutionPolicy> policy;
  DistEnvironment dist;  // this process's place in a data-parallel run; empty: a single process
  // The run's data (splits made by the caller, used as they are; config.data and data_dir only
  // name it in config.json); empty: the task opens config.data (Task::open_data).
  TaskData data;
  // The model (on the CPU, not yet placed; its spec is recorded as the run's); empty: the
  // registry's config.model.
  std::shared_ptr<Model> model;
  // Where the run reports (observe/run_observer.h); empty: the console (ConsoleObserver).
  std::shared_ptr<RunObserver> observer;
};

class Trainer {
 public:
  // Sets the run up (throws std::invalid_argument, DataError or CheckpointError before anything is
  // written when the flags, the data or the checkpoint are wrong); the parts not given are made
  // from the configuration (TrainerParts).
  Trainer(TrainConfig config, std::shared_ptr<const Task> task, TrainerParts parts = {});
  // Runs the remaining epochs.
  TrainResult run();

  // Runs after backward and before every optimizer step, after the hooks added before it (the
  // probes read the gradients after all hooks).
  void add_gradient_hook(GradientHook hook) { gradient_hooks_.push_back(std::move(hook)); }
  // The task's metrics on the evaluation split (a data-parallel run: every rank's share, gathered).
  Metrics evaluate();

  Model& model() { return *model_; }
  const TrainConfig& config() const { return config_; }

 private:
  void set_up_data();
  void set_up_model();
  // Per parameter, whether sgdp/adamp treat it as scale-invariant (--invariance roles|audit); empty
  // for clovaai's cosine test.
  std::vector<bool> known_invariance() const;
  void connect();               // data parallel: the other ranks, and their agreement on the run
  void set_up_output();         // open_output, on every rank when data parallel: errors reach all
  void open_output();           // the lock, a resume or a check that --out holds no run, config.json
  void resume_on_other_ranks();  // data parallel: rank 0's checkpoint (when it resumed) on every rank
  void set_up_data_parallel();  // takes rank 0's state, hooks the gradients
  bool writes_files() const { return dist_.rank == 0 && !config_.out_dir.empty(); }
  void resume_run();  // loads the checkpoint, checks and records the changed settings
  // --mineps auto, resumed: the ε the run chose (stored in its configuration), in config_ and the optimizer
  void keep_chosen_eps(const std::string& stored_config_json);
  void apply_layer_eps();  // config_.mineps_layers into the optimizer's ε-shifted groups
  void print_header() const;
  // Trains one epoch; false when it stopped early (result says why).
  bool train_epoch(int epoch, EpochRecord& record, TrainResult& result);
  // The training loader's options: this process's part of the global batch and shard.
  LoaderOptions train_loader_options() const;
  void end_epoch(EpochRecord& record, TrainResult& result);
  // The σ census against the collapse threshold, and the warning when one is due.
  void watch_collapse(int64_t step, int epoch, bool at_epoch_end, EpochRecord* record);
  // --mineps auto: ε from the first epoch's gradients, into the optimizer, config and probes.
  void choose_eps();

  TrainConfig config_;
  DistEnvironment dist_;
  std::shared_ptr<const Task> task_;
  std::unique_ptr<ExecutionPolicy> policy_;
  TaskData data_;  // the task's splits, normalization and what the model is built for
  std::shared_ptr<Model> model_;
  std::vector<ParamInfo> params_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;  // optim/make_optimizer.h
  std::vector<GradientHook> gradient_hooks_;
  std::unique_ptr<Probe> probe_;
  std::unique_ptr<CollapseWatch> collapse_watch_;  // the σ-collapse warning (observe/collapse_watch.h)
  std::unique_ptr<EpsCalibration> calibration_;    // --mineps auto, during the first epoch
  SimulatedLossScale loss_scale_;  // every step: would a float16 run overflow (restarts at 2^16 on a resume)
  std::unique_ptr<MetricsLog> log_;
  std::shared_ptr<RunObserver> observer_;
  std::unique_ptr<RunLock> lock_;                // held on --out for the run's life (rank 0)
  std::unique_ptr<RunCheckpoints> checkpoints_;
  std::shared_ptr<Communicator> communicator_;   // WORLD_SIZE > 1
  std::unique_ptr<DataParallel> data_parallel_;  // WORLD_SIZE > 1
  std::string resumed_bytes_;  // the checkpoint rank 0 resumed from, until the other ranks have it
  bool stop_agreed_ = false;                     // every rank stops after this step
  std::string resumed_from_;  // the checkpoint this run continues (made the latest before training)
  int start_epoch_ = 0;
  int64_t steps_per_epoch_ = 0;  // the training loader's batches in an epoch (every rank the same)
  LossWatch loss_watch_;
  int64_t nonfinite_skipped_ = 0;  // steps skipped by --on-nonfinite skip in this epoch
  int nonfinite_in_a_row_ = 0;
};

// Trainer(config, task).run().
TrainResult train(const TrainConfig& config, std::shared_ptr<const Task> task);

}  // namespace eshift
