// eshift import: a PyTorch state dict (torchvision's names, or a checkpoint dict with a
// 'state_dict' entry, as the reference trainer writes) into an eshift checkpoint that
// `eshift eval --checkpoint` and `eshift train --init-from`'s model read (interop/import_weights.h).
//   eshift import --from resnet50.pth --model resnet50 --out resnet50.ckpt
// --check-input X.pt --check-output Y.pt (for `make interop`): the imported model's logits for the
// input tensor X (torch.save'd, NCHW float) in eval mode, written as a torch.save'd tensor.
#include <nlohmann/json.hpp>

#include <cstdio>
#include <stdexcept>

#include "command.h"
#include "eshift/interop/import_weights.h"
#include "eshift/models/registry.h"
#include "eshift/train/checkpoint.h"
#include "flags.h"

namespace eshift::cli {

namespace {
class ImportCommand : public Command {
 public:
  void add_flags(CLI::App& app) override {
    app.add_option("--from", from_, "a PyTorch state dict saved by torch.save (zip format), or a checkpoint dict "
                                    "with a 'state_dict' entry")
        ->required();
    model_.wnorm = "none";  // torchvision's convs are plain
    spec_.num_classes = 1000;
    spec_.name.clear();  // no default: --model is required
    model_.add(app, spec_);
    app.get_option("--model")->required();
    app.add_option("--classes", spec_.num_classes, "classes of the classifier")->capture_default_str();
    app.add_option("--in-channels", spec_.in_channels, "input channels")->capture_default_str();
    app.add_option("--input-mean", mean_, "per-channel input mean the weights were trained with (on 0..1 pixels; "
                                          "stored in the checkpoint for eval)")
        ->delimiter(',')
        ->capture_default_str();
    app.add_option("--input-std", std_, "per-channel input standard deviation")->delimiter(',')->capture_default_str();
    app.add_option("--data", data_, "the dataset `eshift eval` evaluates the checkpoint on by default");
    app.add_option("--out", out_, "the eshift checkpoint to write")->required();
    app.add_option("--check-input", check_input_, "a torch.save'd input batch [B,C,H,W]: write the imported model's "
                                                  "logits for it (eval mode) to --check-output");
    app.add_option("--check-output", check_output_, "where --check-input's logits go (a torch.save'd tensor)");
    threads_.add(app);
  }

  int run() override {
    threads_.apply();
    model_.apply(spec_);
    if (mean_.size() != static_cast<size_t>(spec_.in_channels) || std_.size() != mean_.size())
      throw std::invalid_argument("--input-mean and --input-std need one value per input channel (" +
                                  std::to_string(spec_.in_channels) + ")");
    if (check_input_.empty() != check_output_.empty())
      throw std::invalid_argument("--check-input and --check-output go together");
    auto model = build_model(spec_);
    import_torch_file(*model, from_);

    nlohmann::json config;
    config["model"] = nlohmann::json::parse(spec_.to_json());
    config["imported_from"] = from_;
    if (!data_.empty()) config["data"] = data_;
    CheckpointInfo info;
    info.spec = spec_;
    info.config_json = config.dump();
    info.input_mean = mean_;
    info.input_std = std_;
    save_checkpoint(out_, *model, nullptr, info);
    std::printf("imported %s into %s (wnorm %s, norm %s, %lld classes): %s\n", from_.c_str(), spec_.name.c_str(),
                family_name(spec_.wnorm).c_str(), spec_.norm.c_str(), (long long)spec_.num_classes, out_.c_str());

    if (!check_input_.empty()) {
      const auto input = read_torch_tensor(check_input_).to(torch::kFloat);
      if (input.dim() != 4 || input.size(1) != spec_.in_channels)
        throw std::invalid_argument("--check-input " + check_input_ + ": not a batch of " +
                                    std::to_string(spec_.in_channels) + "-channel images [B,C,H,W]");
      torch::NoGradGuard no_grad;
      model->eval();
      write_torch_tensor(check_output_, model->forward(input.contiguous()));
      std::printf("logits of %s written to %s\n", check_input_.c_str(), check_output_.c_str());
    }
    return 0;
  }

 private:
  std::string from_, out_, data_, check_input_, check_output_;
  ModelSpec spec_;
  ModelFlags model_;
  ThreadFlags threads_;
  std::vector<double> mean_{0.485, 0.456, 0.406}, std_{0.229, 0.224, 0.225};  // torchvision's ImageNet models
};
}  // namespace

std::unique_ptr<Command> make_import_command() { return std::make_unique<ImportCommand>(); }

}  // namespace eshift::cli
