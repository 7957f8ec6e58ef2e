// The COCO commands end to end: detect-eval on files (numbers, --out, one-line errors) and the
// detection loader on a generated COCO folder with masks (bench --coco).
#include <filesystem>

#include "apps/cli_util.h"
#include "data/coco_files.h"
#include "data/image_files.h"
#include "eshift/data/jpeg.h"

namespace eshift::test {
namespace {

using nlohmann::json;

// Images 1 (40×60) and 2 (30×30), a dog (id 18) in 1, a person (id 1) in 2 and a crowd region in 1.
json truth_file() {
  return {{"images",
           {{{"id", 1}, {"file_name", "1.jpg"}, {"height", 40}, {"width", 60}},
            {{"id", 2}, {"file_name", "2.jpg"}, {"height", 30}, {"width", 30}}}},
          {"categories", {{{"id", 18}, {"name", "dog"}}, {{"id", 1}, {"name", "person"}}}},
          {"annotations",
           {{{"id", 1}, {"image_id", 1}, {"category_id", 18}, {"bbox", {10, 10, 20, 20}}, {"area", 400}, {"iscrowd", 0},
             {"segmentation", {{10, 10, 30, 10, 30, 30, 10, 30}}}},
            {{"id", 2}, {"image_id", 2}, {"category_id", 1}, {"bbox", {2, 2, 10, 10}}, {"area", 100}, {"iscrowd", 0},
             {"segmentation", {{2, 2, 12, 2, 12, 12, 2, 12}}}},
            {{"id", 3}, {"image_id", 1}, {"category_id", 1}, {"bbox", {40, 0, 20, 40}}, {"area", 800}, {"iscrowd", 1},
             {"segmentation", {{"size", {40, 60}}, {"counts", {1600, 800}}}}}}}};
}

TEST(CliCoco, DetectEvalPrintsPycocotoolsLinesAndWritesTheTwelveNumbers) {
  TempDir dir;
  std::ofstream(dir / "truth.json") << truth_file().dump();
  // the dog found exactly, the person missed (a box elsewhere), one detection inside the crowd region
  std::ofstream(dir / "results.json") << json{{{"image_id", 1}, {"category_id", 18}, {"bbox", {10, 10, 20, 20}}, {"score", 0.9}},
                                              {{"image_id", 2}, {"category_id", 1}, {"bbox", {18, 18, 10, 10}}, {"score", 0.8}},
                                              {{"image_id", 1}, {"category_id", 1}, {"bbox", {45, 5, 10, 10}}, {"score", 0.95}}}
                                            .dump();
  const Result r = run("detect-eval --annotations " + (dir / "truth.json") + " --results " + (dir / "results.json") +
                       " --out " + (dir / "stats.json"));
  ASSERT_EQ(r.code, 0) << r.err;
  // dog: AP 1; person: its only detection misses and the one in the crowd region is ignored: AP 0
  EXPECT_NE(r.out.find(" Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.500\n"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find(" Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = -1.000\n"),
            std::string::npos)
      << r.out;
  const json stats = json::parse(slurp(dir / "stats.json"));
  ASSERT_EQ(stats.at("bbox").size(), 12u);
  EXPECT_DOUBLE_EQ(stats.at("bbox")[0].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(stats.at("bbox")[8].get<double>(), 0.5);  // AR@100: the dog found, the person not

  std::ofstream(dir / "bad.json") << json{{{"image_id", 3}, {"category_id", 1}, {"bbox", {0, 0, 1, 1}}, {"score", 1}}}.dump();
  expect_one_line_error(run("detect-eval --annotations " + (dir / "truth.json") + " --results " + (dir / "bad.json")),
                        "bad.json: detection 1: image_id 3 is not among the images of");
  expect_one_line_error(run("detect-eval --annotations " + (dir / "missing.json") + " --results " + (dir / "bad.json")),
                        "missing.json: cannot open it");
  // segm evaluation of boxes-only ground truth
  json no_masks = truth_file();
  for (auto& a : no_masks["annotations"]) a.erase("segmentation");
  std::ofstream(dir / "boxes.json") << no_masks.dump();
  expect_one_line_error(run("detect-eval --iou-type segm --annotations " + (dir / "boxes.json") + " --results " +
                            (dir / "results.json")),
                        "has no segmentation (segm evaluation needs one)");
}

// A COCO folder of 80×80 images with one square object each (a rectangle polygon): train images
// 1-4, val image 5 with a small object (20×20, area 400 < 32²) and val image 6 with a medium one
// (50×50, 32² < 2500 < 96²). An evaluation that counts image 5 has small truths (APs ≥ 0, not −1),
// one that counts image 6 medium ones (APm ≥ 0).
void write_two_sizes_coco(const std::string& dir) {
  std::vector<CocoTestImage> images;
  for (int id = 1; id <= 6; ++id) {
    const double side = id == 5 ? 20 : id == 6 ? 50 : 20 + 8 * id;
    images.push_back({id, /*val=*/id > 4, 80, 80, {{5.0 + id, 8, side, side, 1 + id % 2}}});
  }
  write_coco_folder(dir, images, {{{"id", 1}, {"name", "square"}}, {{"id", 2}, {"name", "block"}}});
}

const std::string kSmallMaskRcnn =
    " --task detect --data coco --model maskrcnn_resnet18_fpn --norm gn --min-size 64 --max-size 96 --batch-size 2 "
    "--eval-batch-size 1 --lr 0.01 --box-batch-size-per-image 32 --fpn-channels 64 --rpn-pre-nms-top-n-train 200 "
    "--rpn-post-nms-top-n-train 200 --epochs 1 --seed 4";

// --amp bf16 with the detector: GroupNorm (in float32: LibTorch 1.13's CPU kernel takes one dtype),
// RoIAlign, NMS and the five losses under bfloat16 autocast; finite losses and the evaluation's
// 12 numbers of each type.
TEST(CliCoco, MaskRcnnTrainsAndEvaluatesUnderBfloat16Autocast) {
  TempDir dir;
  write_two_sizes_coco(dir / "data");
  const auto r = run("train" + kSmallMaskRcnn + " --data-dir " + (dir / "data") + " --amp bf16 --out " + (dir / "run"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("mixed bfloat16"), std::string::npos) << r.out;
  const auto epochs = metrics(dir / "run");
  ASSERT_EQ(epochs.size(), 1u);
  for (const std::string loss : {"loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness", "loss_rpn_box_reg"}) {
    const double v = epochs[0].at("train_" + loss).get<double>();
    EXPECT_TRUE(std::isfinite(v) && v >= 0) << loss << " = " << v;
  }
  // both val images counted: small and medium truths, no large ones
  for (const std::string type : {"bbox", "segm"}) {
    EXPECT_GE(epochs[0].at("test_" + type + "_APs").get<double>(), 0.0) << type;
    EXPECT_GE(epochs[0].at("test_" + type + "_APm").get<double>(), 0.0) << type;
    EXPECT_EQ(epochs[0].at("test_" + type + "_APl").get<double>(), -1.0) << type;
  }
}

// eshift launch with the detector: each process evaluates its shard of the val split (one image
// each here) and rank 0 scores the detections of both: small and medium truths are counted (an image
// left out would make its size's AP −1), and the numbers equal `eshift eval` of the saved checkpoint
// in one process.
TEST(CliCoco, ALaunchedMaskRcnnRunScoresEveryProcesssDetectionsOnRankZero) {
  TempDir dir;
  write_two_sizes_coco(dir / "data");
  const auto r = run("launch --nproc 2 -- train" + kSmallMaskRcnn + " --data-dir " + (dir / "data") + " --out " +
                     (dir / "run"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("data parallel: 2 processes"), std::string::npos) << r.out;
  const auto epochs = metrics(dir / "run");
  ASSERT_EQ(epochs.size(), 1u);
  for (const std::string type : {"bbox", "segm"}) {
    EXPECT_GE(epochs[0].at("test_" + type + "_APs").get<double>(), 0.0) << type;
    EXPECT_GE(epochs[0].at("test_" + type + "_APm").get<double>(), 0.0) << type;
  }
  const auto e = run("eval --checkpoint " + (dir / "run/checkpoint.pt") + " --data-dir " + (dir / "data"));
  ASSERT_EQ(e.code, 0) << e.err;
  for (const std::string type : {"bbox", "segm"})
    for (const std::string n : {"AP", "AP50", "APs", "APm", "APl"}) {
      char line[64];
      std::snprintf(line, sizeof line, "%s_%-5s %7.4f", type.c_str(), n.c_str(),
                    epochs[0].at("test_" + type + "_" + n).get<double>());
      EXPECT_NE(e.out.find(line), std::string::npos) << line << " not in:\n" << e.out;
    }
}

TEST(CliCoco, TheDetectionLoaderBatchesAGeneratedCocoFolderWithMasks) {
  TempDir dir;
  std::filesystem::create_directories(dir / "annotations");
  std::filesystem::create_directories(dir / "train2017");
  std::ofstream(dir / "annotations/instances_train2017.json") << truth_file().dump();
  write_bytes(dir / "train2017/1.jpg", encode_jpeg(smooth_image(60, 40, 1), 90));
  write_bytes(dir / "train2017/2.jpg", encode_jpeg(smooth_image(30, 30, 2), 90));
  const Result r = run("bench --coco " + dir.path + " --batch-size 2 --min-size 64 --max-size 100 --workers 2");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("COCO train: 2 images (0 skipped: nothing to learn from), 2 categories, 2 objects (1 crowd regions"),
            std::string::npos)
      << r.out;
  // 40×60 → 64×96 and 30×30 → 64×64: one batch padded to 64×96
  EXPECT_NE(r.out.find("coco loader: 2 images in 1 batches of 2 (largest 64x96), 2 objects with masks, 0 unreadable"),
            std::string::npos)
      << r.out;

  // the trainer reads the folder as the detection task's data, and refuses a classifier for it
  std::filesystem::create_directories(dir / "val2017");
  std::filesystem::copy(dir / "annotations/instances_train2017.json", dir / "annotations/instances_val2017.json");
  for (const char* image : {"1.jpg", "2.jpg"}) std::filesystem::copy(dir / ("train2017/" + std::string(image)), dir / ("val2017/" + std::string(image)));
  const Result classifier = run("train --task detect --data coco --data-dir " + dir.path +
                                " --model resnet18 --batch-size 2 --out " + (dir / "run"));
  expect_one_line_error(classifier, "--task detect trains a detector, and --model resnet18 is a classifier");
  EXPECT_FALSE(std::filesystem::exists(dir / "run"));
  expect_one_line_error(run("train --data coco --data-dir " + dir.path + " --batch-size 2"),
                        "--data coco holds detection data (images with their objects): train it with --task detect");

  std::filesystem::remove(dir / "train2017/2.jpg");  // a missing image: skipped and counted
  const Result missing = run("bench --coco " + dir.path + " --batch-size 2 --min-size 64 --max-size 100");
  ASSERT_EQ(missing.code, 0) << missing.err;
  EXPECT_NE(missing.out.find("1 unreadable"), std::string::npos) << missing.out;
}

TEST(CliCoco, MakeCocoShapesWritesATrainableFolderReusesItAndRefusesBadFlags) {
  TempDir dir;
  const std::string out = dir / "shapes";
  const std::string make = "make-coco-shapes --out " + out + " --train 6 --val 2 --seed 3";
  const Result r = run(make);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.rfind("make-coco-shapes: 8 images (6 train, 2 val), ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find(" crowd regions, 4 categories in " + out + " (written in "), std::string::npos) << r.out;
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  const std::string annotations = slurp(out + "/annotations/instances_train2017.json");
  // the same arguments again: the folder is reused as it is
  const Result again = run(make);
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_NE(again.out.find("(reused: made earlier with the same arguments)"), std::string::npos) << again.out;
  EXPECT_EQ(slurp(out + "/annotations/instances_train2017.json"), annotations);
  // the loader batches it (masks, crowd regions)
  const Result bench = run("bench --coco " + out + " --batch-size 2 --min-size 64 --max-size 128 --workers 2");
  ASSERT_EQ(bench.code, 0) << bench.err;
  EXPECT_NE(bench.out.find("COCO train: 6 images (0 skipped: nothing to learn from), 4 categories"), std::string::npos)
      << bench.out;

  expect_one_line_error(run("make-coco-shapes --out " + out + " --train 6 --val 2 --seed 4"),
                        "--out " + out + " holds make-coco-shapes output made with --seed 3, not 4");
  std::filesystem::create_directories(dir / "other");
  std::ofstream(dir / "other/notes.txt") << "mine";
  expect_one_line_error(run("make-coco-shapes --out " + (dir / "other")),
                        "exists, is not empty and holds no make-coco-shapes output");
  expect_one_line_error(run("make-coco-shapes --out " + (dir / "new") + " --categories 9"),
                        "--categories 9: must be 1..5 (the shapes, in order: rectangle, ellipse, triangle, diamond, star)");
  expect_one_line_error(run("make-coco-shapes --out " + (dir / "new") + " --min-side 100 --max-side 80"),
                        "--min-side 100 is larger than --max-side 80");
  EXPECT_FALSE(std::filesystem::exists(dir / "new"));
}

}  // namespace
}  // namespace eshift::test

namespace eshift::test {
namespace {
// Mask R-CNN through the CLI on a generated folder: two epochs of a small WS-ResNet-18-FPN with the
// ε-shifted L2 (box head sampling cut to keep it quick), its losses falling, the 12 COCO numbers
// in metrics.jsonl, and a run resumed after its first epoch ending with the same weights.
TEST(CliCoco, MaskRcnnTrainsOnAGeneratedFolderReportsCocoApAndResumesExactly) {
  TempDir dir;
  const auto data = dir / "shapes";
  ASSERT_EQ(run("make-coco-shapes --out " + data + " --train 8 --val 4 --min-side 64 --max-side 80 --seed 2").code, 0);
  const std::string train = "train --task detect --data coco --data-dir " + data +
                            " --model maskrcnn_resnet18_fpn --norm gn --el2 --min-size 64 --max-size 96 "
                            "--batch-size 2 --eval-batch-size 2 --lr 0.01 --box-batch-size-per-image 32 --fpn-channels 64 "
                            "--rpn-pre-nms-top-n-train 200 --rpn-post-nms-top-n-train 200 --seed 4";
  const auto straight = dir / "straight";
  const auto r = run(train + " --epochs 2 --out " + straight);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto epochs = metrics(straight);
  ASSERT_EQ(epochs.size(), 2u);
  EXPECT_LT(epochs[1].at("train_loss").get<double>(), epochs[0].at("train_loss").get<double>());
  for (const std::string type : {"bbox", "segm"})
    for (const std::string n : {"AP", "AP50", "AP75", "APs", "APm", "APl"}) {
      const auto key = "test_" + type + "_" + n;
      ASSERT_TRUE(epochs[1].contains(key)) << key << " missing: " << epochs[1].dump();
      const double v = epochs[1].at(key).get<double>();
      EXPECT_TRUE(v == -1.0 || (v >= 0.0 && v <= 1.0)) << key << " = " << v;
    }
  for (const std::string loss : {"loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness", "loss_rpn_box_reg"})
    EXPECT_TRUE(epochs[1].contains("train_" + loss)) << loss;

  // eval of the checkpoint: the same AP as the run's last evaluation, and results files that
  // detect-eval scores the same
  const auto results = dir / "results";
  const auto e = run("eval --checkpoint " + straight + "/checkpoint.pt --data-dir " + data + " --results " + results);
  ASSERT_EQ(e.code, 0) << e.err;
  char line[64];
  std::snprintf(line, sizeof line, "bbox_AP50  %7.4f", epochs[1].at("test_bbox_AP50").get<double>());
  EXPECT_NE(e.out.find(line), std::string::npos) << line << " not in:\n" << e.out;
  const auto scored = run("detect-eval --annotations " + data + "/annotations/instances_val2017.json --results " +
                          results + ".segm.json --iou-type segm --out " + (dir / "segm.json"));
  ASSERT_EQ(scored.code, 0) << scored.err;
  const auto segm = json::parse(slurp(dir / "segm.json")).at("segm");
  EXPECT_NEAR(segm[1].get<double>(), epochs[1].at("test_segm_AP50").get<double>(), 1e-12);

  const auto resumed = dir / "resumed";
  ASSERT_EQ(run(train + " --epochs 1 --out " + resumed).code, 0);
  const auto again = run(train + " --epochs 2 --resume --resume-override epochs --out " + resumed);
  ASSERT_EQ(again.code, 0) << again.err;
  const auto a = checkpoint_weights(straight + "/checkpoint.pt"), b = checkpoint_weights(resumed + "/checkpoint.pt");
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(torch::equal(a[i], b[i])) << "tensor " << i;
}
}  // namespace
}  // namespace eshift::test
