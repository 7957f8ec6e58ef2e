// Detection data: the transform's sizes and target moves by hand (torchvision's conventions,
// detection.h), collation, and a generated COCO folder (JPEGs, polygons, a crowd region, a box to
// clip, one to drop, an image without annotations) through CocoDataset and the loader.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "data/image_files.h"
#include "eshift/core/errors.h"
#include "eshift/data/coco_dataset.h"
#include "eshift/data/detection_loader.h"
#include "eshift/data/jpeg.h"
#include "test_util.h"

namespace eshift {
namespace {

using nlohmann::json;

DetectionTransformOptions sizes(int64_t min_size, int64_t max_size, bool hflip = false) {
  DetectionTransformOptions options;
  options.min_size = min_size;
  options.max_size = max_size;
  options.hflip = hflip;
  return options;
}

TEST(DetectionTransform, ResizesTheShortSideToMinSizeUnlessTheLongSideWouldPassMaxSize) {
  DetectionTransform t({});
  EXPECT_EQ(t.resized_size(480, 640), (std::array<int64_t, 2>{800, 1066}));  // 640 · 800/480 = 1066.7
  EXPECT_EQ(t.resized_size(100, 1000), (std::array<int64_t, 2>{133, 1333}));  // s = 1333/1000
  EXPECT_EQ(t.resized_size(800, 800), (std::array<int64_t, 2>{800, 800}));
  DetectionTransform small(sizes(32, 64));
  EXPECT_EQ(small.resized_size(20, 30), (std::array<int64_t, 2>{32, 48}));
}

TEST(DetectionTransform, AFlipMirrorsBoxesAndMasksAndResizingScalesThem) {
  DetectionTransform t(sizes(40, 1000, true));
  std::mt19937_64 rng(3);
  t.draw_epoch(rng, 64);
  // a 20×10 image, one box x 1..4, y 2..6, its mask the same pixels
  const auto image = torch::full({3, 20, 10}, 128, torch::kUInt8);
  DetectionTarget target;
  target.boxes = torch::tensor({{1.f, 2.f, 4.f, 6.f}});
  target.labels = torch::tensor({5}, torch::kInt64);
  target.masks = torch::zeros({1, 20, 10}, torch::kUInt8);
  target.masks[0].narrow(0, 2, 4).narrow(1, 1, 3).fill_(1);
  int flipped = 0, kept = 0;
  for (int64_t position = 0; position < 64; ++position) {
    const DetectionExample e = t.apply(image, target, position);
    ASSERT_EQ(e.image.sizes(), (std::vector<int64_t>{3, 80, 40}));  // s = 40/10 = 4
    EXPECT_EQ(e.target.size, (std::array<int64_t, 2>{80, 40}));
    EXPECT_EQ(e.target.original_size, (std::array<int64_t, 2>{20, 10}));
    const bool mirrored = e.target.boxes[0][0].item<float>() != 4.f;
    (mirrored ? flipped : kept) += 1;
    // x1' = 10 − 4 = 6, x2' = 10 − 1 = 9 when flipped; then ×4 on both axes
    const auto expected = mirrored ? torch::tensor({{24.f, 8.f, 36.f, 24.f}}) : torch::tensor({{4.f, 8.f, 16.f, 24.f}});
    EXPECT_TRUE(torch::equal(e.target.boxes, expected)) << e.target.boxes;
    // the mask, by nearest neighbour ×4, covers exactly the box
    EXPECT_EQ(e.target.masks.sum().item<int64_t>(), 12 * 16);
    const int64_t x0 = mirrored ? 24 : 4;
    EXPECT_EQ(e.target.masks[0].narrow(0, 8, 16).narrow(1, x0, 12).sum().item<int64_t>(), 12 * 16);
    EXPECT_TRUE(torch::equal(e.target.labels, target.labels));
    // a uniform image stays uniform: (128/255 − mean)/std per channel
    EXPECT_NEAR(e.image[1].mean().item<float>(), (128 / 255.0 - 0.456) / 0.224, 1e-5);
    EXPECT_NEAR(e.image[1].std().item<float>(), 0, 1e-5);
  }
  EXPECT_GT(flipped, 16);
  EXPECT_GT(kept, 16);
}

TEST(DetectionTransform, CollationPadsToTheStrideWithZeros) {
  std::vector<DetectionExample> examples(2);
  examples[0].image = torch::ones({3, 50, 70});
  examples[1].image = torch::full({3, 64, 33}, 2.0);
  examples[1].target.image_id = 9;
  const Batch batch = collate_detection(examples, 32);
  ASSERT_EQ(batch.inputs.sizes(), (std::vector<int64_t>{2, 3, 64, 96}));
  EXPECT_EQ(batch.inputs[0].sum().item<double>(), 3 * 50 * 70);
  EXPECT_EQ(batch.inputs[1].sum().item<double>(), 2 * 3 * 64 * 33);
  EXPECT_EQ(batch.inputs[1][0][63][32].item<float>(), 2.0f);
  EXPECT_EQ(batch.inputs[1][0][0][33].item<float>(), 0.0f);
  EXPECT_EQ(batch.objects[1].image_id, 9);
}

// A COCO folder: images 1 (60×80), 2 (40×50) and 3 (30×30, no annotations); categories 18 and 1.
struct CocoFolder {
  test::TempDir dir;
  json annotations = json::array();
  CocoFolder() {
    std::filesystem::create_directories(dir / "annotations");
    for (const char* split : {"train2017", "val2017"}) {
      std::filesystem::create_directories(dir / split);
      for (auto [id, h, w] : {std::tuple{1, 60, 80}, {2, 40, 50}, {3, 30, 30}})
        test::write_bytes(dir / (std::string(split) + "/" + std::to_string(id) + ".jpg"),
                          encode_jpeg(test::smooth_image(w, h, id), 90));
    }
    // image 1: a dog (category 18) polygon, a person box reaching outside the image (clipped), a crowd
    // region; image 2: a person box wholly left of the image (dropped) and a person triangle
    add(1, 18, {10, 10, 20, 20}, {{10, 10, 30, 10, 30, 30, 10, 30}});
    add(1, 1, {70, 50, 20, 20}, {{70, 50, 80, 50, 80, 60, 70, 60}});
    annotations.push_back({{"id", 3}, {"image_id", 1}, {"category_id", 1}, {"bbox", {0, 0, 10, 10}}, {"area", 100},
                           {"iscrowd", 1}, {"segmentation", {{"size", {60, 80}}, {"counts", {0, 10, 4790}}}}});
    add(2, 1, {-20, 5, 10, 10}, {{0, 5, 0, 15, 1, 15}});
    add(2, 1, {5, 5, 20, 10}, {{5, 5, 25, 5, 5, 15}});
  }
  void add(int image, int category, std::vector<double> box, json polygons) {
    annotations.push_back({{"id", annotations.size() + 1}, {"image_id", image}, {"category_id", category},
                           {"bbox", box}, {"area", box[2] * box[3]}, {"iscrowd", 0}, {"segmentation", polygons}});
  }
  void write() {
    json file = {{"images",
                  {{{"id", 1}, {"file_name", "1.jpg"}, {"height", 60}, {"width", 80}},
                   {{"id", 2}, {"file_name", "2.jpg"}, {"height", 40}, {"width", 50}},
                   {{"id", 3}, {"file_name", "3.jpg"}, {"height", 30}, {"width", 30}}}},
                 {"categories", {{{"id", 18}, {"name", "dog"}}, {{"id", 1}, {"name", "person"}}}},
                 {"annotations", annotations}};
    for (const char* split : {"train", "val"})
      std::ofstream(dir / ("annotations/instances_" + std::string(split) + "2017.json")) << file.dump();
  }
};

TEST(CocoDataset, TargetsAreRepairedAsTorchvisionsReferenceAndCounted) {
  CocoFolder folder;
  folder.write();
  const CocoDataset train(folder.dir.path, "train");
  EXPECT_EQ(train.size(), 2);  // image 3 has nothing to learn from
  EXPECT_EQ(train.num_classes(), 3);
  EXPECT_EQ(train.category_id(1), 18);
  EXPECT_EQ(train.category_id(2), 1);
  const CocoRepairs& r = train.repairs();
  EXPECT_EQ(r.images_skipped, 1);
  EXPECT_EQ(r.crowd_regions, 1);
  EXPECT_EQ(r.boxes_clipped, 1);
  EXPECT_EQ(r.boxes_dropped, 1);
  EXPECT_TRUE(train.has_masks());
  EXPECT_NE(train.summary().find("1 boxes clipped"), std::string::npos) << train.summary();

  const DetectionExample first = train.read(0);
  EXPECT_EQ(first.target.image_id, 1);
  EXPECT_EQ(first.image.sizes(), (std::vector<int64_t>{3, 60, 80}));
  EXPECT_TRUE(torch::equal(first.target.labels, torch::tensor({1, 2}, torch::kInt64)));
  // x, y, w, h → x1, y1, x2, y2, the second clipped at the image's right and bottom
  EXPECT_TRUE(torch::equal(first.target.boxes, torch::tensor({{10.f, 10.f, 30.f, 30.f}, {70.f, 50.f, 80.f, 60.f}})));
  ASSERT_EQ(first.target.masks.sizes(), (std::vector<int64_t>{2, 60, 80}));
  // COCO's rasterization of the 20×20 square polygon: pixels 10..29 on both axes
  EXPECT_EQ(first.target.masks[0].sum().item<int64_t>(), 400);
  EXPECT_EQ(first.target.masks[0].narrow(0, 10, 20).narrow(1, 10, 20).sum().item<int64_t>(), 400);
  const DetectionExample second = train.read(1);
  EXPECT_EQ(second.target.boxes.size(0), 1);  // the box left of the image is gone, with its mask
  EXPECT_EQ(second.target.masks.size(0), 1);

  const CocoDataset val(folder.dir.path, "val");
  EXPECT_EQ(val.size(), 3);  // evaluation keeps every image
  EXPECT_EQ(val.read(2).target.boxes.size(0), 0);
  EXPECT_EQ(val.read(2).target.masks.sizes(), (std::vector<int64_t>{0, 30, 30}));
}

TEST(CocoDataset, FilesThatDisagreeWithTheirAnnotationsAreErrorsNamingThem) {
  CocoFolder folder;
  folder.write();
  test::write_bytes(folder.dir / "train2017/2.jpg", encode_jpeg(test::smooth_image(51, 40, 2), 90));
  const CocoDataset train(folder.dir.path, "train");
  try {
    train.read(1);
    FAIL() << "no error";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("train2017/2.jpg: the image is 40x51, its annotation says 40x50"),
              std::string::npos)
        << e.what();
  }
  std::filesystem::remove(folder.dir / "train2017/1.jpg");
  EXPECT_THROW(train.read(0), DataError);

