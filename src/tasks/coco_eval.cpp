#include "eshift/tasks/coco_eval.h"

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <unordered_map>

#include "eshift/core/errors.h"

namespace eshift {

namespace {

constexpr int kThresholds = 10, kRecallPoints = 101, kAreas = 4, kMaxDetSettings = 3;
constexpr int kMaxDets[kMaxDetSettings] = {1, 10, 100};
constexpr double kAreaRanges[kAreas][2] = {{0, 1e10}, {0, 32 * 32}, {32 * 32, 96 * 96}, {96 * 96, 1e10}};
constexpr double kSpacing1 = 2.220446049250313e-16;  // numpy's spacing(1): precision's guard

// numpy.linspace(start, stop, n): start + i·step, the last exactly stop.
template <int N>
std::array<double, N> linspace(double start, double stop) {
  std::array<double, N> out{};
  const double step = (stop - start) / (N - 1);
  for (int i = 0; i < N; ++i) out[i] = i * step + start;
  out[N - 1] = stop;
  return out;
}
const std::array<double, kThresholds> kIouThresholds = linspace<kThresholds>(0.5, 0.95);
const std::array<double, kRecallPoints> kRecallThresholds = linspace<kRecallPoints>(0.0, 1.0);

// A region as the IoU needs it: a box, or a mask (its own, or the file's when it is an RLE there)
// with its box.
struct Region {
  coco::Box box{};
  coco::Rle owned;
  const coco::Rle* file_mask = nullptr;
  const coco::Rle& mask() const { return file_mask ? *file_mask : owned; }
};

// The mask of an annotation or detection: its RLE as read, or its polygons rasterized.
void set_mask(Region& region, const CocoAnnotation& a, const CocoImage& image) {
  if (a.segmentation.rle)
    region.file_mask = &*a.segmentation.rle;
  else
    region.owned = annotation_mask(a, image);
}

struct Truth {
  int64_t id;
  bool crowd;
  double area;
  Region region;
};

struct Detection {
  int64_t id;
  double score, area;
  Region region;
};

// The annotations and detections of one category in one image.
struct Cell {
  int category = 0, image = 0;  // positions among the sorted ids
  std::vector<const CocoAnnotation*> truths, detections;
};

// A detection after matching in one image, for one area range: whether it is a true positive at
// each threshold (bit t) and whether it is ignored there.
struct Outcome {
  uint16_t matched = 0, ignored = 0;
};

bool outside(double area, int range) { return area < kAreaRanges[range][0] || area > kAreaRanges[range][1]; }

double iou(const Region& d, const Region& g, bool crowd, CocoIouType type) {
  if (type == CocoIouType::Bbox) return coco::box_iou(d.box, g.box, crowd);
  return coco::mask_iou(d.mask(), d.box, g.mask(), g.box, crowd);
}

// Per-image matching (pycocotools' evaluateImg) of the score-sorted detections against the truths
// for one area range; adds the truths not ignored to `not_ignored`.
std::vector<Outcome> match_image(const std::vector<Truth>& truths, const std::vector<Detection>& detections,
                                 const std::vector<double>& ious, int range, int64_t& not_ignored) {
  const size_t G = truths.size(), D = detections.size();
  // truths not ignored first, each group in its order
  std::vector<size_t> order(G);
  std::iota(order.begin(), order.end(), 0);
  std::vector<uint8_t> ignore(G);
  for (size_t g = 0; g < G; ++g) ignore[g] = truths[g].crowd || outside(truths[g].area, range);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return ignore[a] < ignore[b]; });
  for (size_t g = 0; g < G; ++g) not_ignored += !ignore[g];

