#include "eshift/data/synthetic_coco.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "eshift/core/atomic_file.h"
#include "eshift/data/coco_mask.h"
#include "eshift/data/jpeg.h"

namespace eshift {

namespace {

// Raised when what the generator draws changes: output of another version is not reused.
constexpr int kShapesGeneratorVersion = 1;

struct ShapeKind {
  const char* name;
  int64_t id;
};
constexpr ShapeKind kShapeKinds[kShapesCocoKinds] = {
    {"rectangle", 3}, {"ellipse", 7}, {"triangle", 11}, {"diamond", 20}, {"star", 24}};

constexpr double kShapesPi = 3.14159265358979323846;
constexpr double kCrowdProbability = 0.1;
constexpr double kLargestObject = 0.6;   // of the image's shorter side
constexpr double kSmallestObject = 12;   // pixels
constexpr double kKeptVisible = 0.85;    // of an earlier object, when a later one is placed
constexpr int kPlacementAttempts = 60;

uint64_t shapes_splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// mt19937_64's numbers (fixed by the standard) mapped to ranges by eshift's own arithmetic:
// std::uniform_*_distribution differ between standard libraries.
class ShapeDraw {
 public:
  explicit ShapeDraw(uint64_t seed) : engine_(seed) {}
  double uniform() { return double(engine_() >> 11) * 0x1.0p-53; }  // [0, 1)
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  int integer(int lo, int hi) { return lo + int(engine_() % uint64_t(int64_t(hi) - lo + 1)); }  // lo..hi
  bool chance(double p) { return uniform() < p; }

