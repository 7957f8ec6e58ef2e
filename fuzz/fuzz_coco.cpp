// Fuzz target: COCO's annotation and results files (data/coco_annotations.h), the masks they hold
// (data/coco_mask.h) and their evaluation (tasks/coco_eval.h). Input: one byte choosing what the
// rest is — an annotation file (evaluated against itself as results when it reads, boxes or masks),
// or a results file scored against a small fixed annotation file. The only allowed failure is a
// DataError.
#include <string>

#include "eshift/core/errors.h"
#include "eshift/data/coco_annotations.h"
#include "eshift/tasks/coco_eval.h"
#include "fuzz_common.h"

namespace {
// Two images, two categories, a polygon, a crowd RLE and a compressed RLE.
const char* kTruth = R"({"images": [{"id": 1, "file_name": "1.jpg", "height": 20, "width": 30},
  {"id": 2, "file_name": "2.jpg", "height": 10, "width": 10}],
  "categories": [{"id": 1, "name": "a"}, {"id": 7, "name": "b"}],
  "annotations": [
  {"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 2, 10, 8], "area": 80, "iscrowd": 0,
   "segmentation": [[2, 2, 12, 2, 12, 10, 2, 10]]},
  {"id": 2, "image_id": 1, "category_id": 7, "bbox": [0, 0, 30, 20], "area": 100, "iscrowd": 1,
   "segmentation": {"size": [20, 30], "counts": [100, 100, 400]}},
  {"id": 3, "image_id": 2, "category_id": 1, "bbox": [0, 0, 5, 5], "area": 25, "iscrowd": 0,
   "segmentation": {"size": [10, 10], "counts": "0550000000b1"}}]})";
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int choice = data[0] % 4;
  const std::string path = eshift::fuzz::scratch_file(data + 1, size - 1, ".json");
  try {
    if (choice < 2) {
      const auto truth = eshift::read_coco_annotations(path);
      const auto results = eshift::read_coco_results(path, truth);  // a file that is both is an error
      (void)results;
    } else {
      static const std::string truth_path = eshift::fuzz::scratch_file(
          reinterpret_cast<const uint8_t*>(kTruth), std::char_traits<char>::length(kTruth), "-truth.json");
      static const auto truth = eshift::read_coco_annotations(truth_path);
      const auto results = eshift::read_coco_results(path, truth);
      (void)eshift::evaluate_coco(truth, results, choice == 2 ? eshift::CocoIouType::Bbox : eshift::CocoIouType::Segm);
    }
  } catch (const eshift::DataError&) {
  }
  return 0;
}