  std::vector<Outcome> outcomes(D);
  std::vector<int64_t> truth_taken(G);  // the detection id that took it (pycocotools' gtm)
  for (int t = 0; t < kThresholds; ++t) {
    std::fill(truth_taken.begin(), truth_taken.end(), 0);
    for (size_t d = 0; d < D; ++d) {
      double best = std::min(kIouThresholds[t], 1 - 1e-10);
      long m = -1;
      for (size_t j = 0; j < G; ++j) {
        const size_t g = order[j];
        if (truth_taken[j] > 0 && !truths[g].crowd) continue;
        if (m > -1 && !ignore[order[m]] && ignore[g]) break;
        const double value = ious[d * G + g];
        if (value < best) continue;
        best = value;
        m = long(j);
      }
      bool matched = false;  // pycocotools' dtm != 0: a truth of id 0 never counts as a match
      if (m > -1) {
        const size_t g = order[m];
        if (ignore[g]) outcomes[d].ignored |= uint16_t(1u << t);
        matched = truths[g].id != 0;
        truth_taken[m] = detections[d].id;
      }
      if (matched)
        outcomes[d].matched |= uint16_t(1u << t);
      else if (outside(detections[d].area, range))
        outcomes[d].ignored |= uint16_t(1u << t);
    }
  }
  return outcomes;
}

// Sums of the precision and recall tables over categories, per threshold, area and maxDets, and how
// many entries are not −1.
struct Totals {
  double precision[kThresholds][kAreas][kMaxDetSettings] = {};
  int64_t precision_count[kThresholds][kAreas][kMaxDetSettings] = {};
  double recall[kThresholds][kAreas][kMaxDetSettings] = {};
  int64_t recall_count[kThresholds][kAreas][kMaxDetSettings] = {};
};

// One detection of a category across images, for accumulation.
struct Scored {
  double score;
  int rank;  // its place among its image's detections by score
};

// pycocotools' accumulate for one category, area and maxDets: adds its precision and recall.
void accumulate(const std::vector<Scored>& scored, const std::vector<size_t>& by_score,
                const std::vector<Outcome>& outcomes, int64_t not_ignored, int range, int max_det_setting,
                Totals& totals, std::vector<double>& recall, std::vector<double>& precision) {
  const int max_det = kMaxDets[max_det_setting];
  for (int t = 0; t < kThresholds; ++t) {
    const uint16_t bit = uint16_t(1u << t);
    recall.clear();
    precision.clear();
    double tp = 0, fp = 0;
    for (size_t i : by_score) {
      if (scored[i].rank >= max_det) continue;
      const Outcome& o = outcomes[i];
      if (!(o.ignored & bit)) (o.matched & bit ? tp : fp) += 1;
      recall.push_back(tp / double(not_ignored));
      precision.push_back(tp / (fp + tp + kSpacing1));
    }
    const size_t n = recall.size();
    totals.recall[t][range][max_det_setting] += n ? recall.back() : 0;
    totals.recall_count[t][range][max_det_setting] += 1;
    for (size_t i = n; i-- > 1;)
      if (precision[i] > precision[i - 1]) precision[i - 1] = precision[i];
    double sum = 0;
    size_t at = 0;  // numpy.searchsorted(recall, point, 'left')
    for (double point : kRecallThresholds) {
      while (at < n && recall[at] < point) ++at;
      if (at >= n) break;
      sum += precision[at];
    }
    totals.precision[t][range][max_det_setting] += sum;
    totals.precision_count[t][range][max_det_setting] += kRecallPoints;
  }
}

}  // namespace

std::string to_string(CocoIouType type) { return type == CocoIouType::Bbox ? "bbox" : "segm"; }

CocoIouType parse_coco_iou_type(const std::string& text) {
  if (text == "bbox") return CocoIouType::Bbox;
  if (text == "segm") return CocoIouType::Segm;
  throw std::invalid_argument("the IoU type is bbox or segm, not '" + text + "'");
}

