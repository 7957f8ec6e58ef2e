#include "eshift/tasks/coco_evaluator.h"

#include <algorithm>
#include <unordered_set>
#include <nlohmann/json.hpp>

#include "eshift/core/atomic_file.h"
#include "eshift/core/errors.h"

namespace eshift {

namespace {

using nlohmann::json;

json result_json(const CocoAnnotation& r) {
  json out = {{"image_id", r.image_id}, {"category_id", r.category_id}, {"score", r.score}};
  if (r.bbox) out["bbox"] = *r.bbox;
  if (r.segmentation.rle) {
    const coco::Rle& rle = *r.segmentation.rle;
    out["segmentation"] = {{"size", {rle.height, rle.width}}, {"counts", coco::rle_to_string(rle)}};
  }
  return out;
}

CocoAnnotation result_from_json(const json& j) {
  CocoAnnotation r;
  r.image_id = j.at("image_id").get<int64_t>();
  r.category_id = j.at("category_id").get<int64_t>();
  r.score = j.at("score").get<double>();
  if (j.contains("bbox")) r.bbox = j.at("bbox").get<coco::Box>();
  if (j.contains("segmentation")) {
    const json& s = j.at("segmentation");
    r.segmentation.rle = coco::rle_from_string(s.at("counts").get<std::string>(), s.at("size")[0].get<uint32_t>(),
                                               s.at("size")[1].get<uint32_t>());
  }
  return r;
}

}  // namespace

CocoEvaluator::CocoEvaluator(std::shared_ptr<const CocoDataset> dataset, std::vector<CocoIouType> types)
    : dataset_(std::move(dataset)), types_(std::move(types)) {
  TORCH_CHECK(dataset_, "the COCO evaluator needs the dataset it evaluates on");
  TORCH_CHECK(!types_.empty(), "the COCO evaluator needs bbox, segm or both");
  for (CocoIouType type : types_) results_[type];
}

void CocoEvaluator::add(const ImageDetections& d) {
  const CocoAnnotationFile& file = dataset_->annotations();
  TORCH_CHECK(file.image_index.count(d.image_id), "image ", d.image_id, " is not in ", file.path);
  // an image seen before (a padded shard repeats some): once, as the reference's merge keeps it
  if (seen_.count(d.image_id)) return;
  const torch::Tensor boxes = d.boxes.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  const torch::Tensor scores = d.scores.detach().to(torch::kCPU, torch::kDouble).reshape({-1}).contiguous();
  const torch::Tensor labels = d.labels.detach().to(torch::kCPU, torch::kInt64).reshape({-1}).contiguous();
  const int64_t n = boxes.size(0);
  TORCH_CHECK(boxes.dim() == 2 && boxes.size(1) == 4 && scores.numel() == n && labels.numel() == n,
              "detections need boxes [n, 4], scores [n] and labels [n]");
  // torchvision's resize_boxes back to the original image, then x, y, w, h (float32)
  const auto [h, w] = d.size;
  const auto [oh, ow] = d.original_size;
  const float ratio_h = float(oh) / float(h), ratio_w = float(ow) / float(w);
  const auto scaled = boxes * torch::tensor({ratio_w, ratio_h, ratio_w, ratio_h}, torch::kFloat32);
  const auto xywh = torch::stack({scaled.select(1, 0), scaled.select(1, 1), scaled.select(1, 2) - scaled.select(1, 0),
                                  scaled.select(1, 3) - scaled.select(1, 1)},
                                 1)
                        .contiguous();
  const auto box = xywh.accessor<float, 2>();
  const auto score = scores.accessor<double, 1>();
  const auto label = labels.accessor<int64_t, 1>();
  torch::Tensor masks;
  if (results_.count(CocoIouType::Segm)) {
    TORCH_CHECK(d.masks.defined() && d.masks.dim() == 3 && d.masks.size(0) == n && d.masks.size(1) == oh &&
                    d.masks.size(2) == ow,
                "segm evaluation needs masks [n, h, w] at the original image's size (", oh, "x", ow, ")");
    const auto m = d.masks.detach().to(torch::kCPU);
    masks = (m.is_floating_point() ? m > 0.5 : m != 0).to(torch::kUInt8).contiguous();
  }
  for (int64_t k = 0; k < n; ++k) {
    CocoAnnotation r;
    r.image_id = d.image_id;
    r.category_id = dataset_->category_id(label[k]);
    r.score = score[k];
    if (results_.count(CocoIouType::Bbox)) {
      r.bbox = coco::Box{box[k][0], box[k][1], box[k][2], box[k][3]};
      results_[CocoIouType::Bbox].push_back(r);
      r.bbox.reset();
    }
    if (masks.defined()) {
      r.segmentation.rle = coco::rle_encode(masks[k].data_ptr<uint8_t>(), uint32_t(oh), uint32_t(ow));
      results_[CocoIouType::Segm].push_back(std::move(r));
    }
  }
  seen_.insert(d.image_id);
  image_ids_.push_back(d.image_id);
  ++images_;
}

std::string CocoEvaluator::to_json() const {
  json out = {{"images", image_ids_}};
  for (const auto& [type, results] : results_) {
    json list = json::array();
    for (const auto& r : results) list.push_back(result_json(r));
    out[to_string(type)] = std::move(list);
  }
  return out.dump();
}

void CocoEvaluator::merge_json(const std::string& text) {
  const json in = json::parse(text);
  std::unordered_set<int64_t> added;  // the images this merge brings: those not seen here yet
  for (int64_t id : in.at("images").get<std::vector<int64_t>>())
    if (seen_.insert(id).second) {
      added.insert(id);
      image_ids_.push_back(id);
      ++images_;
    }
  for (auto& [type, results] : results_)
    for (const json& r : in.at(to_string(type)))
      if (added.count(r.at("image_id").get<int64_t>())) results.push_back(result_from_json(r));
}

std::vector<CocoAnnotation> CocoEvaluator::ordered(CocoIouType type) const {
  // by image id, each image's detections in the order the model gave them: the same file whichever
  // process evaluated which image (the order breaks ties between equal scores)
  std::vector<CocoAnnotation> out = results_.at(type);
  std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.image_id < b.image_id; });
  for (size_t i = 0; i < out.size(); ++i) out[i].id = int64_t(i) + 1;
  return out;
}

void CocoEvaluator::write_results(CocoIouType type, const std::string& path) const {
  json list = json::array();
  for (const auto& r : ordered(type)) list.push_back(result_json(r));
  write_text_atomic(path, list.dump() + "\n");
}

std::map<CocoIouType, CocoStats> CocoEvaluator::finalize() const {
  std::map<CocoIouType, CocoStats> out;
  for (CocoIouType type : types_) out[type] = evaluate_coco(dataset_->annotations(), ordered(type), type, image_ids_);
  return out;
}

}  // namespace eshift