 private:
  std::mt19937_64 engine_;
};

double round_hundredth(double v) { return std::round(v * 100) / 100; }

using Outline = std::vector<std::array<double, 2>>;

// The outline of a shape of `kind` about `size` pixels across, centred at the origin.
Outline shape_outline(int kind, double size, ShapeDraw& draw) {
  Outline p;
  double angle = 0;
  const double half = size / 2;
  switch (kind) {
    case 0: {  // rectangle: sides 0.45..1 of each other, either way round, turned by up to ±12°
      double a = half, b = half * draw.uniform(0.45, 1.0);
      if (draw.chance(0.5)) std::swap(a, b);
      p = {{-a, -b}, {a, -b}, {a, b}, {-a, b}};
      angle = draw.uniform(-12, 12) * kShapesPi / 180;
      break;
    }
    case 1: {  // ellipse: axes 0.55..1 of each other, any orientation, 32 vertices
      const double a = half, b = half * draw.uniform(0.55, 1.0);
      angle = draw.uniform(0, kShapesPi);
      for (int k = 0; k < 32; ++k) {
        const double t = 2 * kShapesPi * k / 32;
        p.push_back({a * std::cos(t), b * std::sin(t)});
      }
      break;
    }
    case 2: {  // triangle: corners about 120° apart around the centre, any orientation
      angle = draw.uniform(0, 2 * kShapesPi);
      for (int k = 0; k < 3; ++k) {
        const double t = 2 * kShapesPi * k / 3 + draw.uniform(-0.25, 0.25);
        const double r = 1.1 * half * draw.uniform(0.85, 1.15);
        p.push_back({r * std::cos(t), r * std::sin(t)});
      }
      break;
    }
    case 3: {  // diamond (rhombus): diagonals 0.55..1 of each other, turned by up to ±12°
      double a = half, b = half * draw.uniform(0.55, 1.0);
      if (draw.chance(0.5)) std::swap(a, b);
      p = {{a, 0}, {0, b}, {-a, 0}, {0, -b}};
      angle = draw.uniform(-12, 12) * kShapesPi / 180;
      break;
    }
    default: {  // five-pointed star, inner radius 0.45 of the outer, any orientation
      angle = draw.uniform(0, 2 * kShapesPi);
      for (int k = 0; k < 10; ++k) {
        const double t = kShapesPi * k / 5, r = k % 2 ? 0.45 * half : half;
        p.push_back({r * std::sin(t), -r * std::cos(t)});
      }
      break;
    }
  }
  const double c = std::cos(angle), s = std::sin(angle);
  for (auto& v : p) v = {c * v[0] - s * v[1], s * v[0] + c * v[1]};
  return p;
}

// The outline moved to (cx, cy), as a COCO polygon [x0, y0, x1, y1, …] to 0.01 pixel.
std::vector<double> placed_polygon(const Outline& outline, double cx, double cy) {
  std::vector<double> xy;
  for (const auto& v : outline) {
    xy.push_back(round_hundredth(cx + v[0]));
    xy.push_back(round_hundredth(cy + v[1]));
  }
  return xy;
}

std::vector<uint8_t> polygon_pixels(const std::vector<double>& xy, int height, int width) {
  return coco::rle_decode(coco::rle_from_polygon(xy, uint32_t(height), uint32_t(width)));
}

struct ShapeObject {
  int kind = 0;
  bool crowd = false;
  std::vector<double> polygon;  // not crowd
  coco::Rle rle;                // crowd
  coco::Box box{};
  double area = 0;
};

struct ShapeImage {
  RgbImage image;
  std::vector<ShapeObject> objects;  // in drawing order, the crowd region (if any) last
};

uint8_t clamp_byte(double v) { return uint8_t(std::clamp(std::lround(v), 0L, 255L)); }

// Low-frequency coloured noise (bilinear between a few random colours) plus per-pixel noise.
void paint_background(RgbImage& im, ShapeDraw& draw) {
  const int gx = draw.integer(4, 7), gy = draw.integer(4, 7);
  double base[3];
  for (double& b : base) b = draw.uniform(50, 205);
  std::vector<double> grid(size_t(gx * gy * 3));
  for (size_t i = 0; i < grid.size(); ++i) grid[i] = std::clamp(base[i % 3] + draw.uniform(-45, 45), 0.0, 255.0);
  for (int y = 0; y < im.height; ++y) {
    const double fy = double(y) * (gy - 1) / (im.height - 1);
    const int iy = std::min(int(fy), gy - 2);
    const double ty = fy - iy;
    for (int x = 0; x < im.width; ++x) {
      const double fx = double(x) * (gx - 1) / (im.width - 1);
      const int ix = std::min(int(fx), gx - 2);
      const double tx = fx - ix;
      for (int c = 0; c < 3; ++c) {
        auto at = [&](int j, int i) { return grid[size_t((j * gx + i) * 3 + c)]; };
        const double v = (1 - ty) * ((1 - tx) * at(iy, ix) + tx * at(iy, ix + 1)) +
                         ty * ((1 - tx) * at(iy + 1, ix) + tx * at(iy + 1, ix + 1));
        im.pixels[size_t((y * im.width + x) * 3 + c)] = clamp_byte(v + draw.integer(-12, 12));
      }
    }
  }
}

// A random colour far from the mean colour of the image under `mask` (the first of 40 draws at
// least 110 away, else the farthest).
std::array<int, 3> contrasting_colour(const RgbImage& im, const std::vector<uint8_t>& mask, ShapeDraw& draw) {
  double mean[3] = {0, 0, 0};
  int64_t n = 0;
  for (size_t p = 0; p < mask.size(); ++p)
    if (mask[p]) {
      for (int c = 0; c < 3; ++c) mean[c] += im.pixels[p * 3 + size_t(c)];
      ++n;
    }
  for (double& m : mean) m /= double(std::max<int64_t>(n, 1));
  std::array<int, 3> best{0, 0, 0};
  double best_distance = -1;
  for (int attempt = 0; attempt < 40 && best_distance < 110; ++attempt) {
    const std::array<int, 3> colour{draw.integer(0, 255), draw.integer(0, 255), draw.integer(0, 255)};
    double d2 = 0;
    for (int c = 0; c < 3; ++c) d2 += (colour[size_t(c)] - mean[c]) * (colour[size_t(c)] - mean[c]);
    if (std::sqrt(d2) > best_distance) best = colour, best_distance = std::sqrt(d2);
  }
  return best;
}

void paint_mask(RgbImage& im, const std::vector<uint8_t>& mask, const std::array<int, 3>& colour, ShapeDraw& draw) {
  for (size_t p = 0; p < mask.size(); ++p)
    if (mask[p])
      for (int c = 0; c < 3; ++c) im.pixels[p * 3 + size_t(c)] = clamp_byte(colour[size_t(c)] + draw.integer(-10, 10));
}

ShapeImage draw_shapes_image(const ShapesCocoOptions& o, int split, int index) {
  ShapeDraw draw(shapes_splitmix64(o.seed ^ shapes_splitmix64((uint64_t(split) << 32) | uint64_t(index))));
  ShapeImage out;
  RgbImage& im = out.image;
  im.width = draw.integer(o.min_side, o.max_side);
  im.height = draw.integer(o.min_side, o.max_side);
  const int w = im.width, h = im.height, shorter = std::min(w, h);
  im.pixels.assign(size_t(w) * size_t(h) * 3, 0);
  paint_background(im, draw);

  // who shows at each pixel: -1 the background, -2 the crowd region, k object k
  std::vector<int> owner(size_t(w) * size_t(h), -1);

  ShapeObject crowd;
  if (draw.chance(kCrowdProbability)) {
    crowd.kind = draw.integer(0, o.categories - 1);
    crowd.crowd = true;
    const double region = draw.uniform(0.3, 0.45) * shorter;
    const double x0 = draw.uniform(1, w - 1 - region), y0 = draw.uniform(1, h - 1 - region);
    std::vector<uint8_t> mask(owner.size(), 0);
    std::vector<std::array<double, 2>> centres;
    const int pieces = draw.integer(6, 12);
    for (int k = 0; k < pieces; ++k) {
      // small shapes, each centre at least 7 pixels from the others': a cluster, not one blob
      for (int attempt = 0; attempt < 20; ++attempt) {
        const double cx = x0 + draw.uniform(4, region - 4), cy = y0 + draw.uniform(4, region - 4);
        bool near = false;
        for (const auto& c : centres) near |= (c[0] - cx) * (c[0] - cx) + (c[1] - cy) * (c[1] - cy) < 49;
        if (near) continue;
        const Outline outline = shape_outline(crowd.kind, draw.uniform(5, 8), draw);
        const std::vector<uint8_t> piece = polygon_pixels(placed_polygon(outline, cx, cy), h, w);
        for (size_t p = 0; p < mask.size(); ++p) mask[p] |= piece[p];
        centres.push_back({cx, cy});
        break;
      }
    }
    crowd.rle = coco::rle_encode(mask.data(), uint32_t(h), uint32_t(w));
    crowd.area = double(coco::rle_area(crowd.rle));
    if (crowd.area > 0) {
      crowd.box = coco::rle_to_box(crowd.rle);
      paint_mask(im, mask, contrasting_colour(im, mask, draw), draw);
      for (size_t p = 0; p < mask.size(); ++p)
        if (mask[p]) owner[p] = -2;
    } else {
      crowd.crowd = false;  // no pixel: no region
    }
  }

  const int objects = draw.integer(1, 4);
  std::vector<int64_t> full, visible;  // pixels of each placed object: all, still showing
  for (int i = 0; i < objects; ++i) {
    for (int attempt = 0; attempt < kPlacementAttempts; ++attempt) {
      const int kind = draw.integer(0, o.categories - 1);
      // later attempts draw smaller: a crowded image still gets its objects
      const double largest = std::max(kSmallestObject, kLargestObject * shorter * std::pow(0.97, attempt));
      const Outline outline = shape_outline(kind, draw.uniform(kSmallestObject, largest), draw);
      double lo[2] = {1e9, 1e9}, hi[2] = {-1e9, -1e9};
      for (const auto& v : outline)
        for (int a = 0; a < 2; ++a) lo[a] = std::min(lo[a], v[size_t(a)]), hi[a] = std::max(hi[a], v[size_t(a)]);
      if (hi[0] - lo[0] > w - 2 || hi[1] - lo[1] > h - 2) continue;
      const double cx = draw.uniform(1 - lo[0], w - 1 - hi[0]), cy = draw.uniform(1 - lo[1], h - 1 - hi[1]);
      std::vector<double> polygon = placed_polygon(outline, cx, cy);
      const std::vector<uint8_t> mask = polygon_pixels(polygon, h, w);
      std::vector<int64_t> lost(full.size(), 0);
      int64_t pixels = 0;
      bool on_crowd = false;
      for (size_t p = 0; p < mask.size(); ++p)
        if (mask[p]) {
          ++pixels;
          if (owner[p] == -2) on_crowd = true;
          if (owner[p] >= 0) ++lost[size_t(owner[p])];
        }
      if (on_crowd || pixels < 30) continue;
      bool hides = false;
      for (size_t j = 0; j < full.size(); ++j) hides |= double(visible[j] - lost[j]) < kKeptVisible * double(full[j]);
      if (hides) continue;

      paint_mask(im, mask, contrasting_colour(im, mask, draw), draw);
      const int self = int(full.size());
      for (size_t p = 0; p < mask.size(); ++p)
        if (mask[p]) {
          if (owner[p] >= 0) --visible[size_t(owner[p])];
          owner[p] = self;
        }
      full.push_back(pixels);
      visible.push_back(pixels);

      ShapeObject object;
      object.kind = kind;
      double x0 = polygon[0], y0 = polygon[1], x1 = x0, y1 = y0, twice_area = 0;
      const size_t n = polygon.size() / 2;
      for (size_t k = 0; k < n; ++k) {
        const double x = polygon[2 * k], y = polygon[2 * k + 1];
        const double nx = polygon[2 * ((k + 1) % n)], ny = polygon[2 * ((k + 1) % n) + 1];
        x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
        twice_area += x * ny - nx * y;
      }
      object.box = {x0, y0, round_hundredth(x1 - x0), round_hundredth(y1 - y0)};
      object.area = round_hundredth(std::abs(twice_area) / 2);
      object.polygon = std::move(polygon);
      out.objects.push_back(std::move(object));
      break;
    }
  }
  if (crowd.crowd) out.objects.push_back(std::move(crowd));
  return out;
}

std::string shapes_file_name(int64_t id) {
  char name[32];
  std::snprintf(name, sizeof name, "%012lld.jpg", (long long)id);
  return name;
}

// Runs body(i) for i in [0, n) on `threads` threads; the first exception is rethrown.
template <class Body>
void shapes_parallel_for(int n, int threads, const Body& body) {
  std::atomic<int> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto work = [&] {
    for (int i = next++; i < n; i = next++) {
      try {
        body(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        next = n;
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < std::min(threads, n); ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace

void check_shapes_coco_options(const ShapesCocoOptions& o) {
  auto fail = [](const std::string& message) { throw std::invalid_argument(message); };
  constexpr int kMostImages = 10000000;
  if (o.train_images < 1 || o.train_images > kMostImages)
    fail("--train " + std::to_string(o.train_images) + ": the number of training images must be 1.." +
         std::to_string(kMostImages));
  if (o.val_images < 1 || o.val_images > kMostImages)
    fail("--val " + std::to_string(o.val_images) + ": the number of validation images must be 1.." +
         std::to_string(kMostImages));
  if (o.categories < 1 || o.categories > kShapesCocoKinds) {
    std::string names;
    for (const auto& k : kShapeKinds) names += std::string(names.empty() ? "" : ", ") + k.name;
    fail("--categories " + std::to_string(o.categories) + ": must be 1.." + std::to_string(kShapesCocoKinds) +
         " (the shapes, in order: " + names + ")");
  }
  if (o.min_side < 32)
    fail("--min-side " + std::to_string(o.min_side) +
         ": must be at least 32 (objects are 12 pixels to 0.6 × the shorter side)");
  if (o.max_side > 4096) fail("--max-side " + std::to_string(o.max_side) + ": must be at most 4096");
  if (o.min_side > o.max_side)
    fail("--min-side " + std::to_string(o.min_side) + " is larger than --max-side " + std::to_string(o.max_side));
  if (o.jpeg_quality < 1 || o.jpeg_quality > 100)
    fail("--jpeg-quality " + std::to_string(o.jpeg_quality) + ": must be 1..100");
  if (o.threads < 1) fail("--threads " + std::to_string(o.threads) + ": must be at least 1");
}

std::string shapes_coco_arguments(const ShapesCocoOptions& o) {
  return nlohmann::ordered_json{{"version", kShapesGeneratorVersion}, {"train", o.train_images},
                                {"val", o.val_images},                {"categories", o.categories},
                                {"min-side", o.min_side},             {"max-side", o.max_side},
                                {"seed", o.seed},                     {"jpeg-quality", o.jpeg_quality}}
      .dump();
}

ShapesCocoSummary write_shapes_coco(const std::string& dir, const ShapesCocoOptions& o) {
  check_shapes_coco_options(o);
  namespace fs = std::filesystem;
  std::error_code ec;
  for (const char* sub : {"annotations", "train2017", "val2017"}) {
    fs::create_directories(dir + "/" + sub, ec);
    if (ec) throw std::runtime_error("cannot create " + dir + "/" + sub + ": " + ec.message());
  }
  using ojson = nlohmann::ordered_json;
  ojson categories = ojson::array();
  for (int k = 0; k < o.categories; ++k)
    categories.push_back({{"id", kShapeKinds[k].id}, {"name", kShapeKinds[k].name}, {"supercategory", "shape"}});

  ShapesCocoSummary summary;
  int64_t annotation_id = 0;
  for (int split = 0; split < 2; ++split) {
    const int n = split == 0 ? o.train_images : o.val_images;
    const int64_t first_id = split == 0 ? 1 : int64_t(o.train_images) + 1;
    const std::string folder = dir + (split == 0 ? "/train2017/" : "/val2017/");
    std::vector<std::vector<ShapeObject>> objects(static_cast<size_t>(n));
    std::vector<std::array<int, 2>> sizes(static_cast<size_t>(n));
    shapes_parallel_for(n, o.threads, [&](int i) {
      ShapeImage image = draw_shapes_image(o, split, i);
      const std::vector<uint8_t> jpeg = encode_jpeg(image.image, o.jpeg_quality);
      write_file_atomic(folder + shapes_file_name(first_id + i),
                        {std::string_view(reinterpret_cast<const char*>(jpeg.data()), jpeg.size())});
      sizes[size_t(i)] = {image.image.height, image.image.width};
      objects[size_t(i)] = std::move(image.objects);
    });

    ojson images = ojson::array(), annotations = ojson::array();
    for (int i = 0; i < n; ++i) {
      const int64_t id = first_id + i;
      const auto [h, w] = sizes[size_t(i)];
      images.push_back({{"id", id}, {"file_name", shapes_file_name(id)}, {"height", h}, {"width", w}});
      for (const ShapeObject& object : objects[size_t(i)]) {
        ojson segmentation;
        if (object.crowd)
          segmentation = {{"counts", object.rle.counts}, {"size", {object.rle.height, object.rle.width}}};
        else
          segmentation = ojson::array({object.polygon});
        annotations.push_back({{"id", ++annotation_id},
                               {"image_id", id},
                               {"category_id", kShapeKinds[object.kind].id},
                               {"segmentation", std::move(segmentation)},
                               {"area", object.area},
                               {"bbox", {object.box[0], object.box[1], object.box[2], object.box[3]}},
                               {"iscrowd", object.crowd ? 1 : 0}});
        ++(object.crowd ? summary.crowd_regions : summary.objects);
      }
    }
    (split == 0 ? summary.train_images : summary.val_images) = n;
    const ojson file = {{"info",
                         {{"description", "eshift make-coco-shapes: coloured shapes on textured noise, the shape is "
                                          "the category"},
                          {"version", std::to_string(kShapesGeneratorVersion)}}},
                        {"images", std::move(images)},
                        {"annotations", std::move(annotations)},
                        {"categories", categories}};
    write_text_atomic(dir + "/annotations/instances_" + (split == 0 ? "train" : "val") + "2017.json",
                      file.dump() + "\n");
  }

  const ojson manifest = {{"generator", "eshift make-coco-shapes"},
                          {"arguments", ojson::parse(shapes_coco_arguments(o))},
                          {"train_images", summary.train_images},
                          {"val_images", summary.val_images},
                          {"objects", summary.objects},
                          {"crowd_regions", summary.crowd_regions}};
  write_text_atomic(dir + "/generator.json", manifest.dump(2) + "\n");  // last: the set is complete
  return summary;
}

}  // namespace eshift