CocoStats evaluate_coco(const CocoAnnotationFile& truth, const std::vector<CocoAnnotation>& detections,
                        CocoIouType type, const std::optional<std::vector<int64_t>>& only_images) {
  // Images and categories in the order of their ids (pycocotools sorts both).
  std::vector<int64_t> image_ids, category_ids;
  if (only_images) {
    for (int64_t id : *only_images)
      if (!truth.image_index.count(id))
        throw DataError("image " + std::to_string(id) + " is not among the images of " + truth.path);
    image_ids = *only_images;
  } else {
    for (const auto& image : truth.images) image_ids.push_back(image.id);
  }
  for (const auto& category : truth.categories) category_ids.push_back(category.id);
  std::sort(image_ids.begin(), image_ids.end());
  image_ids.erase(std::unique(image_ids.begin(), image_ids.end()), image_ids.end());
  std::sort(category_ids.begin(), category_ids.end());
  std::unordered_map<int64_t, int> image_order, category_order;
  for (size_t i = 0; i < image_ids.size(); ++i) image_order[image_ids[i]] = int(i);
  for (size_t k = 0; k < category_ids.size(); ++k) category_order[category_ids[k]] = int(k);

  // The cells, in the order of category, then image.
  std::vector<Cell> cells;
  std::unordered_map<int64_t, size_t> cell_of;
  auto cell = [&](int64_t image_id, int64_t category_id) -> Cell* {
    auto k = category_order.find(category_id);
    if (k == category_order.end()) return nullptr;  // not scored
    auto image = image_order.find(image_id);
    if (image == image_order.end()) return nullptr;  // not among the images evaluated
    const int i = image->second;
    const int64_t key = int64_t(k->second) * int64_t(image_ids.size()) + i;
    auto [it, added] = cell_of.emplace(key, cells.size());
    if (added) cells.push_back(Cell{k->second, i, {}, {}});
    return &cells[it->second];
  };
  for (const auto& a : truth.annotations)
    if (Cell* c = cell(a.image_id, a.category_id)) c->truths.push_back(&a);
  for (const auto& d : detections)
    if (Cell* c = cell(d.image_id, d.category_id)) c->detections.push_back(&d);
  std::sort(cells.begin(), cells.end(), [](const Cell& a, const Cell& b) {
    return a.category != b.category ? a.category < b.category : a.image < b.image;
  });

  // A detection's area: its box's, when the file's first detection has a box (pycocotools' loadRes).
  const bool areas_from_boxes = !detections.empty() && detections.front().bbox.has_value();
  auto image_of = [&](int64_t image_id) -> const CocoImage& { return truth.images[truth.image_index.at(image_id)]; };
  auto truth_of = [&](const CocoAnnotation& a, bool with_region) {
    Truth t{a.id, a.iscrowd, a.area, {}};
    if (!with_region) {  // no detection to compare with: only counted
    } else if (type == CocoIouType::Bbox) {
      t.region.box = *a.bbox;
    } else {
      if (a.segmentation.empty())
        throw DataError(truth.path + ": annotation " + std::to_string(a.id) +
                        " has no segmentation (segm evaluation needs one)");
      set_mask(t.region, a, image_of(a.image_id));
      t.region.box = coco::rle_to_box(t.region.mask());
    }
    return t;
  };
  auto detection_of = [&](const CocoAnnotation& d) {
    Detection out{d.id, d.score, 0, {}};
    const bool needs_mask = type == CocoIouType::Segm || !d.bbox || !areas_from_boxes;
    if (needs_mask) {
      if (!d.segmentation.empty())
        set_mask(out.region, d, image_of(d.image_id));
      else if (d.bbox) {
        const CocoImage& image = image_of(d.image_id);
        out.region.owned = coco::rle_from_box(*d.bbox, image.height, image.width);
      }
    }
    if (areas_from_boxes) {
      if (!d.bbox)
        throw DataError("detection " + std::to_string(d.id) +
                        " has no bbox, but the first detection of its file has one");
      out.area = (*d.bbox)[2] * (*d.bbox)[3];
    } else {
      out.area = double(coco::rle_area(out.region.mask()));
    }
    out.region.box = type == CocoIouType::Segm || !d.bbox ? coco::rle_to_box(out.region.mask()) : *d.bbox;
    return out;
  };

  Totals totals;
  std::vector<double> recall, precision;
  for (size_t begin = 0; begin < cells.size();) {
    const int category = cells[begin].category;
    size_t end = begin;
    while (end < cells.size() && cells[end].category == category) ++end;
    // Match every image of the category, keeping each detection's score, rank and outcomes.
    std::vector<Scored> scored;
    std::vector<Outcome> outcomes[kAreas];
    int64_t not_ignored[kAreas] = {};
    for (size_t c = begin; c < end; ++c) {
      std::vector<const CocoAnnotation*> dts = cells[c].detections;
      std::stable_sort(dts.begin(), dts.end(), [](auto* a, auto* b) { return a->score > b->score; });
      if (dts.size() > size_t(kMaxDets[kMaxDetSettings - 1])) dts.resize(kMaxDets[kMaxDetSettings - 1]);
      std::vector<Truth> gts;
      for (const auto* a : cells[c].truths) gts.push_back(truth_of(*a, !dts.empty()));
      std::vector<Detection> ds;
      for (const auto* d : dts) ds.push_back(detection_of(*d));
      std::vector<double> ious(ds.size() * gts.size());
      for (size_t d = 0; d < ds.size(); ++d)
        for (size_t g = 0; g < gts.size(); ++g) ious[d * gts.size() + g] = iou(ds[d].region, gts[g].region, gts[g].crowd, type);
      for (size_t d = 0; d < ds.size(); ++d) scored.push_back({ds[d].score, int(d)});
      for (int a = 0; a < kAreas; ++a) {
        auto image_outcomes = match_image(gts, ds, ious, a, not_ignored[a]);
        outcomes[a].insert(outcomes[a].end(), image_outcomes.begin(), image_outcomes.end());
      }
    }
    // Accumulate: all the category's detections by score, ties in image order, then rank.
    std::vector<size_t> by_score(scored.size());
    std::iota(by_score.begin(), by_score.end(), 0);
    std::stable_sort(by_score.begin(), by_score.end(),
                     [&](size_t a, size_t b) { return scored[a].score > scored[b].score; });
    for (int a = 0; a < kAreas; ++a) {
      if (not_ignored[a] == 0) continue;  // no truth to find: −1 in pycocotools' tables
      for (int m = 0; m < kMaxDetSettings; ++m)
        accumulate(scored, by_score, outcomes[a], not_ignored[a], a, m, totals, recall, precision);
    }
    begin = end;
  }

  // summarize(): the means of the tables' entries that are not −1.
  auto mean = [&](bool ap, std::optional<double> threshold, int range, int max_det) {
    const int m = int(std::find(kMaxDets, kMaxDets + kMaxDetSettings, max_det) - kMaxDets);
    double sum = 0;
    int64_t count = 0;
    for (int t = 0; t < kThresholds; ++t) {
      if (threshold && kIouThresholds[t] != *threshold) continue;
      sum += ap ? totals.precision[t][range][m] : totals.recall[t][range][m];
      count += ap ? totals.precision_count[t][range][m] : totals.recall_count[t][range][m];
    }
    return count == 0 ? -1.0 : sum / double(count);
  };
  return {mean(true, {}, 0, 100),      mean(true, 0.5, 0, 100),   mean(true, 0.75, 0, 100),
          mean(true, {}, 1, 100),      mean(true, {}, 2, 100),    mean(true, {}, 3, 100),
          mean(false, {}, 0, 1),       mean(false, {}, 0, 10),    mean(false, {}, 0, 100),
          mean(false, {}, 1, 100),     mean(false, {}, 2, 100),   mean(false, {}, 3, 100)};
}

std::string format_coco_stats(const CocoStats& stats) {
  struct Line {
    bool ap;
    const char* iou;
    const char* area;
    int max_dets;
  };
  static const Line lines[12] = {
      {true, "0.50:0.95", "all", 100},   {true, "0.50", "all", 100},      {true, "0.75", "all", 100},
      {true, "0.50:0.95", "small", 100}, {true, "0.50:0.95", "medium", 100}, {true, "0.50:0.95", "large", 100},
      {false, "0.50:0.95", "all", 1},    {false, "0.50:0.95", "all", 10}, {false, "0.50:0.95", "all", 100},
      {false, "0.50:0.95", "small", 100}, {false, "0.50:0.95", "medium", 100}, {false, "0.50:0.95", "large", 100}};
  std::string out;
  char line[160];
  for (int i = 0; i < 12; ++i) {
    const Line& l = lines[i];
    std::snprintf(line, sizeof line, " %-18s %s @[ IoU=%-9s | area=%6s | maxDets=%3d ] = %0.3f\n",
                  l.ap ? "Average Precision" : "Average Recall", l.ap ? "(AP)" : "(AR)", l.iou, l.area,
                  l.max_dets, stats[i]);
    out += line;
  }
  return out;
}

}  // namespace eshift
