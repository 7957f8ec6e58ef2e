#pragma once
// COCO's detection and instance-segmentation metrics, with the published protocol and pycocotools'
// arithmetic (COCOeval: evaluate, accumulate, summarize), so that every number equals pycocotools'
// to float64 rounding (make interop checks it to 1e-9 on generated files; tests/tasks hand-built
// cases whose AP is known exactly).
//
// The protocol, per category c (COCO's ids, all of the annotation file's) and image:
//   - ground truth: the image's annotations of c; a crowd region (iscrowd = 1) is "ignored": a
//     detection matched to it is neither a true nor a false positive. In an area range, annotations
//     whose `area` field lies outside it are ignored too.
//   - detections: the image's detections of c sorted by score (highest first, ties in file order),
//     the first maxDets (1, 10, 100) kept. IoU of boxes [x, y, w, h], or of masks (coco_mask.h); a
//     detection's area is its box's w·h or its mask's area (see below).
//   - matching, at each IoU threshold t in .50:.05:.95: each detection in score order takes the
//     unmatched annotation (a crowd region may take many) of highest IoU ≥ min(t, 1 − 1e-10),
//     preferring annotations that are not ignored; unmatched detections whose area is outside the
//     range are ignored.
//   - accumulation over the images: detections sorted by score (ties: image id, then rank),
//     precision pr_i = TP_i / (TP_i + FP_i + 2^-52) and recall TP_i / (annotations not ignored),
//     precision made non-increasing from the right, read at the 101 recall points 0:.01:1 (the
//     first detection reaching each, 0 past the last): AP is their mean; recall is the last.
//   - the 12 numbers (pycocotools' `stats`): AP at IoU .50:.95, .50, .75 (area all, 100
//     detections), AP for small (< 32²), medium, large (> 96²) areas; AR with 1, 10, 100
//     detections; AR for small, medium, large. Each averages over the categories (and thresholds)
//     that have ground truth not ignored; −1 where none has.
// pycocotools' quirks, kept: an annotation or detection with id 0 is never matched; a results file
// whose first detection has a bbox gives every detection the area of its bbox, also in segm
// evaluation (loadRes's bbox branch); a detection without a mask is its box's polygon in segm
// evaluation, one without a box gets its mask's box in bbox evaluation.
#include <array>
#include <optional>
#include <string>
#include <vector>

#include "eshift/data/coco_annotations.h"

namespace eshift {

enum class CocoIouType { Bbox, Segm };

std::string to_string(CocoIouType type);  // "bbox" or "segm"
CocoIouType parse_coco_iou_type(const std::string& text);  // std::invalid_argument unless bbox or segm

using CocoStats = std::array<double, 12>;

// The 12 numbers of `detections` (read_coco_results) against `truth`, over all its images or only
// `image_ids` (pycocotools' params.imgIds: what an evaluation of part of a set sets). Throws
// DataError when segm evaluation meets an annotation without a segmentation or a detection without
// box and mask, or when a detection lacks the box its file's first detection has.
CocoStats evaluate_coco(const CocoAnnotationFile& truth, const std::vector<CocoAnnotation>& detections,
                        CocoIouType type, const std::optional<std::vector<int64_t>>& image_ids = std::nullopt);

// The 12 lines pycocotools' summarize() prints, e.g.
//  Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.378
std::string format_coco_stats(const CocoStats& stats);

}  // namespace eshift
