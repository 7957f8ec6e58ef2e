// COCO annotation and results files: what the streaming reader keeps, and one-line errors naming the
// file and the element for malformed input.
#include <gtest/gtest.h>

#include <fstream>

#include "eshift/core/errors.h"
#include "eshift/data/coco_annotations.h"
#include "test_util.h"

namespace eshift {
namespace {

const char* kGood = R"({
  "info": {"year": 2017, "nested": {"images": [1, 2]}}, "licenses": [{"id": 1, "name": "x"}],
  "annotations": [
    {"id": 5, "image_id": 42, "category_id": 18, "bbox": [1.5, 2, 3, 4], "area": 12.5, "iscrowd": 0,
     "segmentation": [[1, 2, 4, 2, 4, 6], [0, 0, 1, 0, 1, 1]], "extra": {"a": [1, {"b": 2}]}},
    {"id": 6, "image_id": 42, "category_id": 1, "bbox": [0, 0, 2, 2], "area": 3, "iscrowd": 1,
     "segmentation": {"size": [3, 4], "counts": [1, 3, 8]}},
    {"id": 7, "image_id": 9, "category_id": 1, "bbox": [0, 0, 1, 1], "area": 1.0, "iscrowd": false,
     "segmentation": {"size": [2, 2], "counts": "04"}}
  ],
  "images": [{"id": 42, "file_name": "000000000042.jpg", "height": 3, "width": 4, "license": 1},
             {"id": 9, "file_name": "9.jpg", "height": 2, "width": 2}],
  "categories": [{"id": 1, "name": "person", "supercategory": "person"}, {"id": 18, "name": "dog"}]
})";

std::string write(const test::TempDir& dir, const std::string& text, const std::string& name = "ann.json") {
  std::ofstream(dir / name) << text;
  return dir / name;
}

// The one-line message of the DataError reading `text` raises.
std::string error_of(const std::string& text) {
  test::TempDir dir;
  try {
    read_coco_annotations(write(dir, text));
  } catch (const DataError& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    EXPECT_NE(message.find("ann.json"), std::string::npos) << message;
    return message;
  }
  ADD_FAILURE() << "no error for " << text;
  return "";
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  return text.replace(at, from.size(), to);
}

TEST(CocoAnnotations, ReadsImagesCategoriesAndEveryKindOfSegmentationSkippingOtherKeys) {
  test::TempDir dir;
  const CocoAnnotationFile file = read_coco_annotations(write(dir, kGood));
  ASSERT_EQ(file.images.size(), 2u);
  EXPECT_EQ(file.images[0].file_name, "000000000042.jpg");
  EXPECT_EQ(file.images[0].height, 3u);
  EXPECT_EQ(file.images[0].width, 4u);
  ASSERT_EQ(file.categories.size(), 2u);
  EXPECT_EQ(file.categories[1].id, 18);
  EXPECT_EQ(file.category_index.at(18), 1u);
  ASSERT_EQ(file.annotations.size(), 3u);
  const CocoAnnotation& dog = file.annotations[0];
  EXPECT_EQ(dog.id, 5);
  EXPECT_EQ(dog.category_id, 18);
  EXPECT_EQ(*dog.bbox, (coco::Box{1.5, 2, 3, 4}));
  EXPECT_EQ(dog.area, 12.5);
  EXPECT_FALSE(dog.iscrowd);
  ASSERT_EQ(dog.segmentation.polygons.size(), 2u);
  EXPECT_EQ(dog.segmentation.polygons[1], (std::vector<double>{0, 0, 1, 0, 1, 1}));
  const CocoAnnotation& crowd = file.annotations[1];
  EXPECT_TRUE(crowd.iscrowd);
  ASSERT_TRUE(crowd.segmentation.rle);
  EXPECT_EQ(crowd.segmentation.rle->counts, (std::vector<uint32_t>{1, 3, 8}));
  EXPECT_EQ(annotation_mask(crowd, file.images[0]).counts, (std::vector<uint32_t>{1, 3, 8}));
  ASSERT_TRUE(file.annotations[2].segmentation.rle);
  EXPECT_EQ(file.annotations[2].segmentation.rle->counts, (std::vector<uint32_t>{0, 4}));  // "04"
}

TEST(CocoAnnotations, LaterPolygonsOfOneOrTwoPointsAreReadAsPycocotoolsReadsThem) {
  test::TempDir dir;
  const CocoAnnotationFile file = read_coco_annotations(write(dir, replaced(kGood, "[0, 0, 1, 0, 1, 1]", "[0, 0, 1, 0]")));
  EXPECT_EQ(file.annotations[0].segmentation.polygons[1].size(), 4u);
  // a key given twice: the last, as Python's json
  const CocoAnnotationFile twice = read_coco_annotations(write(dir, replaced(kGood, "\"area\": 12.5,", "\"area\": 1, \"area\": 12.5,")));
  EXPECT_EQ(twice.annotations[0].area, 12.5);
}

