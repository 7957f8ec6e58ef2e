// eshift make-coco-shapes --out DIR [--train N] [--val N] [--categories K] [--min-side S] [--max-side S]
// [--seed S] [--jpeg-quality Q]: writes a generated COCO folder of coloured shapes on textured noise
// (data/synthetic_coco.h), read by `--data coco --data-dir DIR`: small enough for a small
// Mask R-CNN to learn on a CPU in minutes. An --out that exists must be empty, or hold this
// command's output for the same arguments (its generator.json), which is then reused as it is.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "command.h"
#include "eshift/data/synthetic_coco.h"
#include "flags.h"

namespace eshift::cli {

namespace {
class MakeCocoShapesCommand : public Command {
 public:
  void add_flags(CLI::App& app) override {
    app.add_option("--out", out_, "the COCO folder to write (new or empty; or this command's own output, reused)")
        ->required();
    app.add_option("--train", options_.train_images, "training images (train2017)")->capture_default_str();
    app.add_option("--val", options_.val_images, "validation images (val2017)")->capture_default_str();
    app.add_option("--categories", options_.categories,
                   "how many shapes, in order: rectangle, ellipse, triangle, diamond, star (1.." +
                       std::to_string(kShapesCocoKinds) + ")")
        ->capture_default_str();
    app.add_option("--min-side", options_.min_side, "smallest image side, pixels")->capture_default_str();
    app.add_option("--max-side", options_.max_side, "largest image side, pixels")->capture_default_str();
    app.add_option("--seed", options_.seed, "the same seed and arguments give byte-identical files")
        ->check([](const std::string& v) {
          return v.rfind('-', 0) == 0 ? v + " is negative: a seed is 0 or more" : "";
        })
        ->capture_default_str();
    app.add_option("--jpeg-quality", options_.jpeg_quality, "JPEG quality, 1..100")->capture_default_str();
    threads_.add(app);
  }

  int run() override {
    namespace fs = std::filesystem;
    const auto start = std::chrono::steady_clock::now();
    options_.threads = threads_.threads;
    check_shapes_coco_options(options_);
    threads_.apply();
    if (fs::exists(out_)) {
      if (!fs::is_directory(out_)) throw std::invalid_argument("--out " + out_ + " exists and is not a directory");
      if (!fs::is_empty(out_)) {
        report(reused_summary(), true, start);
        return 0;
      }
    }
    report(write_shapes_coco(out_, options_), false, start);
    return 0;
  }

 private:
  // The counts of the non-empty --out's earlier output for the same arguments; else throws, naming
  // what differs.
  ShapesCocoSummary reused_summary() const {
    const std::string manifest = out_ + "/generator.json";
    const std::string remedy = ": choose a new or empty directory, or remove it";
    std::ifstream in(manifest);
    if (!in)
      throw std::invalid_argument("--out " + out_ + " exists, is not empty and holds no make-coco-shapes output (no " +
                                  "generator.json)" + remedy);
    std::stringstream text;
    text << in.rdbuf();
    const nlohmann::json there = nlohmann::json::parse(text.str(), nullptr, false);
    const nlohmann::json here = nlohmann::json::parse(shapes_coco_arguments(options_));
    if (there.is_discarded() || !there.is_object() || !there.contains("arguments") || !there["arguments"].is_object())
      throw std::invalid_argument("--out " + out_ + ": its generator.json is not make-coco-shapes' own" + remedy);
    const nlohmann::json& args = there["arguments"];
    if (args != here) {
      for (const auto& [key, value] : here.items()) {
        const std::string was = args.contains(key) ? args[key].dump() : "nothing";
        if (args.contains(key) && args[key] == value) continue;
        if (key == "version")
          throw std::invalid_argument("--out " + out_ + " holds make-coco-shapes output of another version of the " +
                                      "generator (" + was + ", this one " + value.dump() + ")" + remedy);
        throw std::invalid_argument("--out " + out_ + " holds make-coco-shapes output made with --" + key + " " + was +
                                    ", not " + value.dump() + remedy);
      }
      throw std::invalid_argument("--out " + out_ + " holds make-coco-shapes output of other arguments" + remedy);
    }
    ShapesCocoSummary s;
    s.train_images = there.value("train_images", int64_t(0));
    s.val_images = there.value("val_images", int64_t(0));
    s.objects = there.value("objects", int64_t(0));
    s.crowd_regions = there.value("crowd_regions", int64_t(0));
    return s;
  }

  void report(const ShapesCocoSummary& s, bool reused, std::chrono::steady_clock::time_point start) const {
    char how[64];
    if (reused)
      std::snprintf(how, sizeof how, "reused: made earlier with the same arguments");
    else
      std::snprintf(how, sizeof how, "written in %.1f s",
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    std::printf("make-coco-shapes: %lld images (%lld train, %lld val), %lld objects, %lld crowd regions, "
                "%d categories in %s (%s)\n",
                (long long)(s.train_images + s.val_images), (long long)s.train_images, (long long)s.val_images,
                (long long)s.objects, (long long)s.crowd_regions, options_.categories, out_.c_str(), how);
  }

  std::string out_;
  ShapesCocoOptions options_;
  ThreadFlags threads_;
};
}  // namespace

std::unique_ptr<Command> make_make_coco_shapes_command() { return std::make_unique<MakeCocoShapesCommand>(); }

}  // namespace eshift::cli
