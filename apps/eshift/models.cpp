// eshift models [NAME...]: the model zoo as a table: parameters and the forward pass's conv GFLOPs
// of each model, both counted from the built model (models/flops.h counts every aten::convolution:
// 2 · output elements · C_in/groups · k_h · k_w; linear layers are not counted).
// Each row is at its model's own input: the ImageNet models at --image (3x224x224) with --classes
// (1000), the CIFAR ResNets at 3x32x32 with 10 classes (ModelSpec's default) unless --image or
// --classes is given, which then applies to every row. A detector (maskrcnn_*) gets its parameters
// only, with 91 classes unless --classes is given: its convs' work depends on the image size and
// the proposals (eshift bench times it).
#include <cstdio>
#include <string>
#include <tuple>
#include <vector>

#include "command.h"
#include "eshift/models/flops.h"
#include "eshift/models/model.h"
#include "eshift/models/registry.h"
#include "flags.h"

namespace eshift::cli {

namespace {
// What `eshift models` lists without names: the ImageNet zoo, then three CIFAR ResNets.
const std::vector<std::string> kZoo = {"resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
                                       "resnext50_32x4d", "resnext101_32x8d", "densenet201", "mobilenet_v1",
                                       "shufflenet_v1_g3", "shufflenet_v2_x1_0", "resnet20", "resnet56", "resnet110"};

// 25557032 → "25,557,032"
std::string with_commas(int64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

class ModelsCommand : public Command {
 public:
  void add_flags(CLI::App& app) override {
    app_ = &app;
    app.add_option("names", names_, "models to list (default: the ImageNet zoo and resnet20/56/110)");
    app.add_option("--image", image_, "input size CxHxW (default: 3x224x224; CIFAR ResNets 3x32x32)");
    app.add_option("--classes", classes_, "classes (default: 1000; CIFAR ResNets 10)");
    app.add_option("--wnorm", wnorm_, "weight normalization of every conv: none|ws|wn|cwn")->capture_default_str();
    app.add_option("--norm", norm_, "feature normalization after each conv: bn|gn")->capture_default_str();
    threads_.add(app);
  }

  int run() override {
    threads_.apply();
    const bool image_given = app_->count("--image") > 0, classes_given = app_->count("--classes") > 0;
    const auto& names = names_.empty() ? kZoo : names_;
    ModelSpec spec;
    spec.wnorm = parse_family(wnorm_);
    spec.norm = norm_;
    std::printf("--wnorm %s --norm %s; GFLOPs: 2 x multiply-adds of every conv of one forward pass of one image "
                "(linear layers not counted)\n\n",
                family_name(spec.wnorm).c_str(), spec.norm.c_str());
    std::printf("%-20s %-10s %7s %12s %8s\n", "model", "input", "classes", "parameters", "GFLOPs");
    for (const auto& name : names) {
      const bool cifar = &find_model(name) == &find_model("resnet20");  // the CIFAR ResNets' entry
      const std::string image = image_given ? image_ : cifar ? "3x32x32" : "3x224x224";
      int64_t height = 0, width = 0;
      std::tie(spec.in_channels, height, width) = parse_image(image);
      spec.name = name;
      // a detector's default is torchvision's: COCO's 90 category ids and the background
      spec.num_classes = classes_given ? classes_ : spec.is_detector() ? 91 : cifar ? 10 : 1000;
      auto model = build_model(spec);
      int64_t parameters = 0;
      for (const auto& p : model->parameters()) parameters += p.numel();
      if (model->is_detector()) {  // its convs' work depends on the image size and the proposals
        std::printf("%-20s %-10s %7lld %12s %8s  (a detector: time it with eshift bench --model %s)\n", name.c_str(),
                    "images", (long long)spec.num_classes, with_commas(parameters).c_str(), "-", name.c_str());
        continue;
      }
      const double gflops = conv_forward_flops(*model, height, width) / 1e9;
      std::printf("%-20s %-10s %7lld %12s %8.2f\n", name.c_str(), image.c_str(), (long long)spec.num_classes,
                  with_commas(parameters).c_str(), gflops);
      std::fflush(stdout);
    }
    return 0;
  }

 private:
  CLI::App* app_ = nullptr;
  std::vector<std::string> names_;
  std::string image_ = "3x224x224", wnorm_ = "none", norm_ = "bn";
  int64_t classes_ = 1000;
  ThreadFlags threads_;
};
}  // namespace

std::unique_ptr<Command> make_models_command() { return std::make_unique<ModelsCommand>(); }

}  // namespace eshift::cli
