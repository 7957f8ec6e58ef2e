#pragma once
// COCO's instance masks: run-length encoding (RLE), polygon rasterization, area, bounding box, IoU
// and COCO's compressed RLE string, with the semantics of COCO's published mask API (cocoapi's
// maskApi.c as pycocotools 2.0.11 ships it: its rleToBbox skips runs of length zero, the original
// did not), tested against pycocotools (tests/data/test_coco_mask.cpp).
//
// Conventions (COCO's):
//   - An RLE of an h×w mask runs over the pixels in column-major order (x outer, y inner): pixel
//     (x, y) is number x·h + y. counts[0] is a run of zeros (0 when the mask starts with a one),
//     then runs alternate ones, zeros, … The counts sum to h·w.
//   - Masks handed to or returned by this file as bytes are row-major [h][w], 0 or 1 (a tensor's
//     layout); only the runs are column-major.
//   - Boxes are [x, y, width, height] in pixels.
//   - The compressed string: each count c_i, from the fourth on replaced by c_i − c_{i−2} (sic:
//     COCO deltas from index 3, not 2), as a signed LEB128-like number in 5-bit groups, low group
//     first, each group + 48 as a character (0x20 in a group: more follow; 0x10 in the last: the
//     number is negative).
//   - Polygon rasterization (COCO's rleFrPoly): vertices scaled by 5 and rounded, the boundary
//     traced densely between them, and pixel (x, y) is inside where the boundary crosses the
//     column x below it an odd number of times: the pixel-exact masks of every COCO annotation file.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace eshift::coco {

using Box = std::array<double, 4>;  // x, y, width, height

// The largest mask, in pixels (its positions must fit COCO's int arithmetic): 2^31 − 1.
constexpr int64_t kMaxMaskPixels = 2147483647;
// How far outside its image a polygon's vertex may lie, in image sides (max(h, w)): pycocotools
// rasterizes any, but tracing the edges of a vertex 10^8 pixels away takes gigabytes.
constexpr double kPolygonReach = 8;

struct Rle {
  uint32_t height = 0, width = 0;
  std::vector<uint32_t> counts;
};

// Run lengths of a row-major h×w mask (any non-zero byte is a one).
Rle rle_encode(const uint8_t* mask, uint32_t height, uint32_t width);
// The row-major h×w mask of `rle` (0/1 bytes). Throws std::invalid_argument when its counts do not
// sum to h·w.
std::vector<uint8_t> rle_decode(const Rle& rle);

// One polygon [x0, y0, x1, y1, …] rasterized at h×w, as pycocotools does any of at least one point
// (one or two points: an empty mask; an odd last coordinate is left out). Throws
// std::invalid_argument for a vertex farther than kPolygonReach image sides or a mask over
// kMaxMaskPixels (as every function here that builds one).
Rle rle_from_polygon(const std::vector<double>& xy, uint32_t height, uint32_t width);
// A box rasterized as the polygon of its corners (COCO's rleFrBbox), clipped to a pixel around the
// image first (the same mask).
Rle rle_from_box(const Box& box, uint32_t height, uint32_t width);
// The union of masks of one size (COCO's rleMerge, intersect = 0): one mask is returned as it is;
// masks of different sizes give an empty 0×0 RLE, as COCO's does.
Rle rle_union(const std::vector<Rle>& rles);

uint64_t rle_area(const Rle& rle);  // number of ones
Box rle_to_box(const Rle& rle);     // tightest box around the ones (all zeros: 0, 0, 0, 0)

// Intersection over union of a detection and a ground-truth region. Against a crowd region (COCO's
// iscrowd = 1) the denominator is the detection's area alone: a detection inside a crowd counts as
// a match with it. The mask version needs the boxes of both (rle_to_box), as COCO's computes them
// first and compares masks only where the boxes overlap; it gives −1 for masks of different sizes
// whose boxes overlap, as COCO's does, and 0 when they do not.
double box_iou(const Box& detection, const Box& truth, bool crowd);
double mask_iou(const Rle& detection, const Box& detection_box, const Rle& truth, const Box& truth_box,
                bool crowd);

// COCO's compressed counts string (above) and back. Parsing throws std::invalid_argument on a
// character outside '0'..'o', a number that does not end or does not fit, or counts that do not
// sum to h·w.
std::string rle_to_string(const Rle& rle);
Rle rle_from_string(std::string_view text, uint32_t height, uint32_t width);
// Uncompressed counts (COCO's {"counts": [..], "size": [h, w]}), checked to sum to h·w.
Rle rle_from_counts(std::vector<uint32_t> counts, uint32_t height, uint32_t width);

}  // namespace eshift::coco
