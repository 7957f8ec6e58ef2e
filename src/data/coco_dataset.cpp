#include "eshift/data/coco_dataset.h"

#include <cstdio>
#include <cstring>

#include "eshift/core/checksum.h"
#include "eshift/core/errors.h"
#include "eshift/core/file_bytes.h"
#include "eshift/data/jpeg.h"

namespace eshift {

namespace {

// torchvision's _has_only_empty_bbox: every box at most 1 pixel wide or high.
bool only_empty_boxes(const CocoAnnotationFile& file, const std::vector<size_t>& annotations) {
  for (size_t a : annotations) {
    const auto& box = *file.annotations[a].bbox;
    if (box[2] > 1 && box[3] > 1) return false;
  }
  return true;
}

}  // namespace

CocoDataset::CocoDataset(const std::string& dir, const std::string& split, const DataOptions& options)
    : dir_(dir), split_(split), options_(options) {
  if (split != "train" && split != "val") throw std::invalid_argument("a COCO split is train or val, not '" + split + "'");
  annotations_ = read_coco_annotations(dir + "/annotations/instances_" + split + "2017.json");
  std::vector<std::vector<size_t>> by_image(annotations_.images.size());
  for (size_t a = 0; a < annotations_.annotations.size(); ++a)
    by_image[annotations_.image_index.at(annotations_.annotations[a].image_id)].push_back(a);
  const bool training = split == "train";
  for (size_t i = 0; i < annotations_.images.size(); ++i) {
    if (training && (by_image[i].empty() || only_empty_boxes(annotations_, by_image[i]))) {
      ++repairs_.images_skipped;
      continue;
    }
    const CocoImage& info = annotations_.images[i];
    Image image{i, {}, {}};
    for (size_t a : by_image[i]) {
      const CocoAnnotation& ann = annotations_.annotations[a];
      if (ann.iscrowd) {
        ++repairs_.crowd_regions;
        continue;
      }
      // torchvision's ConvertCocoPolysToMask, in float32: x2 = x + w, y2 = y + h, clamped
      const auto& b = *ann.bbox;
      std::array<float, 4> box{float(b[0]), float(b[1]), float(b[0]) + float(b[2]), float(b[1]) + float(b[3])};
      const std::array<float, 4> unclipped = box;
      const float limit[4] = {float(info.width), float(info.height), float(info.width), float(info.height)};
      for (int k = 0; k < 4; ++k) box[k] = std::min(std::max(box[k], 0.0f), limit[k]);
      if (!(box[3] > box[1] && box[2] > box[0])) {
        ++repairs_.boxes_dropped;
        continue;
      }
      if (box != unclipped) ++repairs_.boxes_clipped;
      image.annotations.push_back(a);
      image.boxes.push_back(box);
    }
    images_.push_back(std::move(image));
  }
  // Masks for every target, or for none (a detection-only file): a target without its mask would
  // silently teach an empty one.
  const CocoAnnotation* with = nullptr;
  const CocoAnnotation* without = nullptr;
  for (const auto& image : images_)
    for (size_t a : image.annotations)
      (annotations_.annotations[a].segmentation.empty() ? without : with) = &annotations_.annotations[a];
  if (with && without)
    throw DataError(annotations_.path + ": annotation " + std::to_string(without->id) +
                    " has no segmentation, but others (" + std::to_string(with->id) + ") have");
  has_masks_ = with != nullptr;
}

int64_t CocoDataset::category_id(int64_t label) const {
  TORCH_CHECK(label >= 1 && label < num_classes(), "label ", label, " is not a category (1..", num_classes() - 1, ")");
  return annotations_.categories[size_t(label - 1)].id;
}

int64_t CocoDataset::image_id(int64_t index) const {
  TORCH_CHECK(index >= 0 && index < size(), "image ", index, " of a set of ", size());
  return annotations_.images[images_[size_t(index)].image].id;
}

std::shared_ptr<const CocoDataset> CocoDataset::head(int64_t n) const {
  TORCH_CHECK(n >= 1 && n <= size(), "a head of ", n, " images out of ", size());
  auto out = std::make_shared<CocoDataset>(*this);
  out->images_.resize(size_t(n));
  return out;
}

std::string CocoDataset::summary() const {
  int64_t targets = 0;
  for (const auto& image : images_) targets += int64_t(image.annotations.size());
  char line[400];
  std::snprintf(line, sizeof line,
                "COCO %s: %lld images (%lld skipped: nothing to learn from), %lld categories, %lld objects "
                "(%lld crowd regions left out of the targets, %lld boxes clipped to their image, %lld dropped: "
                "empty once clipped)",
                split_.c_str(), (long long)size(), (long long)repairs_.images_skipped,
                (long long)annotations_.categories.size(), (long long)targets, (long long)repairs_.crowd_regions,
                (long long)repairs_.boxes_clipped, (long long)repairs_.boxes_dropped);
  return line;
}

std::string CocoDataset::fingerprint() const {
  // file names, categories and the targets: not the folder's path
  std::string list;
  for (const auto& c : annotations_.categories) list += std::to_string(c.id) + " " + c.name + "\n";
  for (const auto& image : images_) {
    list += annotations_.images[image.image].file_name;
    for (size_t a : image.annotations) list += " " + std::to_string(annotations_.annotations[a].id);
    list += "\n";
  }
  char crc[128];
  std::snprintf(crc, sizeof crc, "%lld images, %lld classes, targets %08x", (long long)size(),
                (long long)num_classes(), crc32c(list.data(), list.size()));
  return crc;
}

DetectionExample CocoDataset::read(int64_t index) const {
  TORCH_CHECK(index >= 0 && index < size(), "image ", index, " of a set of ", size());
  const Image& image = images_[size_t(index)];
  const CocoImage& info = annotations_.images[image.image];
  const std::string path = dir_ + "/" + split_ + "2017/" + info.file_name;
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  RgbImage rgb = decode_jpeg(bytes.data(), bytes.size(), 1, path, options_.max_image_pixels);
  if (uint32_t(rgb.height) != info.height || uint32_t(rgb.width) != info.width)
    throw DataError(path + ": the image is " + std::to_string(rgb.height) + "x" + std::to_string(rgb.width) +
                    ", its annotation says " + std::to_string(info.height) + "x" + std::to_string(info.width));
  const int64_t h = rgb.height, w = rgb.width;
  // a copy (clone: a 1×1 image's permuted view is already "contiguous", and rgb dies here)
  torch::Tensor pixels = torch::from_blob(rgb.pixels.data(), {h, w, 3}, torch::kUInt8).permute({2, 0, 1}).clone(
      at::MemoryFormat::Contiguous);

  DetectionTarget target;
  target.image_id = info.id;
  const int64_t n = int64_t(image.annotations.size());
  target.boxes = torch::empty({n, 4}, torch::kFloat32);
  target.labels = torch::empty({n}, torch::kInt64);
  target.masks = torch::zeros({n, h, w}, torch::kUInt8);
  if (!has_masks_) target.masks = torch::Tensor();
  auto boxes = target.boxes.accessor<float, 2>();
  auto labels = target.labels.accessor<int64_t, 1>();
  for (int64_t k = 0; k < n; ++k) {
    const CocoAnnotation& ann = annotations_.annotations[image.annotations[size_t(k)]];
    for (int j = 0; j < 4; ++j) boxes[k][j] = image.boxes[size_t(k)][size_t(j)];
    labels[k] = int64_t(annotations_.category_index.at(ann.category_id)) + 1;
    if (has_masks_) {
      const std::vector<uint8_t> mask = coco::rle_decode(annotation_mask(ann, info));
      std::memcpy(target.masks[k].data_ptr<uint8_t>(), mask.data(), mask.size());
    }
  }
  target.original_size = target.size = {h, w};
  return {pixels, std::move(target)};
}

DetectionExample CocoDataset::get(int64_t index, const DetectionTransform& transform, int64_t position) const {
  DetectionExample e = read(index);
  return transform.apply(e.image, std::move(e.target), position);
}

}  // namespace eshift
