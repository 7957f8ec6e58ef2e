// The evaluator of a detector: model outputs become COCO results (boxes back at the original size,
// labels back to COCO's ids, masks as RLE), merge across processes and score only the images seen.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "eshift/tasks/coco_evaluator.h"
#include "test_util.h"

namespace eshift {
namespace {

using nlohmann::json;

// A val split of images 1 (60×80, a dog, COCO id 18) and 2 (40×50, a person, id 1); categories
// listed as [18, 1], so label 1 is id 18 and label 2 is id 1.
struct Fixture {
  test::TempDir dir;
  std::shared_ptr<const CocoDataset> dataset;
  Fixture() {
    std::filesystem::create_directories(dir / "annotations");
    json file = {
        {"images",
         {{{"id", 1}, {"file_name", "1.jpg"}, {"height", 60}, {"width", 80}},
          {{"id", 2}, {"file_name", "2.jpg"}, {"height", 40}, {"width", 50}}}},
        {"categories", {{{"id", 18}, {"name", "dog"}}, {{"id", 1}, {"name", "person"}}}},
        {"annotations",
         {{{"id", 1}, {"image_id", 1}, {"category_id", 18}, {"bbox", {10, 10, 20, 20}}, {"area", 400}, {"iscrowd", 0},
           {"segmentation", {{10, 10, 30, 10, 30, 30, 10, 30}}}},
          {{"id", 2}, {"image_id", 2}, {"category_id", 1}, {"bbox", {5, 5, 20, 10}}, {"area", 200}, {"iscrowd", 0},
           {"segmentation", {{5, 5, 25, 5, 25, 15, 5, 15}}}}}}};
    std::ofstream(dir / "annotations/instances_val2017.json") << file.dump();
    dataset = std::make_shared<const CocoDataset>(dir.path, "val");
  }
  // The perfect output for image `index`, at twice its size: its target's boxes ×2, masks at the
  // original size.
  ImageDetections perfect(int64_t index) const {
    const auto& file = dataset->annotations();
    const CocoAnnotation& a = file.annotations[size_t(index)];
    const CocoImage& image = file.images[file.image_index.at(a.image_id)];
    ImageDetections d;
    d.image_id = a.image_id;
    d.original_size = {image.height, image.width};
    d.size = {2 * image.height, 2 * image.width};
    const auto& b = *a.bbox;
    d.boxes = torch::tensor({{float(2 * b[0]), float(2 * b[1]), float(2 * (b[0] + b[2])), float(2 * (b[1] + b[3]))}});
    d.scores = torch::tensor({0.9f});
    d.labels = torch::tensor({int64_t(file.category_index.at(a.category_id)) + 1});
    const auto mask = coco::rle_decode(annotation_mask(a, image));
    d.masks = torch::tensor(std::vector<uint8_t>(mask.begin(), mask.end())).view({1, image.height, image.width});
    return d;
  }
};

TEST(CocoEvaluator, PerfectOutputsScoreOneAndWriteTheReferencesResults) {
  Fixture f;
  CocoEvaluator evaluator(f.dataset, {CocoIouType::Bbox, CocoIouType::Segm});
  evaluator.add(f.perfect(0));
  evaluator.add(f.perfect(1));
  const auto stats = evaluator.finalize();
  EXPECT_DOUBLE_EQ(stats.at(CocoIouType::Bbox)[0], 1.0);
  EXPECT_DOUBLE_EQ(stats.at(CocoIouType::Segm)[0], 1.0);

  evaluator.write_results(CocoIouType::Bbox, f.dir / "bbox.json");
  evaluator.write_results(CocoIouType::Segm, f.dir / "segm.json");
  const json bbox = json::parse(std::ifstream(f.dir / "bbox.json"));
  ASSERT_EQ(bbox.size(), 2u);
  EXPECT_EQ(bbox[0].at("category_id"), 18);  // label 1, back to COCO's id
  EXPECT_EQ(bbox[0].at("bbox"), json({10, 10, 20, 20}));  // x, y, w, h at the original size
  EXPECT_EQ(bbox[1].at("category_id"), 1);
  const json segm = json::parse(std::ifstream(f.dir / "segm.json"));
  EXPECT_FALSE(segm[0].contains("bbox"));  // the reference's segm results: areas from the masks
  EXPECT_EQ(segm[0].at("segmentation").at("size"), json({60, 80}));
  // the files score as the evaluator does (eshift detect-eval's path)
  const auto& truth = f.dataset->annotations();
  EXPECT_EQ(evaluate_coco(truth, read_coco_results(f.dir / "segm.json", truth), CocoIouType::Segm),
            stats.at(CocoIouType::Segm));
}

TEST(CocoEvaluator, ProcessesMergeToTheSameNumbersAndOnlyTheImagesSeenCount) {
  Fixture f;
  CocoEvaluator one(f.dataset, {CocoIouType::Bbox}), two(f.dataset, {CocoIouType::Bbox});
  one.add(f.perfect(0));
  // image 2's detection with a lower score and a shifted box, so that the numbers are not all 1
  ImageDetections shifted = f.perfect(1);
  shifted.boxes = shifted.boxes + torch::tensor({{8.f, 0.f, 8.f, 0.f}});
  shifted.scores = torch::tensor({0.3f});
  two.add(shifted);
  CocoEvaluator whole(f.dataset, {CocoIouType::Bbox});
  whole.add(shifted);
  whole.add(f.perfect(0));
  one.merge_json(two.to_json());
  one.merge_json(two.to_json());  // again (a padded shard's repeats): each image counts once
  one.add(f.perfect(0));
  EXPECT_EQ(one.images(), 2);
  EXPECT_EQ(one.finalize().at(CocoIouType::Bbox), whole.finalize().at(CocoIouType::Bbox));
  EXPECT_LT(whole.finalize().at(CocoIouType::Bbox)[0], 1.0);

  // only image 1 seen: the person (in image 2 only) has no truth there and does not count
  CocoEvaluator part(f.dataset, {CocoIouType::Bbox});
  part.add(f.perfect(0));
  EXPECT_DOUBLE_EQ(part.finalize().at(CocoIouType::Bbox)[0], 1.0);
  part.write_results(CocoIouType::Bbox, f.dir / "part.json");
  const auto& truth = f.dataset->annotations();
  // over every image, the unseen person is missed: AP (1 + 0) / 2
  EXPECT_DOUBLE_EQ(evaluate_coco(truth, read_coco_results(f.dir / "part.json", truth), CocoIouType::Bbox)[0], 0.5);
}

TEST(CocoEvaluator, SegmWithoutMasksOrAnUnknownImageIsAnError) {
  Fixture f;
  CocoEvaluator evaluator(f.dataset, {CocoIouType::Segm});
  ImageDetections d = f.perfect(0);
  d.masks = torch::Tensor();
  EXPECT_THROW(evaluator.add(d), c10::Error);
  d = f.perfect(0);
  d.image_id = 99;
  EXPECT_THROW(evaluator.add(d), c10::Error);
}

}  // namespace
}  // namespace eshift
