// The generated COCO folder of shapes (data/synthetic_coco.h): CocoDataset reads it, every
// annotation agrees with its mask and with the painted pixels, and the output is a function of the
// seed alone.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "eshift/core/file_bytes.h"
#include "eshift/data/coco_dataset.h"
#include "eshift/data/coco_mask.h"
#include "eshift/data/jpeg.h"
#include "eshift/data/synthetic_coco.h"
#include "test_util.h"

namespace eshift {
namespace {

ShapesCocoOptions shapes_test_options(uint64_t seed = 1) {
  ShapesCocoOptions o;
  o.train_images = 12;
  o.val_images = 4;
  o.seed = seed;
  return o;
}

std::string shapes_file_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

double shapes_colour_distance(const uint8_t* pixel, const std::array<double, 3>& colour) {
  double d2 = 0;
  for (int c = 0; c < 3; ++c) d2 += (pixel[c] - colour[size_t(c)]) * (pixel[c] - colour[size_t(c)]);
  return std::sqrt(d2);
}

double shapes_colour_gap(const std::array<double, 3>& a, const std::array<double, 3>& b) {
  return std::sqrt((a[0] - b[0]) * (a[0] - b[0]) + (a[1] - b[1]) * (a[1] - b[1]) + (a[2] - b[2]) * (a[2] - b[2]));
}

TEST(SyntheticCoco, WritesTheLayoutCocoDatasetReads) {
  test::TempDir dir;
  const ShapesCocoSummary summary = write_shapes_coco(dir.path, shapes_test_options());
  for (const char* file : {"annotations/instances_train2017.json", "annotations/instances_val2017.json",
                           "train2017/000000000001.jpg", "val2017/000000000016.jpg", "generator.json"})
    EXPECT_TRUE(std::filesystem::exists(dir / file)) << file;
  EXPECT_EQ(summary.train_images, 12);
  EXPECT_EQ(summary.val_images, 4);

  const CocoDataset train(dir.path, "train"), val(dir.path, "val");
  EXPECT_EQ(train.size(), 12);  // every image has an object: none skipped
  EXPECT_EQ(val.size(), 4);
  EXPECT_TRUE(train.has_masks());
  EXPECT_EQ(train.repairs().boxes_clipped, 0);
  EXPECT_EQ(train.repairs().boxes_dropped, 0);
  // 4 categories with COCO-like ids (not 1..K) and names, the same in both files
  EXPECT_EQ(train.num_classes(), 5);
  std::vector<std::pair<int64_t, std::string>> categories;
  for (const auto& c : train.annotations().categories) categories.emplace_back(c.id, c.name);
  const std::vector<std::pair<int64_t, std::string>> expected = {
      {3, "rectangle"}, {7, "ellipse"}, {11, "triangle"}, {20, "diamond"}};
  EXPECT_EQ(categories, expected);
  EXPECT_EQ(val.annotations().categories.size(), 4u);
  EXPECT_EQ(train.category_id(3), 11);

  // image and annotation ids unique across the splits; the counts are the files'
  std::set<int64_t> image_ids, annotation_ids;
  int64_t objects = 0, crowds = 0;
  for (const CocoDataset* set : {&train, &val}) {
    for (const auto& im : set->annotations().images) {
      EXPECT_TRUE(image_ids.insert(im.id).second) << im.id;
      EXPECT_GE(int(std::min(im.height, im.width)), 64);
      EXPECT_LE(int(std::max(im.height, im.width)), 128);
    }
    for (const auto& a : set->annotations().annotations) {
      EXPECT_TRUE(annotation_ids.insert(a.id).second) << a.id;
      ++(a.iscrowd ? crowds : objects);
    }
  }
  EXPECT_EQ(summary.objects, objects);
  EXPECT_EQ(summary.crowd_regions, crowds);
  EXPECT_GE(objects, 16);  // 1..4 an image

  // an image with its target, decoded: boxes and masks as the detection task gets them
  const DetectionExample e = train.read(0);
  EXPECT_EQ(e.image.size(0), 3);
  EXPECT_EQ(e.target.masks.size(0), e.target.boxes.size(0));
  EXPECT_GT(e.target.boxes.size(0), 0);
}

// Per annotation: the bbox holds the mask's pixels and its extent is the mask's; the area is the
// mask's pixel count; and the JPEG shows the object where its mask is (the inside is one colour,
// far from the ring of pixels around it).
TEST(SyntheticCoco, BoxesAreasAndPaintedPixelsAgreeWithTheMasks) {
  test::TempDir dir;
  write_shapes_coco(dir.path, shapes_test_options());
  int64_t checked = 0, painted = 0;
  double total_area = 0, total_pixels = 0;
  for (const std::string split : {"train", "val"}) {
    const CocoAnnotationFile file = read_coco_annotations(dir / ("annotations/instances_" + split + "2017.json"));
    for (const CocoImage& im : file.images) {
      const std::string path = dir / (split + "2017/" + im.file_name);
      const std::vector<uint8_t> bytes = read_file_bytes(path);
      const RgbImage rgb = decode_jpeg(bytes.data(), bytes.size(), 1, path);
      ASSERT_EQ(uint32_t(rgb.width), im.width);
      ASSERT_EQ(uint32_t(rgb.height), im.height);
      const int w = rgb.width, h = rgb.height;
      std::vector<const CocoAnnotation*> anns;
      for (const auto& a : file.annotations)
        if (a.image_id == im.id) anns.push_back(&a);
      ASSERT_FALSE(anns.empty()) << im.file_name;
      // the masks, and which one shows at each pixel (later annotations are drawn later)
      std::vector<std::vector<uint8_t>> masks;
      std::vector<int> owner(size_t(w * h), -1);
      for (size_t k = 0; k < anns.size(); ++k) {
        masks.push_back(coco::rle_decode(annotation_mask(*anns[k], im)));
        for (size_t p = 0; p < owner.size(); ++p)
          if (masks[k][p]) owner[p] = int(k);
      }
      for (size_t k = 0; k < anns.size(); ++k) {
        const CocoAnnotation& a = *anns[k];
        const std::vector<uint8_t>& m = masks[k];
        const coco::Rle rle = annotation_mask(a, im);
        const coco::Box mb = coco::rle_to_box(rle), bb = *a.bbox;
        const double pixels = double(coco::rle_area(rle));
        ASSERT_GT(pixels, 0) << "annotation " << a.id;
        ++checked;
        if (a.iscrowd) {  // the region is its RLE: box and area exactly its own
          ASSERT_TRUE(a.segmentation.rle.has_value());
          for (int j = 0; j < 4; ++j) EXPECT_EQ(bb[size_t(j)], mb[size_t(j)]) << "crowd annotation " << a.id;
          EXPECT_EQ(a.area, pixels) << "crowd annotation " << a.id;
          continue;
        }
        ASSERT_EQ(a.segmentation.polygons.size(), 1u);
        // the mask inside the box (a pixel is in where the polygon covers its centre: at most half a
        // pixel out); its extent within 1 pixel of the box's, 2 for the sharp tips of triangles and
        // diamonds (a tip up to ~1.6 pixels long covers no pixel centre)
        EXPECT_GE(mb[0], bb[0] - 0.51) << "annotation " << a.id;
        EXPECT_GE(mb[1], bb[1] - 0.51) << "annotation " << a.id;
        EXPECT_LE(mb[0] + mb[2], bb[0] + bb[2] + 0.51) << "annotation " << a.id;
        EXPECT_LE(mb[1] + mb[3], bb[1] + bb[3] + 0.51) << "annotation " << a.id;
        const double slack = a.category_id == 11 || a.category_id == 20 ? 2 : 1;
        EXPECT_LE(mb[0] - bb[0], slack) << "annotation " << a.id;
        EXPECT_LE(mb[1] - bb[1], slack) << "annotation " << a.id;
        EXPECT_LE(bb[0] + bb[2] - mb[0] - mb[2], slack) << "annotation " << a.id;
        EXPECT_LE(bb[1] + bb[3] - mb[1] - mb[3], slack) << "annotation " << a.id;
        // the polygon's area against its pixels: close for each, very close summed (no bias)
        EXPECT_NEAR(pixels, a.area, 0.08 * a.area) << "annotation " << a.id;
        total_area += a.area;
        total_pixels += pixels;

        // painted: the visible interior (its 4 neighbours in the mask too) against the ring of
        // background pixels 2 pixels outside the mask (JPEG blurs the edge itself)
        auto in_mask = [&](int y, int x) { return y >= 0 && x >= 0 && y < h && x < w && m[size_t(y * w + x)]; };
        std::vector<size_t> inside, ring;
        for (int y = 0; y < h; ++y)
          for (int x = 0; x < w; ++x) {
            const size_t p = size_t(y * w + x);
            if (m[p] && owner[p] == int(k) && in_mask(y - 1, x) && in_mask(y + 1, x) && in_mask(y, x - 1) &&
                in_mask(y, x + 1))
              inside.push_back(p);
            if (m[p] || owner[p] >= 0) continue;
            bool near1 = false, near2 = false;
            for (int dy = -2; dy <= 2; ++dy)
              for (int dx = -2; dx <= 2; ++dx)
                if (in_mask(y + dy, x + dx)) {
                  near2 = true;
                  near1 |= std::abs(dy) <= 1 && std::abs(dx) <= 1;
                }
            if (near2 && !near1) ring.push_back(p);
          }
        if (inside.size() < 10 || ring.size() < 10) continue;
        std::array<double, 3> colour{}, around{};
        for (size_t p : inside)
          for (int c = 0; c < 3; ++c) colour[size_t(c)] += rgb.pixels[p * 3 + size_t(c)] / double(inside.size());
        for (size_t p : ring)
          for (int c = 0; c < 3; ++c) around[size_t(c)] += rgb.pixels[p * 3 + size_t(c)] / double(ring.size());
        const double apart = shapes_colour_gap(colour, around);
        double spread = 0;
        int64_t inside_closer = 0, ring_closer = 0;
        for (size_t p : inside) {
          const double d = shapes_colour_distance(&rgb.pixels[p * 3], colour);
          spread += d / double(inside.size());
          inside_closer += d < shapes_colour_distance(&rgb.pixels[p * 3], around);
        }
        for (size_t p : ring)
          ring_closer += shapes_colour_distance(&rgb.pixels[p * 3], around) <
                         shapes_colour_distance(&rgb.pixels[p * 3], colour);
        EXPECT_GT(apart, 60) << "annotation " << a.id;
        EXPECT_LT(spread, 0.35 * apart) << "annotation " << a.id;
        EXPECT_GE(double(inside_closer), 0.95 * double(inside.size())) << "annotation " << a.id;
        EXPECT_GE(double(ring_closer), 0.9 * double(ring.size())) << "annotation " << a.id;
        ++painted;
      }
    }
  }
  EXPECT_GE(checked, 16);
  EXPECT_GE(painted, 12);
  EXPECT_NEAR(total_pixels, total_area, 0.01 * total_area);
}

TEST(SyntheticCoco, SameSeedSameBytesAnyThreadsOtherSeedOtherData) {
  test::TempDir a, b, c;
  ShapesCocoOptions o = shapes_test_options(1);
  write_shapes_coco(a.path, o);
  o.threads = 3;
  write_shapes_coco(b.path, o);
  write_shapes_coco(c.path, shapes_test_options(2));
  for (const char* file : {"annotations/instances_train2017.json", "annotations/instances_val2017.json",
                           "train2017/000000000005.jpg", "val2017/000000000014.jpg", "generator.json"}) {
    const std::string first = shapes_file_text(a / file);
    ASSERT_FALSE(first.empty()) << file;
    EXPECT_EQ(first, shapes_file_text(b / file)) << file;
    if (std::string(file) != "generator.json") {
      EXPECT_NE(first, shapes_file_text(c / file)) << file;
    }
  }
  EXPECT_EQ(shapes_coco_arguments(shapes_test_options(1)), shapes_coco_arguments(o));  // threads: not an argument
  EXPECT_NE(shapes_coco_arguments(shapes_test_options(1)), shapes_coco_arguments(shapes_test_options(2)));

  // the first images of a split do not depend on how many are made
  test::TempDir more;
  ShapesCocoOptions longer = shapes_test_options(1);
  longer.train_images = 20;
  write_shapes_coco(more.path, longer);
  EXPECT_EQ(shapes_file_text(a / "train2017/000000000012.jpg"), shapes_file_text(more / "train2017/000000000012.jpg"));
}

TEST(SyntheticCoco, ALargerSetHasCrowdRegionsAndEachCategoryItsShape) {
  test::TempDir dir;
  ShapesCocoOptions o = shapes_test_options(5);
  o.train_images = 80;
  o.categories = 5;
  const ShapesCocoSummary summary = write_shapes_coco(dir.path, o);
  EXPECT_GE(summary.crowd_regions, 1);
  const CocoDataset train(dir.path, "train");
  ASSERT_EQ(train.annotations().categories.size(), 5u);
  EXPECT_EQ(train.annotations().categories[4].name, "star");
  EXPECT_GE(train.repairs().crowd_regions, 1);  // left out of the training targets
  // every category drawn; the vertices say the shape: 4 (rectangle), 32 (ellipse), 3 (triangle),
  // 4 (diamond), 10 (star)
  std::map<int64_t, std::set<size_t>> vertices;
  for (const auto& a : train.annotations().annotations)
    if (!a.iscrowd) vertices[a.category_id].insert(a.segmentation.polygons.at(0).size() / 2);
  const std::map<int64_t, std::set<size_t>> expected = {{3, {4}}, {7, {32}}, {11, {3}}, {20, {4}}, {24, {10}}};
  EXPECT_EQ(vertices, expected);

  // fewer categories: only the first shapes
  test::TempDir two;
  o.categories = 2;
  o.train_images = 10;
  write_shapes_coco(two.path, o);
  const CocoAnnotationFile file = read_coco_annotations(two / "annotations/instances_train2017.json");
  ASSERT_EQ(file.categories.size(), 2u);
  for (const auto& a : file.annotations) EXPECT_TRUE(a.category_id == 3 || a.category_id == 7) << a.category_id;
}

TEST(SyntheticCoco, RefusesOptionsOutOfRangeNamingTheFlag) {
  auto message = [](const ShapesCocoOptions& o) {
    try {
      check_shapes_coco_options(o);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  ShapesCocoOptions o;
  EXPECT_EQ(message(o), "no error");
  o.categories = 6;
  EXPECT_EQ(message(o).rfind("--categories 6: must be 1..5", 0), 0u) << message(o);
  o = {};
  o.min_side = 200;
  EXPECT_EQ(message(o), "--min-side 200 is larger than --max-side 128");
  o = {};
  o.min_side = 16;
  EXPECT_EQ(message(o).rfind("--min-side 16: must be at least 32", 0), 0u) << message(o);
  o = {};
  o.train_images = 0;
  EXPECT_EQ(message(o).rfind("--train 0:", 0), 0u) << message(o);
  o = {};
  o.jpeg_quality = 101;
  EXPECT_EQ(message(o).rfind("--jpeg-quality 101:", 0), 0u) << message(o);
  test::TempDir dir;
  EXPECT_THROW(write_shapes_coco(dir.path, o), std::invalid_argument);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path));
}

}  // namespace
}  // namespace eshift
