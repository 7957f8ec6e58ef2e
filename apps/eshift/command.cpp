// The command registry: every command of the CLI, in the order of `eshift --help`.
#include "command.h"

namespace eshift::cli {

const std::vector<CommandEntry>& command_registry() {
  static const std::vector<CommandEntry> entries = {
      {"train", "train a model on a dataset (default: WS-ResNet-20 on Fashion-MNIST)", make_train_command},
      {"eval", "evaluate a checkpoint on the test split", make_eval_command},
      {"import", "a PyTorch state dict (torchvision's names) into an eshift checkpoint", make_import_command},
      {"detect-eval", "score a COCO results file (boxes or masks) as pycocotools does: the 12 AP/AR numbers",
       make_detect_eval_command},
      {"make-coco-shapes", "write a generated COCO folder (coloured shapes on noise, masks, crowd regions) to train on",
       make_make_coco_shapes_command},
      {"bench", "time training steps on random data", make_bench_command},
      {"audit", "measure which parameters of a model are scale-invariant", make_audit_command},
      {"models", "the model zoo: parameters and conv GFLOPs of each model", make_models_command},
      {"experiment", "run one of the paper-claim experiments", make_experiment_command},
      {"report", "figures (PNG) and report.md from run and experiment directories", make_report_command},
      {"launch", "start the processes of a data-parallel run on this machine (as torchrun): launch --nproc N -- train …",
       make_launch_command},
      {"demo", "plain L2 vs ε-shifted L2 on Fashion-MNIST, same seed, side by side", make_demo_command},
  };
  return entries;
}

}  // namespace eshift::cli
