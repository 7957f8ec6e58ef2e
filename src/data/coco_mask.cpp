#include "eshift/data/coco_mask.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <stdexcept>

namespace eshift::coco {

namespace {

void check_size(uint32_t height, uint32_t width) {
  if (uint64_t(height) * width > uint64_t(kMaxMaskPixels))
    throw std::invalid_argument("a mask of " + std::to_string(height) + "x" + std::to_string(width) +
                                " is over 2^31 - 1 pixels");
}

void check_sum(const Rle& rle) {
  uint64_t sum = 0;
  for (uint32_t c : rle.counts) sum += c;
  if (sum != uint64_t(rle.height) * rle.width)
    throw std::invalid_argument("mask run lengths sum to " + std::to_string(sum) + ", not height·width = " +
                                std::to_string(uint64_t(rle.height) * rle.width));
}

}  // namespace

Rle rle_encode(const uint8_t* mask, uint32_t height, uint32_t width) {
  Rle rle{height, width, {}};
  uint8_t previous = 0;
  uint32_t run = 0;
  for (uint32_t x = 0; x < width; ++x)
    for (uint32_t y = 0; y < height; ++y) {
      const uint8_t value = mask[size_t(y) * width + x] != 0;
      if (value != previous) {
        rle.counts.push_back(run);
        run = 0;
        previous = value;
      }
      ++run;
    }
  rle.counts.push_back(run);
  return rle;
}

std::vector<uint8_t> rle_decode(const Rle& rle) {
  check_sum(rle);
  std::vector<uint8_t> mask(size_t(rle.height) * rle.width, 0);
  uint64_t position = 0;
  for (size_t i = 0; i < rle.counts.size(); ++i) {
    if (i % 2 == 1)
      for (uint64_t p = position; p < position + rle.counts[i]; ++p) {
        const uint64_t x = p / rle.height, y = p % rle.height;
        mask[y * rle.width + x] = 1;
      }
    position += rle.counts[i];
  }
  return mask;
}

Rle rle_from_polygon(const std::vector<double>& xy, uint32_t height, uint32_t width) {
  check_size(height, width);
  const size_t k = xy.size() / 2;  // an odd last coordinate is left out, as pycocotools does
  if (k < 1) throw std::invalid_argument("a polygon needs a point, it has " + std::to_string(xy.size()) + " coordinates");
  const double bound = kPolygonReach * std::max(1u, std::max(height, width));
  // COCO's rleFrPoly, step by step: upsample by 5 and round to integers (C's truncating cast) ...
  constexpr double scale = 5;
  std::vector<int> x(k + 1), y(k + 1);
  for (size_t j = 0; j < k; ++j) {
    for (double v : {xy[2 * j], xy[2 * j + 1]})
      if (!std::isfinite(v) || std::abs(v) > bound)
        throw std::invalid_argument("a polygon coordinate is " + std::to_string(v) + ", farther than " +
                                    std::to_string(int64_t(kPolygonReach)) + " image sides from the image");
    x[j] = int(scale * xy[2 * j] + .5);
    y[j] = int(scale * xy[2 * j + 1] + .5);
  }
  x[k] = x[0];
  y[k] = y[0];
  // ... trace every edge densely: one point per step along its longer axis ...
  std::vector<int> u, v;
  size_t points = 0;
  for (size_t j = 0; j < k; ++j) points += size_t(std::max(std::abs(x[j] - x[j + 1]), std::abs(y[j] - y[j + 1]))) + 1;
  u.reserve(points);
  v.reserve(points);
  for (size_t j = 0; j < k; ++j) {
    int xs = x[j], xe = x[j + 1], ys = y[j], ye = y[j + 1];
    const int dx = std::abs(xe - xs), dy = std::abs(ys - ye);
    const bool flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
    if (flip) {
      std::swap(xs, xe);
      std::swap(ys, ye);
    }
    // a repeated vertex (dx = dy = 0) is one point: maskApi.c divides 0 by 0 there, but the point's
    // y is never read (its neighbours share its x)
    const double s = dx == 0 && dy == 0 ? 0.0 : dx >= dy ? double(ye - ys) / dx : double(xe - xs) / dy;
    if (dx >= dy)
      for (int d = 0; d <= dx; ++d) {
        const int t = flip ? dx - d : d;
        u.push_back(t + xs);
        v.push_back(int(ys + s * t + .5));
      }
    else
      for (int d = 0; d <= dy; ++d) {
        const int t = flip ? dy - d : d;
        v.push_back(t + ys);
        u.push_back(int(xs + s * t + .5));
      }
  }
  // ... keep the points where the boundary crosses a pixel column's centre, downsampled, with the
  // first pixel row below the crossing ...
  std::vector<uint32_t> starts;
  starts.reserve(u.size() / 4 + 2);
  for (size_t j = 1; j < u.size(); ++j) {
    if (u[j] == u[j - 1]) continue;
    double xd = double(u[j] < u[j - 1] ? u[j] : u[j] - 1);
    xd = (xd + .5) / scale - .5;
    if (std::floor(xd) != xd || xd < 0 || xd > double(width) - 1) continue;
    double yd = double(v[j] < v[j - 1] ? v[j] : v[j - 1]);
    yd = (yd + .5) / scale - .5;
    if (yd < 0)
      yd = 0;
    else if (yd > height)
      yd = height;
    yd = std::ceil(yd);
    starts.push_back(uint32_t(int(xd) * int(height) + int(yd)));
  }
  // ... and each crossing toggles the mask from there on: sorted positions become run lengths,
  // a zero-length run merging its neighbours.
  starts.push_back(height * width);
  std::sort(starts.begin(), starts.end());
  uint32_t previous = 0;
  for (uint32_t& a : starts) {
    const uint32_t t = a;
    a -= previous;
    previous = t;
  }
  Rle rle{height, width, {}};
  size_t j = 0;
  rle.counts.push_back(starts[j++]);
  while (j < starts.size()) {
    if (starts[j] > 0) {
      rle.counts.push_back(starts[j++]);
    } else {
      ++j;
      if (j < starts.size()) rle.counts.back() += starts[j++];
    }
  }
  return rle;
}

Rle rle_from_box(const Box& box, uint32_t height, uint32_t width) {
  // clipped to one pixel around the image first: the same mask (no column or row inside moves),
  // without tracing the edges of a huge box
  auto clip = [](double v, double high) { return std::min(std::max(v, -1.0), high + 1); };
  const double xs = clip(box[0], width), xe = clip(box[0] + box[2], width);
  const double ys = clip(box[1], height), ye = clip(box[1] + box[3], height);
  return rle_from_polygon({xs, ys, xs, ye, xe, ye, xe, ys}, height, width);
}

Rle rle_union(const std::vector<Rle>& rles) {
  if (rles.empty()) return {};
  if (rles.size() == 1) return rles.front();
  // COCO's rleMerge: walk both run lists at once; a run ends where the union changes value.
  std::vector<uint32_t> counts = rles.front().counts;
  const uint32_t h = rles.front().height, w = rles.front().width;
  for (size_t i = 1; i < rles.size(); ++i) {
    const Rle& b = rles[i];
    if (b.height != h || b.width != w) return {};
    const std::vector<uint32_t> a = std::move(counts);
    counts.clear();
    if (a.empty() || b.counts.empty()) return {};
    uint32_t ca = a[0], cb = b.counts[0], cc = 0, ct = 1;
    bool v = false, va = false, vb = false;
    size_t ia = 1, ib = 1;
    while (ct > 0) {
      const uint32_t c = std::min(ca, cb);
      cc += c;
      ct = 0;
      ca -= c;
      if (!ca && ia < a.size()) {
        ca = a[ia++];
        va = !va;
      }
      ct += ca;
      cb -= c;
      if (!cb && ib < b.counts.size()) {
        cb = b.counts[ib++];
        vb = !vb;
      }
      ct += cb;
      const bool vp = v;
      v = va || vb;
      if (v != vp || ct == 0) {
        counts.push_back(cc);
        cc = 0;
      }
    }
  }
  return {h, w, counts};
}

uint64_t rle_area(const Rle& rle) {
  uint64_t area = 0;
  for (size_t j = 1; j < rle.counts.size(); j += 2) area += rle.counts[j];
  return area;
}

Box rle_to_box(const Rle& rle) {
  // pycocotools' rleToBbox (2.0.11), in its unsigned arithmetic: the box of the runs of ones, a run
  // that wraps into the next column spanning the whole height; runs of length zero are skipped.
  const uint32_t h = rle.height, w = rle.width;
  const size_t m = rle.counts.size() / 2 * 2;
  if (m == 0 || h == 0) return {0, 0, 0, 0};
  uint32_t xs = w, ys = h, xe = 0, ye = 0, cc = 0;
  for (size_t j = 0; j < m; ++j) {
    const uint32_t start = cc;
    cc += rle.counts[j];
    if (j % 2 == 0 || rle.counts[j] == 0) continue;
    const uint32_t y_start = start % h, x_start = (start - y_start) / h;
    const uint32_t y_end = (cc - 1) % h, x_end = (cc - 1 - y_end) / h;
    xs = std::min(xs, x_start);
    xe = std::max(xe, x_end);
    if (x_start < x_end) {
      ys = 0;
      ye = h - 1;
    } else {
      ys = std::min(ys, y_start);
      ye = std::max(ye, y_end);
    }
  }
  return {double(xs), double(ys), double(uint32_t(xe - xs + 1)), double(uint32_t(ye - ys + 1))};
}

double box_iou(const Box& d, const Box& g, bool crowd) {
  const double w = std::fmin(d[2] + d[0], g[2] + g[0]) - std::fmax(d[0], g[0]);
  if (w <= 0) return 0;
  const double h = std::fmin(d[3] + d[1], g[3] + g[1]) - std::fmax(d[1], g[1]);
  if (h <= 0) return 0;
  const double intersection = w * h, detection_area = d[2] * d[3], truth_area = g[2] * g[3];
  return intersection / (crowd ? detection_area : detection_area + truth_area - intersection);
}

double mask_iou(const Rle& dt, const Box& dt_box, const Rle& gt, const Box& gt_box, bool crowd) {
  if (!(box_iou(dt_box, gt_box, crowd) > 0)) return 0;
  if (dt.height != gt.height || dt.width != gt.width) return -1;
  if (dt.counts.empty() || gt.counts.empty()) return 0;
  // COCO's rleIou: walk both run lists at once, counting the union and the intersection.
  uint32_t ca = dt.counts[0], cb = gt.counts[0], ct = 1;
  uint64_t intersection = 0, area_union = 0;
  bool va = false, vb = false;
  size_t a = 1, b = 1;
  while (ct > 0) {
    const uint32_t c = std::min(ca, cb);
    if (va || vb) {
      area_union += c;
      if (va && vb) intersection += c;
    }
    ct = 0;
    ca -= c;
    if (!ca && a < dt.counts.size()) {
      ca = dt.counts[a++];
      va = !va;
    }
    ct += ca;
    cb -= c;
    if (!cb && b < gt.counts.size()) {
      cb = gt.counts[b++];
      vb = !vb;
    }
    ct += cb;
  }
  if (intersection == 0)
    area_union = 1;
  else if (crowd)
    area_union = rle_area(dt);
  return double(intersection) / double(area_union);
}

std::string rle_to_string(const Rle& rle) {
  std::string text;
  for (size_t i = 0; i < rle.counts.size(); ++i) {
    int64_t x = rle.counts[i];
    if (i > 2) x -= int64_t(rle.counts[i - 2]);
    bool more = true;
    while (more) {
      char c = char(x & 0x1f);
      x >>= 5;  // arithmetic shift: negative numbers end in -1
      more = (c & 0x10) ? x != -1 : x != 0;
      if (more) c |= 0x20;
      text.push_back(char(c + 48));
    }
  }
  return text;
}

Rle rle_from_string(std::string_view text, uint32_t height, uint32_t width) {
  check_size(height, width);
  Rle rle{height, width, {}};
  rle.counts.reserve(text.size());
  size_t p = 0;
  while (p < text.size()) {
    int64_t x = 0;
    int k = 0;
    bool more = true;
    while (more) {
      if (p == text.size()) throw std::invalid_argument("a compressed mask string ends inside a number");
      const int c = int(static_cast<unsigned char>(text[p])) - 48;
      if (c < 0 || c > 63)
        throw std::invalid_argument("a compressed mask string holds '" + std::string(1, text[p]) +
                                    "', outside '0'..'o'");
      if (k == 7) throw std::invalid_argument("a compressed mask string holds a number of over 35 bits");
      x |= int64_t(c & 0x1f) << (5 * k);
      more = c & 0x20;
      ++p;
      ++k;
      if (!more && (c & 0x10)) x |= int64_t(-1) * (int64_t(1) << (5 * k));  // sign extension
    }
    if (rle.counts.size() > 2) x += rle.counts[rle.counts.size() - 2];
    if (x < 0 || x > int64_t(UINT32_MAX))
      throw std::invalid_argument("a compressed mask string holds a run length of " + std::to_string(x));
    rle.counts.push_back(uint32_t(x));
  }
  check_sum(rle);
  return rle;
}

Rle rle_from_counts(std::vector<uint32_t> counts, uint32_t height, uint32_t width) {
  check_size(height, width);
  Rle rle{height, width, std::move(counts)};
  check_sum(rle);
  return rle;
}

}  // namespace eshift::coco
