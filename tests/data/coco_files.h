#pragma once
// A COCO-layout folder written by the tests: train2017/ and val2017/ JPEGs (smooth_image, seeded
// with the image id) and annotations/instances_{train,val}2017.json. Every object is a rectangle:
// its bbox [x, y, w, h] and a one-polygon segmentation tracing the same rectangle, area w·h,
// iscrowd 0; annotation ids count from 1 in the order given.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "data/image_files.h"

namespace eshift::test {

struct CocoTestObject {
  double x, y, w, h;
  int category_id;
};

struct CocoTestImage {
  int id;
  bool val;  // val2017 (else train2017)
  int width, height;
  std::vector<CocoTestObject> objects;
};

// categories: COCO's [{"id": …, "name": …}, …]
inline void write_coco_folder(const std::string& dir, const std::vector<CocoTestImage>& images,
                              const nlohmann::json& categories) {
  using nlohmann::json;
  std::filesystem::create_directories(dir + "/annotations");
  json image_entries[2] = {json::array(), json::array()}, annotations[2] = {json::array(), json::array()};
  int annotation_id = 0;
  for (const auto& im : images) {
    const int split = im.val ? 1 : 0;
    const std::string folder = im.val ? "val2017" : "train2017", file = std::to_string(im.id) + ".jpg";
    std::filesystem::create_directories(dir + "/" + folder);
    write_bytes(dir + "/" + folder + "/" + file, encode_jpeg(smooth_image(im.width, im.height, im.id), 90));
    image_entries[split].push_back({{"id", im.id}, {"file_name", file}, {"height", im.height}, {"width", im.width}});
    for (const auto& o : im.objects)
      annotations[split].push_back({{"id", ++annotation_id}, {"image_id", im.id}, {"category_id", o.category_id},
                                    {"bbox", {o.x, o.y, o.w, o.h}}, {"area", o.w * o.h}, {"iscrowd", 0},
                                    {"segmentation", {{o.x, o.y, o.x + o.w, o.y, o.x + o.w, o.y + o.h, o.x, o.y + o.h}}}});
  }
  for (int split = 0; split < 2; ++split)
    std::ofstream(dir + "/annotations/instances_" + (split == 0 ? "train" : "val") + "2017.json")
        << json{{"images", image_entries[split]}, {"categories", categories}, {"annotations", annotations[split]}}.dump();
}

}  // namespace eshift::test
