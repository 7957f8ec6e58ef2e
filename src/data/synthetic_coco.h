#pragma once
// A generated COCO dataset of coloured shapes ("shapes COCO", `eshift make-coco-shapes`): small
// enough for a small Mask R-CNN to learn on a CPU in minutes, in exactly the layout and with the
// annotation kinds `--data coco` reads (coco_dataset.h):
//   DIR/annotations/instances_{train,val}2017.json, DIR/{train,val}2017/<id, 12 digits>.jpg,
//   DIR/generator.json (the arguments and counts; written last: its presence means complete).
//
// Each image (sides drawn from min_side..max_side) is a textured background (low-frequency
// coloured noise, bilinear between 4..7 random control colours a side, plus per-pixel noise) with
// 1–4 objects. An object's *shape* is its category (rectangle, ellipse, triangle, diamond, star:
// the first `categories` of them, ids 3, 7, 11, 20, 24, deliberately not 1..K); its colour is
// random, chosen to contrast with the background under it, with per-pixel noise. Sizes: 12 pixels
// to 0.6 × the image's shorter side. Objects overlap little: an object is placed only where it
// leaves every earlier one at least 85% visible (rejection sampling), so an earlier object's full
// polygon stays a good mask of it. A shape is painted exactly on the pixels of its polygon's COCO
// rasterization (coco_mask.h), so painting and annotation agree pixel for pixel.
//
// Annotations: non-crowd objects have one polygon (vertices to 0.01 px), bbox = the polygon's
// extent, area = its shoelace area, iscrowd 0. About 10% of the images also hold a crowd region:
// a cluster of 6–12 small shapes (5–8 pixels) of one category, annotated as one iscrowd 1 region with an
// uncompressed RLE ({"counts": [...], "size": [h, w]}), bbox its extent, area its pixel count.
// Objects do not touch a crowd region's pixels.
//
// Image ids: train 1..N, val N+1..N+M; annotation ids unique across both splits. Every image is
// drawn from its own generator (std::mt19937_64, seeded from seed, split and position, with
// eshift's own mappings to numbers: no std::*_distribution), so the output is byte-identical for
// a seed, whatever the standard library or number of threads, and the first n images of a split do
// not depend on how many are made.
#include <cstdint>
#include <string>

namespace eshift {

struct ShapesCocoOptions {
  int train_images = 300, val_images = 100;
  int min_side = 64, max_side = 128;
  int categories = 4;  // 1..kShapesCocoKinds
  uint64_t seed = 0;
  int jpeg_quality = 90;
  int threads = 1;  // images generated at once (the output does not depend on it)
};

// The shapes the generator draws: rectangle, ellipse, triangle, diamond, star.
constexpr int kShapesCocoKinds = 5;

struct ShapesCocoSummary {
  int64_t train_images = 0, val_images = 0, objects = 0, crowd_regions = 0;
};

// Throws std::invalid_argument, one line naming the CLI flag (--train, --val, --categories,
// --min-side, --max-side, --jpeg-quality, --threads), for an option out of range.
void check_shapes_coco_options(const ShapesCocoOptions& options);

// What generator.json records of `options` under "arguments", as JSON text (keys are the flags'
// names, with the generator's version): two sets with equal arguments are byte-identical.
std::string shapes_coco_arguments(const ShapesCocoOptions& options);

// Writes the dataset into `dir` (created; files there of the same names are replaced) and returns
// its counts. Throws as check_shapes_coco_options, or std::runtime_error naming a file it cannot
// write.
ShapesCocoSummary write_shapes_coco(const std::string& dir, const ShapesCocoOptions& options);

}  // namespace eshift