TEST(CocoAnnotations, MalformedFilesAreOneLineErrorsNamingTheElement) {
  EXPECT_NE(error_of("{\"images\": [").find("not valid JSON at byte"), std::string::npos);
  EXPECT_NE(error_of(replaced(kGood, "\"category_id\": 18", "\"category_id\": 91"))
                .find("annotation 5: category_id 91 is not among the categories"),
            std::string::npos);
  EXPECT_NE(error_of(replaced(kGood, "\"image_id\": 9", "\"image_id\": 10"))
                .find("annotation 7: image_id 10 is not among the images"),
            std::string::npos);
  EXPECT_NE(error_of(replaced(kGood, "[1.5, 2, 3, 4]", "[1.5, 2, 3]")).find("annotation 5: bbox is not a list of 4"),
            std::string::npos);
  EXPECT_NE(error_of(replaced(kGood, "[1.5, 2, 3, 4]", "[1.5, 2, -3, 4]")).find("negative width"),
            std::string::npos);
  EXPECT_NE(error_of(replaced(kGood, "[[1, 2, 4, 2, 4, 6],", "[[1, 2, 4, 2],"))
                .find("annotation 5: segmentation holds a polygon of 4 coordinates (the first needs 3 points)"),
            std::string::npos);
  EXPECT_NE(error_of(replaced(kGood, "[0, 0, 1, 0, 1, 1]", "[0, 0, 1, 0, 1e6, 1]"))
                .find("annotation 5: segmentation holds a coordinate of 1000000"),
            std::string::npos);
  EXPECT_NE(error_of(replaced(kGood, "\"height\": 2, \"width\": 2", "\"height\": 50000, \"width\": 50000"))
                .find("image 9: height × width is over 2^31 - 1 pixels"),
            std::string::npos);
  EXPECT_NE(error_of("5").find("an annotation file is a JSON object"), std::string::npos);
  EXPECT_NE(error_of(replaced(kGood, "[[1, 2, 4, 2, 4, 6], [0", "[[1, \"2\", 4, 2, 4, 6], [0"))
                .find("annotation 5: segmentation polygons are not lists of numbers"),
            std::string::npos);
  // objects where lists belong (found by fuzz_coco: a number in an object inside the polygon list)
  EXPECT_NE(error_of(replaced(kGood, "[0, 0, 1, 0, 1, 1]", "{\"a\": 0.7}")).find("annotation 5: segmentation polygons are not lists"),
            std::string::npos);
  EXPECT_NE(error_of(replaced(kGood, "[1, 3, 8]", "{\"x\": 12}")).find("annotation 6: segmentation counts holds something other"),
            std::string::npos);
  EXPECT_NE(error_of(replaced(kGood, "[1, 3, 8]", "[1, 3, 9]")).find("annotation 6: segmentation: mask run lengths sum to 13"),
            std::string::npos);
  EXPECT_NE(error_of(replaced(kGood, "\"size\": [3, 4]", "\"size\": [4, 3]")).find("annotation 6: segmentation size 4x3 is not its image's 3x4"),
            std::string::npos);
  EXPECT_NE(error_of(replaced(kGood, "\"counts\": \"04\"", "\"counts\": \"0~\"")).find("annotation 7: segmentation: a compressed"),
            std::string::npos);
  EXPECT_NE(error_of(replaced(kGood, "\"iscrowd\": 1", "\"iscrowd\": 2")).find("annotation 6: iscrowd is not 0 or 1"),
            std::string::npos);
  EXPECT_NE(error_of(replaced(kGood, "\"area\": 3,", "")).find("annotation 6: has no area"), std::string::npos);
  EXPECT_NE(error_of(replaced(kGood, "\"id\": 6,", "\"id\": 5,")).find("annotation 5: appears twice"),
            std::string::npos);
  EXPECT_NE(error_of(replaced(kGood, "\"height\": 3", "\"height\": 0")).find("image 42: height or width"),
            std::string::npos);
  EXPECT_NE(error_of(replaced(kGood, "\"id\": 9, \"file_name\"", "\"id\": 9.5, \"file_name\"")).find("id is not an integer"),
            std::string::npos);
}

TEST(CocoResults, DetectionsAreNumberedInFileOrderAndCheckedAgainstTheImages) {
  test::TempDir dir;
  const CocoAnnotationFile truth = read_coco_annotations(write(dir, kGood));
  const auto detections = read_coco_results(
      write(dir,
            R"([{"image_id": 9, "category_id": 77, "score": 1, "segmentation": {"size": [2, 2], "counts": [0, 4]}},
                {"image_id": 42, "category_id": 18, "bbox": [1, 2, 3, 4], "score": 0.5}])",
            "r.json"),
      truth);
  ASSERT_EQ(detections.size(), 2u);
  EXPECT_EQ(detections[0].id, 1);
  EXPECT_EQ(detections[1].id, 2);
  EXPECT_EQ(detections[0].category_id, 77);  // not checked: unknown categories are not scored
  EXPECT_EQ(detections[1].score, 0.5);
  EXPECT_FALSE(detections[0].bbox);
  EXPECT_EQ(*detections[1].bbox, (coco::Box{1, 2, 3, 4}));

  auto error = [&](const std::string& text) -> std::string {
    try {
      read_coco_results(write(dir, text, "bad.json"), truth);
    } catch (const DataError& e) {
      return e.what();
    }
    return "no error";
  };
  EXPECT_NE(error(R"([{"image_id": 43, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1}])")
                .find("bad.json: detection 1: image_id 43 is not among the images of"),
            std::string::npos);
  EXPECT_NE(error(R"([{"image_id": 42, "category_id": 1, "score": 1}])").find("has neither bbox nor segmentation"),
            std::string::npos);
  EXPECT_NE(error(R"([{"image_id": 42, "category_id": 1, "bbox": [0, 0, 1, 1]}])").find("detection 1: has no score"),
            std::string::npos);
  EXPECT_NE(error(R"({"annotations": []})").find("a results file is a JSON list"), std::string::npos);
  EXPECT_NE(error(R"([{"image_id": 42, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1},
                     {"image_id": 9, "category_id": 1, "score": 1, "segmentation": {"size": [2, 2], "counts": [0, 4]}}])")
                .find("detection 2: has no bbox, but the first detection of the file has one"),
            std::string::npos);
}

}  // namespace
}  // namespace eshift
