// The trainer on a detection task: a generated COCO folder through the detection task's splits,
// batches with per-image objects, a detector's named losses in training and its per-image
// detections scored by COCO AP in evaluation; the run handed its model and an observer, which is
// all it reports to. The detector is a test model: its detections are the
// batch's own objects moved by a learned offset, so its AP is known (1 at offset 0, lower when the
// boxes are moved) and its loss (the offset's square) must fall.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "data/coco_files.h"
#include "data/image_files.h"
#include "eshift/data/jpeg.h"
#include "eshift/nn/param_roles.h"
#include "eshift/tasks/detection.h"
#include "eshift/tasks/registry.h"
#include "eshift/train/trainer.h"
#include "test_util.h"

using namespace eshift;
using namespace eshift::test;
using nlohmann::json;

namespace {
// Every image 60 pixels high (with --min-size 60 the transform keeps its size, so the objects'
// masks are the ground truth's at the original size); boxes inside the images, one rectangle
// polygon each; categories 5 and 9. Train: images 1-4, val: images 5-6.
void write_coco(const std::string& dir) {
  std::vector<CocoTestImage> images;
  for (int id = 1; id <= 6; ++id) {
    CocoTestImage im{id, /*val=*/id > 4, 60 + 10 * id, 60, {}};
    for (int k = 0; k < 1 + id % 2; ++k) im.objects.push_back({4.0 + 25 * k, 6.0 + 3 * id, 20, 14.0 + 2 * k, k == 0 ? 5 : 9});
    images.push_back(im);
  }
  write_coco_folder(dir, images, {{{"id", 5}, {"name", "cat"}}, {{"id", 9}, {"name", "dog"}}});
}

// Training: loss_box_reg, the mean squared move of the boxes' coordinates by `offset` (through
// the batch's objects), and loss_objectness, a small term through the pixels. Evaluation: each
// image's objects, boxes moved by `offset`, score 1, masks as given.
class OffsetDetector : public Model, public RoledModule {
 public:
  OffsetDetector() : Model(spec()) { offset = register_parameter("offset", torch::full({1}, 2.0)); }
  static ModelSpec spec() {
    ModelSpec s;
    s.name = "offset_detector";
    return s;
  }
  bool is_detector() const override { return true; }
  std::vector<ParamInfo> parameter_roles() const override { return {{"offset", offset, ParamRole::Bias}}; }
  torch::Tensor forward(torch::Tensor) override { TORCH_CHECK(false, "a detector reads batches"); }
  ModelOutput forward_batch(const Batch& batch) override {
    ModelOutput out;
    if (is_training()) {
      torch::Tensor moved = torch::zeros({});
      for (const auto& o : batch.objects) moved = moved + ((o.boxes + offset) - o.boxes).pow(2).mean();
      out.losses = {{"loss_box_reg", moved / double(batch.size())},
                    {"loss_objectness", 1e-3 * (batch.inputs.mean() * offset).pow(2).sum()}};
      return out;
    }
    for (const auto& o : batch.objects) {
      ImageDetections d;
      d.image_id = o.image_id;
      d.original_size = o.original_size;
      d.size = o.size;
      d.boxes = o.boxes + offset.detach();
      d.labels = o.labels;
      d.scores = torch::ones({o.boxes.size(0)});
      d.masks = o.masks;
      out.detections.push_back(d);
    }
    return out;
  }
  torch::Tensor offset;
};

// Keeps what a run reports.
struct Recorder : RunObserver {
  std::vector<std::string> messages, warnings, epochs;
  int64_t steps = 0;
  void message(const std::string& text) override { messages.push_back(text); }
  void warning(const std::string& text) override { warnings.push_back(text); }
  void step(int64_t, const Metrics&, int64_t) override { ++steps; }
  void epoch_ended(const std::string& summary) override { epochs.push_back(summary); }
};

TrainConfig detection_run(const TempDir& dir) {
  TrainConfig c;
  c.task = "detect";
  c.data = "coco";
  c.data_dir = dir / "coco";
  c.min_size = 60;
  c.max_size = 1000;
  c.batch_size = 2;
  c.eval_batch_size = 2;
  c.epochs = 2;
  c.schedule.base_lr = 0.2;
  c.optimizer.momentum = 0;
  c.decay.wd = 0;
  c.probe_every = 0;
  c.workers = 1;
  c.label = "test";
  return c;
}
}  // namespace

