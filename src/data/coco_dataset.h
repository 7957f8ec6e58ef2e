#pragma once
// COCO detection and instance segmentation data (--data coco): the official layout
//   DIR/annotations/instances_{train,val}2017.json   (coco_annotations.h)
//   DIR/{train,val}2017/<file_name>                  (JPEGs, through data/jpeg.h)
// and its images with their targets (detection.h), as torchvision's detection reference prepares
// them (references/detection/coco_utils.py):
//   - crowd regions (iscrowd = 1) are not training targets (evaluation scores them as "ignore");
//   - boxes [x, y, w, h] become x1, y1, x2, y2 (float32), clipped to the image; a box left with no
//     width or height is dropped with its mask (counted: repairs());
//   - training skips the images with no annotation, or whose every box is at most 1 pixel wide or
//     high (counted); evaluation keeps every image;
//   - a mask is the union of an annotation's polygons (or its RLE) at the image's size; a file
//     gives masks for every training target or for none (then targets have no masks);
//   - labels are 1..K in the order of the file's categories; category_id() maps them back to
//     COCO's ids for results files.
// An image file that is missing, damaged or of another size than its annotation says is a
// DataError naming the file (the loader skips it, counted, unless --bad-images fatal).
#include <memory>
#include <string>
#include <vector>

#include "eshift/data/coco_annotations.h"
#include "eshift/data/dataset.h"
#include "eshift/data/detection.h"

namespace eshift {

struct CocoRepairs {
  int64_t crowd_regions = 0;    // left out of the training targets
  int64_t boxes_clipped = 0;    // reaching outside their image
  int64_t boxes_dropped = 0;    // no width or height once clipped
  int64_t images_skipped = 0;   // training: nothing to learn from
};

class CocoDataset {
 public:
  // split: "train" or "val" (train2017 / val2017); training skips images as above.
  CocoDataset(const std::string& dir, const std::string& split, const DataOptions& options = {});

  int64_t size() const { return int64_t(images_.size()); }
  int64_t num_classes() const { return int64_t(annotations_.categories.size()) + 1; }  // with the background
  int64_t category_id(int64_t label) const;
  int64_t image_id(int64_t index) const;
  const CocoAnnotationFile& annotations() const { return annotations_; }
  const CocoRepairs& repairs() const { return repairs_; }
  std::string summary() const;      // one line: images, annotations, categories, repairs
  std::string fingerprint() const;  // as Dataset::fingerprint(): what the examples are, with a CRC-32C
  bool fatal_unreadable() const { return options_.bad_images_fatal; }
  bool has_masks() const { return has_masks_; }  // every target has a mask (else none has)
  // The first n images (1 <= n <= size()) as a dataset of their own (--train-subset, --test-subset).
  std::shared_ptr<const CocoDataset> head(int64_t n) const;

  // Image `index` decoded with its target at its own size, before any transform.
  DetectionExample read(int64_t index) const;
  // read(index) through `transform` at epoch position `position`.
  DetectionExample get(int64_t index, const DetectionTransform& transform, int64_t position) const;

 private:
  struct Image {
    size_t image;                      // in annotations_.images
    std::vector<size_t> annotations;   // the training targets, in file order
    std::vector<std::array<float, 4>> boxes;  // theirs, x1 y1 x2 y2, clipped
  };
  std::string dir_, split_;
  DataOptions options_;
  CocoAnnotationFile annotations_;
  std::vector<Image> images_;
  CocoRepairs repairs_;
  bool has_masks_ = false;
};

}  // namespace eshift