  CocoFolder mixed;  // one target without a mask among targets with masks
  mixed.annotations[0].erase("segmentation");
  mixed.write();
  EXPECT_THROW(CocoDataset(mixed.dir.path, "train"), DataError);
  EXPECT_THROW(CocoDataset(mixed.dir.path, "test"), std::invalid_argument);
}

TEST(DetectionLoader, BatchesArePaddedAndAnEpochIsAFunctionOfSeedAndEpoch) {
  CocoFolder folder;
  folder.write();
  const auto val = std::make_shared<const CocoDataset>(folder.dir.path, "val");
  const DetectionTransform transform(sizes(64, 128, true));
  LoaderOptions options;
  options.batch_size = 2;
  options.seed = 5;
  options.workers = 2;
  auto epoch_ids = [&](int epoch) {
    DetectionLoader loader(val, transform, options, epoch);
    EXPECT_EQ(loader.num_batches(), 2);
    std::vector<int64_t> ids;
    while (auto r = loader.next()) {
      EXPECT_EQ(r->inputs.size(2) % 32, 0);
      EXPECT_EQ(r->inputs.size(3) % 32, 0);
      for (const auto& t : r->objects) {
        ids.push_back(t.image_id);
        EXPECT_NEAR(std::min(t.size[0], t.size[1]), 64, 1);  // floor(short · 64/short)
        EXPECT_EQ(t.masks.size(1), t.size[0]);
      }
    }
    return ids;
  };
  const auto first = epoch_ids(0);
  EXPECT_EQ(first, epoch_ids(0));
  EXPECT_EQ(std::set<int64_t>(first.begin(), first.end()), (std::set<int64_t>{1, 2, 3}));
}

}  // namespace
}  // namespace eshift
