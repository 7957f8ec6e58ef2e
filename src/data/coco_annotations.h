#pragma once
// COCO's annotation files (instances_*.json) and results files (a detector's output), read with a
// streaming (SAX) parser: the file is never held as a JSON tree, so the 448 MB train annotations
// take little more memory than the annotations themselves.
//
// An annotation file is an object with "images" ({id, file_name, height, width}), "categories"
// ({id, name}) and "annotations" ({id, image_id, category_id, bbox [x, y, w, h], area, iscrowd,
// segmentation}); other keys ("info", "licenses", …) and other fields are skipped. A segmentation is
// a list of polygons [x0, y0, x1, y1, …], or an RLE {"size": [h, w], "counts": …} whose counts are
// a list of run lengths (uncompressed, COCO's crowd regions) or COCO's compressed string
// (coco_mask.h).
// A results file is a list of detections {image_id, category_id, score, bbox and/or segmentation}.
//
// Category ids are COCO's own (80 ids between 1 and 90, with gaps): kept as they are here; a model's
// contiguous class index is the category's position in `categories`.
//
// Errors are DataError, one line naming the file and the image or annotation id: malformed JSON
// (with its byte offset), a missing or mistyped field, an unknown image or category id, a malformed
// segmentation. What is well-formed but unusable for training (a box outside its image, zero area)
// is the dataset's to repair or drop.
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "eshift/data/coco_mask.h"

namespace eshift {

struct CocoImage {
  int64_t id = 0;
  std::string file_name;
  uint32_t height = 0, width = 0;
};

struct CocoCategory {
  int64_t id = 0;
  std::string name;
};

// A region: polygons (in the image's pixels) or a run-length mask with its own size.
struct CocoSegmentation {
  std::vector<std::vector<double>> polygons;
  std::optional<coco::Rle> rle;
  bool empty() const { return polygons.empty() && !rle; }
};

struct CocoAnnotation {
  int64_t id = 0;  // annotations: the file's; detections: their position in the results file + 1
  int64_t image_id = 0, category_id = 0;
  std::optional<coco::Box> bbox;
  double area = 0;
  bool iscrowd = false;
  double score = 0;  // detections only
  CocoSegmentation segmentation;
};

struct CocoAnnotationFile {
  std::string path;
  std::vector<CocoImage> images;          // in the file's order
  std::vector<CocoCategory> categories;   // in the file's order
  std::vector<CocoAnnotation> annotations;
  std::unordered_map<int64_t, size_t> image_index, category_index;  // id -> position
};

// Reads and checks an annotation file: unique image, category and annotation ids, every
// annotation's image and category known, a bbox of four finite numbers with non-negative size, a
// finite area, iscrowd 0 or 1, and a segmentation (when present) that is valid at its image's size.
CocoAnnotationFile read_coco_annotations(const std::string& path);

// Reads a results file, each detection checked as above against `truth`'s images (an image id that
// is not there is an error, as pycocotools' "Results do not correspond to current coco set").
// Category ids are not checked: detections of categories `truth` does not have are not scored.
std::vector<CocoAnnotation> read_coco_results(const std::string& path, const CocoAnnotationFile& truth);

// The region of an annotation as one run-length mask at its image's size (polygons rasterized and
// united, an RLE as it is), as pycocotools' annToRLE.
coco::Rle annotation_mask(const CocoAnnotation& annotation, const CocoImage& image);

}  // namespace eshift
