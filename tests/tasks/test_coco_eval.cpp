// COCO evaluation on hand-built cases whose numbers follow from the protocol by hand (coco_eval.h);
// make interop compares every number with pycocotools on generated files.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "eshift/core/errors.h"
#include "eshift/tasks/coco_eval.h"
#include "test_util.h"

namespace eshift {
namespace {

using nlohmann::json;

enum Stat { AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl };

// One 200×200 image (id 7) and categories 1 and 3; `truths` are {bbox, area, iscrowd} of category 1
// unless given, `detections` {bbox, score} of category 1 unless given.
struct Case {
  json truths = json::array(), detections = json::array();
  void truth(std::vector<double> box, int crowd = 0, int category = 1) {
    truths.push_back({{"id", truths.size() + 1}, {"image_id", 7}, {"category_id", category}, {"bbox", box},
                      {"area", box[2] * box[3]}, {"iscrowd", crowd}});
  }
  void detection(std::vector<double> box, double score, int category = 1) {
    detections.push_back({{"image_id", 7}, {"category_id", category}, {"bbox", box}, {"score", score}});
  }
  CocoStats evaluate(CocoIouType type = CocoIouType::Bbox) const {
    test::TempDir dir;
    json file = {{"images", {{{"id", 7}, {"file_name", "7.jpg"}, {"height", 200}, {"width", 200}}}},
                 {"categories", {{{"id", 1}, {"name", "a"}}, {{"id", 3}, {"name", "b"}}}},
                 {"annotations", truths}};
    std::ofstream(dir / "truth.json") << file.dump();
    std::ofstream(dir / "results.json") << detections.dump();
    const CocoAnnotationFile truth = read_coco_annotations(dir / "truth.json");
    return evaluate_coco(truth, read_coco_results(dir / "results.json", truth), type);
  }
};

constexpr double kTight = 1e-12;

TEST(CocoEval, OnePerfectDetectionScoresOneWhereThereIsTruthAndMinusOneElsewhere) {
  Case c;
  c.truth({10, 10, 50, 50});  // 2500 px: medium
  c.detection({10, 10, 50, 50}, 0.9);
  const CocoStats s = c.evaluate();
  for (Stat i : {AP, AP50, AP75, APm, AR1, AR10, AR100, ARm}) EXPECT_NEAR(s[i], 1.0, kTight) << i;
  for (Stat i : {APs, APl, ARs, ARl}) EXPECT_EQ(s[i], -1) << i;  // no truth of that size
}

TEST(CocoEval, ABoxAtIou062MatchesAtThresholds050To060Only) {
  Case c;
  c.truth({0, 0, 100, 100});
  c.detection({0, 0, 100, 62}, 0.8);  // IoU 6200 / 10000
  const CocoStats s = c.evaluate();
  EXPECT_NEAR(s[AP], 0.3, kTight);  // 3 of the 10 thresholds, AP 1 at each
  EXPECT_NEAR(s[AP50], 1.0, kTight);
  EXPECT_EQ(s[AP75], 0.0);
  EXPECT_NEAR(s[AR100], 0.3, kTight);
  // the truth (10000 px) is large; the detection (6200 px) medium, so where it does not match it is
  // ignored in the large range, and the large range scores as all does
  EXPECT_NEAR(s[APl], 0.3, kTight);
  EXPECT_EQ(s[APm], -1);
}

TEST(CocoEval, AnUnmatchedDetectionAboveTheTrueOneHalvesThePrecision) {
  Case c;
  c.truth({0, 0, 40, 40});
  c.detection({100, 100, 40, 40}, 0.9);  // nothing there
  c.detection({0, 0, 40, 40}, 0.5);
  const CocoStats s = c.evaluate();
  // precision at recall 1 is 1/2 (the guard 2^-52 in the denominator), and carried back to recall 0
  EXPECT_NEAR(s[AP], 0.5, kTight);
  EXPECT_NEAR(s[AR100], 1.0, kTight);
  EXPECT_NEAR(s[AR1], 0.0, kTight);  // with one detection an image, only the false one is kept
}

TEST(CocoEval, ADetectionInACrowdRegionIsNeitherTrueNorFalse) {
  Case crowd;
  crowd.truth({0, 0, 40, 40});
  crowd.truth({100, 100, 80, 80}, /*crowd=*/1);
  crowd.detection({110, 110, 30, 30}, 0.95);  // inside the crowd region: IoU 1 against it
  crowd.detection({0, 0, 40, 40}, 0.9);
  EXPECT_NEAR(crowd.evaluate()[AP], 1.0, kTight);

  Case plain = crowd;  // the same region, not a crowd: the first detection is a false positive
  plain.truths[1]["iscrowd"] = 0;
  const CocoStats s = plain.evaluate();
  // two truths, one found: recall ½ at precision ½ → 51 of the 101 recall points at ½
  EXPECT_NEAR(s[AP], 0.5 * 51 / 101, 1e-12);
  EXPECT_NEAR(s[AR100], 0.5, kTight);
}

TEST(CocoEval, AreaRangesSplitTruthsAndIgnoreUnmatchedDetectionsOfOtherSizes) {
  Case c;
  c.truth({0, 0, 5, 5});        // small (25)
  c.truth({50, 50, 100, 100});  // large, never found
  c.detection({0, 0, 5, 5}, 0.9);
  c.detection({150, 0, 40, 40}, 0.8);  // touches no truth: a medium-sized false positive
  const CocoStats s = c.evaluate();
  EXPECT_NEAR(s[APs], 1.0, kTight);  // the medium false positive is ignored in the small range
  EXPECT_EQ(s[APm], -1);
  EXPECT_EQ(s[APl], 0.0);
  // all areas: recall reaches ½ at precision 1 (the false positive comes after): 51 of 101 points
  EXPECT_NEAR(s[AP], 51.0 / 101, kTight);
  EXPECT_NEAR(s[ARs], 1.0, kTight);
  EXPECT_EQ(s[ARl], 0.0);
}

TEST(CocoEval, MaxDetsKeepsTheHighestScoresOfEachImage) {
  Case c;
  c.truth({0, 0, 40, 40});
  c.truth({60, 60, 40, 40});
  c.detection({0, 0, 40, 40}, 0.7);
  c.detection({60, 60, 40, 40}, 0.8);
  const CocoStats s = c.evaluate();
  EXPECT_NEAR(s[AR1], 0.5, kTight);
  EXPECT_NEAR(s[AR10], 1.0, kTight);
  EXPECT_NEAR(s[AP], 1.0, kTight);
}

TEST(CocoEval, CategoriesAreAveragedAndDetectionsOfOtherCategoriesDoNotMatch) {
  Case c;
  c.truth({0, 0, 40, 40}, 0, 1);
  c.truth({60, 60, 40, 40}, 0, 3);
  c.detection({0, 0, 40, 40}, 0.9, 1);
  c.detection({0, 0, 40, 40}, 0.9, 3);  // category 3 at category 1's object
  c.detection({60, 60, 40, 40}, 0.5, 99);  // a category the truth does not have: not scored
  const CocoStats s = c.evaluate();
  EXPECT_NEAR(s[AP], 0.5, kTight);  // category 1: 1, category 3: 0
}

TEST(CocoEval, SegmentationIouUsesTheMasks) {
  test::TempDir dir;
  // a 10×10 square polygon, and an RLE detection of its left half (columns 0–4: 50 ones)
  json file = {{"images", {{{"id", 1}, {"file_name", "1.jpg"}, {"height", 10}, {"width", 10}}}},
               {"categories", {{{"id", 1}, {"name", "a"}}}},
               {"annotations",
                {{{"id", 1}, {"image_id", 1}, {"category_id", 1}, {"bbox", {0, 0, 10, 10}}, {"area", 100},
                  {"iscrowd", 0}, {"segmentation", {{0, 0, 0, 10, 10, 10, 10, 0}}}}}}};
  coco::Rle half{10, 10, {0, 50, 50}};
  json results = {{{"image_id", 1}, {"category_id", 1}, {"score", 1.0},
                   {"segmentation", {{"size", {10, 10}}, {"counts", coco::rle_to_string(half)}}}}};
  std::ofstream(dir / "truth.json") << file.dump();
  std::ofstream(dir / "results.json") << results.dump();
  const CocoAnnotationFile truth = read_coco_annotations(dir / "truth.json");
  const CocoStats s = evaluate_coco(truth, read_coco_results(dir / "results.json", truth), CocoIouType::Segm);
  // the polygon covers exactly the 10×10 pixels: IoU ½, a match at threshold .50 only
  EXPECT_NEAR(s[AP50], 1.0, kTight);
  EXPECT_NEAR(s[AP], 0.1, kTight);
}

TEST(CocoEval, SegmEvaluationOfTruthWithoutMasksIsAnErrorNamingTheAnnotation) {
  Case c;
  c.truth({0, 0, 40, 40});
  c.detection({0, 0, 40, 40}, 0.9);
  try {
    c.evaluate(CocoIouType::Segm);
    FAIL() << "no error";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("annotation 1 has no segmentation"), std::string::npos) << e.what();
  }
}

TEST(CocoEval, SummaryLinesAreThoseOfPycocotools) {
  CocoStats s{};
  s.fill(-1);
  s[AP] = 0.3784;
  const std::string text = format_coco_stats(s);
  EXPECT_EQ(text.substr(0, text.find('\n')),
            " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.378");
  EXPECT_NE(text.find(" Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets=100 ] = -1.000\n"),
            std::string::npos);
  EXPECT_NE(text.find(" Average Recall     (AR) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = -1.000\n"),
            std::string::npos);
  EXPECT_NE(text.find(" Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ] = -1.000\n"),
            std::string::npos);
}

}  // namespace
}  // namespace eshift
