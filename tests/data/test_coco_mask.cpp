// COCO masks: small cases by hand, and pycocotools' own outputs on random polygons, RLEs and IoU
// matrices (tests/fixtures/coco_masks.json, written by make_coco_fixtures.py with pycocotools.mask).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "eshift/data/coco_mask.h"

namespace eshift::coco {
namespace {

using nlohmann::json;

std::vector<uint32_t> counts_of(const json& j) { return j.get<std::vector<uint32_t>>(); }

TEST(CocoMask, EncodeRunsColumnByColumnStartingWithZeros) {
  // 2×3, row-major: 0 1 1 / 0 0 1 → columns (x outer): 0 0 | 1 0 | 1 1
  const uint8_t mask[] = {0, 1, 1, 0, 0, 1};
  const Rle rle = rle_encode(mask, 2, 3);
  EXPECT_EQ(rle.counts, (std::vector<uint32_t>{2, 1, 1, 2}));
  EXPECT_EQ(rle_decode(rle), std::vector<uint8_t>(std::begin(mask), std::end(mask)));
  EXPECT_EQ(rle_area(rle), 3u);
  EXPECT_EQ(rle_to_box(rle), (Box{1, 0, 2, 2}));
  const uint8_t starts_with_one[] = {1, 0, 0, 0};
  EXPECT_EQ(rle_encode(starts_with_one, 2, 2).counts, (std::vector<uint32_t>{0, 1, 3}));
}

TEST(CocoMask, CompressedStringsRoundTripAndRejectMalformedText) {
  // the 10×10 square polygon: pycocotools gives "0T3" (0 zeros, 100 ones)
  EXPECT_EQ(rle_to_string(Rle{10, 10, {0, 100}}), "0T3");
  EXPECT_EQ(rle_from_string("0T3", 10, 10).counts, (std::vector<uint32_t>{0, 100}));
  const Rle long_runs{1000, 1000, {70000, 5, 3, 929992}};  // the 4th is a negative delta from the 2nd
  EXPECT_EQ(rle_from_string(rle_to_string(long_runs), 1000, 1000).counts, long_runs.counts);
  EXPECT_THROW(rle_from_string("0T3", 10, 11), std::invalid_argument);  // counts sum to 100, not 110
  EXPECT_THROW(rle_from_string("0T~", 10, 10), std::invalid_argument);  // '~' is outside '0'..'o'
  EXPECT_THROW(rle_from_string("0T", 10, 10), std::invalid_argument);   // 'T' says more follow
  EXPECT_THROW(rle_from_string("0oooooooo3", 10, 10), std::invalid_argument);  // over 35 bits
  EXPECT_THROW(rle_from_counts({10, 20}, 5, 5), std::invalid_argument);
  EXPECT_THROW(rle_decode(Rle{2, 2, {1, 1}}), std::invalid_argument);
}

TEST(CocoMask, PolygonsOfFewPointsOddLengthsAndFarBoxesAreAsInPycocotools) {
  // pycocotools.mask.frPyObjects / _mask.frBbox of each
  EXPECT_EQ(rle_area(rle_from_polygon({0, 0, 0, 10, 10, 10, 10, 0}, 10, 10)), 100u);
  EXPECT_EQ(rle_area(rle_from_polygon({3, 3, 5, 5}, 20, 20)), 0u);  // two points: nothing
  EXPECT_EQ(rle_to_string(rle_from_polygon({1, 1, 10, 1, 10, 10, 1, 10, 7}, 20, 20)), "e09;000000000000000W6");
  EXPECT_EQ(rle_to_string(rle_from_box({-1000, 2, 3000, 5}, 20, 30)),
            "25?000000000000000000000000000000000000000000000000000000000N");
  EXPECT_EQ(rle_to_string(rle_from_box({3.5, -700, 10, 9000}, 20, 30)), "`2X6P:");
  EXPECT_EQ(rle_area(rle_from_box({-5e7, -5e7, 1e8, 1e8}, 20, 30)), 600u);  // at once, not 10^9 points
  EXPECT_THROW(rle_from_polygon({5}, 10, 10), std::invalid_argument);                  // no point
  EXPECT_THROW(rle_from_polygon({0, 0, 1e6, 0, 0, 5}, 10, 10), std::invalid_argument);  // 10^5 sides away
  EXPECT_THROW(rle_from_polygon({0, 0, 5, 0, 0, 5}, 50000, 50000), std::invalid_argument);  // over 2^31 pixels
}

TEST(CocoMask, RepeatedVerticesAreOnePointAsInPycocotools) {
  // pycocotools.mask.frPyObjects of each (a repeated vertex: a zero-length edge, found by fuzz_coco)
  const std::pair<std::vector<double>, std::string> cases[] = {
      {{5, 0, 5, 0, 5, 5, 0, 5}, "41:1O1O1O1d2"},
      {{5, 0, 5, 5, 0, 5}, "41:1O1O1O1d2"},
      {{5, 0, 5, 5, 5, 5, 0, 5, 0, 5, 5, 0}, "41:1O1O1O1d2"},
      {{1.2, 3.4, 1.2, 3.4, 1.2, 3.4, 9, 9, 9, 9, 2, 8}, "`01;3NO1O00100OX1"}};
  for (const auto& [polygon, expected] : cases) EXPECT_EQ(rle_to_string(rle_from_polygon(polygon, 12, 12)), expected);
}

TEST(CocoMask, IouAgainstACrowdRegionDividesByTheDetectionAlone) {
  const Rle left{4, 4, {0, 8, 8}}, top_left{4, 4, {0, 2, 2, 2, 10}};  // columns 0–1; rows 0–1 of them
  const Box left_box = rle_to_box(left), top_left_box = rle_to_box(top_left);
  EXPECT_DOUBLE_EQ(mask_iou(top_left, top_left_box, left, left_box, false), 4.0 / 8);
  EXPECT_DOUBLE_EQ(mask_iou(top_left, top_left_box, left, left_box, true), 1.0);
  EXPECT_DOUBLE_EQ(box_iou({0, 0, 2, 2}, {0, 0, 2, 4}, false), 0.5);
  EXPECT_DOUBLE_EQ(box_iou({0, 0, 2, 2}, {0, 0, 2, 4}, true), 1.0);
  EXPECT_EQ(box_iou({0, 0, 2, 2}, {2, 0, 2, 2}, false), 0.0);  // touching
}

class CocoMaskFixtures : public ::testing::Test {
 protected:
  static json fixtures() {
    std::ifstream file(ESHIFT_FIXTURES "/coco_masks.json");
    EXPECT_TRUE(file.good()) << "tests/fixtures/coco_masks.json is missing";
    return json::parse(file);
  }
};

TEST_F(CocoMaskFixtures, PolygonsRasterizeAsPycocotools) {
  const json cases = fixtures().at("polygons");
  ASSERT_GE(cases.size(), 20u);
  for (const json& c : cases) {
    const uint32_t h = c.at("height"), w = c.at("width");
    std::vector<Rle> parts;
    for (size_t i = 0; i < c.at("polygons").size(); ++i) {
      parts.push_back(rle_from_polygon(c.at("polygons")[i].get<std::vector<double>>(), h, w));
      EXPECT_EQ(rle_to_string(parts.back()), c.at("rles")[i].get<std::string>()) << c.dump();
    }
    const Rle merged = rle_union(parts);
    EXPECT_EQ(rle_to_string(merged), c.at("merged").get<std::string>()) << c.dump();
    EXPECT_EQ(rle_area(merged), c.at("area").get<uint64_t>()) << c.dump();
    EXPECT_EQ(rle_to_box(merged), c.at("bbox").get<Box>()) << c.dump();
  }
}

TEST_F(CocoMaskFixtures, UncompressedAndCompressedCountsConvertAsPycocotools) {
  const json fixture = fixtures();
  ASSERT_GE(fixture.at("uncompressed").size(), 10u);
  for (const json& c : fixture.at("uncompressed")) {
    const Rle rle = rle_from_counts(counts_of(c.at("counts")), c.at("height"), c.at("width"));
    EXPECT_EQ(rle_to_string(rle), c.at("string").get<std::string>()) << c.dump();
    EXPECT_EQ(rle_area(rle), c.at("area").get<uint64_t>());
    EXPECT_EQ(rle_to_box(rle), c.at("bbox").get<Box>()) << c.dump();
  }
  ASSERT_GE(fixture.at("strings").size(), 10u);
  for (const json& c : fixture.at("strings")) {
    const Rle rle = rle_from_string(c.at("string").get<std::string>(), c.at("height"), c.at("width"));
    // pycocotools' runs came from its decoded mask: compare the masks the runs describe
    const Rle expected = rle_from_counts(counts_of(c.at("counts")), c.at("height"), c.at("width"));
    EXPECT_EQ(rle_decode(rle), rle_decode(expected)) << c.dump();
    EXPECT_EQ(rle_area(rle), c.at("area").get<uint64_t>());
  }
}

TEST_F(CocoMaskFixtures, IouMatricesEqualPycocotools) {
  const json fixture = fixtures();
  for (const char* kind : {"mask_iou", "box_iou"}) {
    ASSERT_GE(fixture.at(kind).size(), 10u) << kind;
    for (const json& c : fixture.at(kind)) {
      const json& dt = c.at("dt");
      const json& gt = c.at("gt");
      for (size_t d = 0; d < dt.size(); ++d)
        for (size_t g = 0; g < gt.size(); ++g) {
          const bool crowd = c.at("iscrowd")[g].get<int>() != 0;
          double iou;
          if (std::string(kind) == "box_iou") {
            iou = box_iou(dt[d].get<Box>(), gt[g].get<Box>(), crowd);
          } else {
            const Rle a = rle_from_string(dt[d].get<std::string>(), c.at("height"), c.at("width"));
            const Rle b = rle_from_string(gt[g].get<std::string>(), c.at("height"), c.at("width"));
            iou = mask_iou(a, rle_to_box(a), b, rle_to_box(b), crowd);
          }
          EXPECT_DOUBLE_EQ(iou, c.at("iou")[d][g].get<double>()) << kind << " " << c.dump();
        }
    }
  }
}

}  // namespace
}  // namespace eshift::coco