TEST(DetectionTraining, ADetectorLearnsFromEachImagesObjectsAndIsScoredByCocoAp) {
  TempDir dir;
  write_coco(dir / "coco");
  auto c = detection_run(dir);
  c.out_dir = dir / "run";
  auto model = std::make_shared<OffsetDetector>();
  auto recorder = std::make_shared<Recorder>();
  TrainerParts parts;
  parts.model = model;
  parts.observer = recorder;
  testing::internal::CaptureStdout();
  testing::internal::CaptureStderr();
  Trainer trainer(c, make_task("detect", c.task_options()), std::move(parts));
  const auto result = trainer.run();
  // the run reports only to its observer
  EXPECT_EQ(testing::internal::GetCapturedStdout(), "");
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
  ASSERT_FALSE(recorder->messages.empty());
  EXPECT_EQ(recorder->messages[0].rfind("model offset_detector", 0), 0u) << recorder->messages[0];
  EXPECT_EQ(recorder->steps, 4);
  ASSERT_EQ(recorder->epochs.size(), 2u);
  EXPECT_NE(recorder->epochs[1].find("epoch 2/2"), std::string::npos) << recorder->epochs[1];

  ASSERT_EQ(result.history.size(), 2u);
  EXPECT_EQ(result.test_images, 2);
  for (const auto& epoch : result.history) {
    // the loss is the sum of the named losses, each averaged over the images
    EXPECT_NEAR(epoch.train.at("loss"), epoch.train.at("loss_box_reg") + epoch.train.at("loss_objectness"),
                1e-6 * epoch.train.at("loss"));  // float32 steps, summed in double
    EXPECT_EQ(epoch.train.at("loss_mask"), 0);  // a loss the model does not give
  }
  EXPECT_LT(result.history[1].train.at("loss_box_reg"), 0.5 * result.history[0].train.at("loss_box_reg"));
  EXPECT_LT(model->offset.item<double>(), 1.0);  // 2 steps of SGD an epoch on offset², from 2

  // the oracle at offset 0 is perfect; moved by 2 pixels (IoU 0.63-0.65) its boxes miss the strict thresholds,
  // and its masks (not moved) stay perfect
  torch::NoGradGuard no_grad;
  model->offset.fill_(0);
  const auto perfect = trainer.evaluate();
  for (const char* key : {"bbox_AP", "bbox_AP50", "bbox_AP75", "segm_AP", "segm_AP50"})
    EXPECT_DOUBLE_EQ(perfect.at(key), 1.0) << key;
  EXPECT_DOUBLE_EQ(perfect.at("bbox_APl"), -1.0);  // no large objects: pycocotools' -1
  model->offset.fill_(2);
  const auto moved = trainer.evaluate();
  EXPECT_LT(moved.at("bbox_AP"), 0.5);
  EXPECT_DOUBLE_EQ(moved.at("bbox_AP75"), 0.0);
  EXPECT_DOUBLE_EQ(moved.at("bbox_AP50"), 1.0);
  EXPECT_DOUBLE_EQ(moved.at("segm_AP"), 1.0);

  // the run's files: the task's settings and both metric sets
  const auto config = json::parse(std::ifstream(dir / "run/config.json"));
  EXPECT_EQ(config.at("task"), "detect");
  EXPECT_EQ(config.at("min_size"), 60);
  EXPECT_EQ(config.at("model").at("name"), "offset_detector");
  std::ifstream log(dir / "run/metrics.jsonl");
  std::string line, last;
  while (std::getline(log, line)) last = line;
  const auto epoch = json::parse(last);
  EXPECT_TRUE(epoch.contains("train_loss_box_reg")) << last;
  EXPECT_TRUE(epoch.contains("test_segm_AP")) << last;
}

TEST(DetectionTraining, TaskDataAndModelMustAgreeAndSayWhichFlag) {
  TempDir dir;
  write_coco(dir / "coco");
  auto refused = [](const std::function<void()>& run) {
    try {
      run();
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  auto c = detection_run(dir);
  c.model.name = "resnet20";
  EXPECT_EQ(refused([&] { Trainer(c, make_task("detect", c.task_options())); }),
            "--task detect trains a detector, and --model resnet20 is a classifier");
  auto classify = detection_run(dir);
  classify.task = "classify";
  EXPECT_EQ(refused([&] { Trainer(classify, make_task("classify", classify.task_options())); }),
            "--data coco holds detection data (images with their objects): train it with --task detect");
  auto mnist = detection_run(dir);
  mnist.data = "fashion-mnist";
  EXPECT_EQ(refused([&] { Trainer(mnist, make_task("detect", mnist.task_options())); }),
            "--task detect reads detection data (--data coco), not --data fashion-mnist");
  auto big = detection_run(dir);
  big.train_subset = 5;
  EXPECT_NE(refused([&] { Trainer(big, make_task("detect", big.task_options())); }).find("--train-subset 5 is more than the 4 images"),
            std::string::npos);
}

// Training flips at random (torchvision's reference) unless --no-flip; evaluation never does.
TEST(DetectionTraining, TrainingFlipsUnlessNoFlipIsGiven) {
  TempDir dir;
  write_coco(dir / "coco");
  const auto task = make_task("detect", detection_run(dir).task_options());
  for (const bool flip : {true, false}) {
    DataRequest request;
    request.name = "coco";
    request.dir = dir / "coco";
    request.augment.hflip = flip;
    const auto data = task->open_data(request);
    EXPECT_EQ(dynamic_cast<const CocoSplit&>(*data.train).transform().options().hflip, flip);
    EXPECT_FALSE(dynamic_cast<const CocoSplit&>(*data.eval).transform().options().hflip);
  }
}
