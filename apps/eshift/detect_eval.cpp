// eshift detect-eval --annotations A.json --results R.json [--iou-type bbox|segm] [--out F.json]:
// scores any detector's COCO results file against a COCO annotation file with COCO's protocol
// (tasks/coco_eval.h), printing the 12 numbers as pycocotools' summarize() does; --out writes them
// at full precision as {"bbox": [12 numbers]} in pycocotools' `stats` order.
#include <chrono>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "command.h"
#include "eshift/core/atomic_file.h"
#include "eshift/tasks/coco_eval.h"

namespace eshift::cli {

namespace {
class DetectEvalCommand : public Command {
 public:
  void add_flags(CLI::App& app) override {
    app.add_option("--annotations", annotations_, "the ground truth: a COCO annotation file (instances_val2017.json)")
        ->required();
    app.add_option("--results", results_,
                   "the detections: a COCO results file, a list of {image_id, category_id, score, bbox and/or "
                   "segmentation}")
        ->required();
    app.add_option("--iou-type", iou_type_, "bbox (boxes) or segm (masks)")
        ->check(CLI::IsMember({"bbox", "segm"}))
        ->capture_default_str();
    app.add_option("--out", out_, "also write the 12 numbers, full precision, as JSON {\"<iou-type>\": [...]}");
  }

  int run() override {
    const auto start = std::chrono::steady_clock::now();
    const CocoIouType type = parse_coco_iou_type(iou_type_);
    const CocoAnnotationFile truth = read_coco_annotations(annotations_);
    const std::vector<CocoAnnotation> detections = read_coco_results(results_, truth);
    const auto read = std::chrono::steady_clock::now();
    const CocoStats stats = evaluate_coco(truth, detections, type);
    const auto done = std::chrono::steady_clock::now();
    std::printf("%s: %zu images, %zu categories, %zu annotations, %zu detections (read %.2f s, evaluated %.2f s)\n",
                iou_type_.c_str(), truth.images.size(), truth.categories.size(), truth.annotations.size(),
                detections.size(), std::chrono::duration<double>(read - start).count(),
                std::chrono::duration<double>(done - read).count());
    std::fputs(format_coco_stats(stats).c_str(), stdout);
    if (!out_.empty()) {
      nlohmann::json numbers = nlohmann::json::array();
      for (double v : stats) numbers.push_back(v);
      write_text_atomic(out_, nlohmann::json{{iou_type_, numbers}}.dump() + "\n");
    }
    return 0;
  }

 private:
  std::string annotations_, results_, iou_type_ = "bbox", out_;
};
}  // namespace

std::unique_ptr<Command> make_detect_eval_command() { return std::make_unique<DetectEvalCommand>(); }

}  // namespace eshift::cli
