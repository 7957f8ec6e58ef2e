// Mask R-CNN as a whole (models/detection/mask_rcnn.h): its registry names, the five losses with a
// gradient for every parameter, learning on a fixed batch, and detections with masks at the
// original image's size. (Equality with torchvision's maskrcnn_resnet50_fpn is `make interop`'s.)
#include <gtest/gtest.h>

#include "eshift/models/detection/mask_rcnn.h"
#include "eshift/nn/param_roles.h"

using namespace eshift;

namespace {
ModelSpec mask_rcnn_spec(WeightFamily family) {
  ModelSpec spec;
  spec.name = "maskrcnn_resnet18_fpn";
  spec.wnorm = family;
  spec.norm = "gn";
  spec.num_classes = 3;
  return spec;
}

// Two images (64×80 and 56×64, padded to 64×96), each with boxes and their filled masks; image 1
// was 28×32 before a 2× resize.
Batch detection_batch() {
  torch::manual_seed(5);
  Batch batch;
  batch.inputs = torch::zeros({2, 3, 64, 96});
  const std::vector<std::array<int64_t, 2>> sizes{{64, 80}, {56, 64}}, originals{{64, 80}, {28, 32}};
  const std::vector<std::vector<std::array<float, 4>>> boxes{{{8, 10, 40, 50}, {44, 4, 76, 30}}, {{10, 12, 50, 40}}};
  const std::vector<std::vector<int64_t>> labels{{1, 2}, {2}};
  for (size_t i = 0; i < 2; ++i) {
    DetectionTarget t;
    t.image_id = int64_t(i) + 1;
    t.size = sizes[i];
    t.original_size = originals[i];
    const int64_t n = int64_t(boxes[i].size());
    t.boxes = torch::zeros({n, 4});
    t.masks = torch::zeros({n, sizes[i][0], sizes[i][1]}, torch::kUInt8);
    batch.inputs[int64_t(i)].slice(1, 0, sizes[i][0]).slice(2, 0, sizes[i][1]).normal_(0, 0.3);
    for (int64_t k = 0; k < n; ++k) {
      const auto& b = boxes[i][size_t(k)];
      t.boxes[k] = torch::tensor({b[0], b[1], b[2], b[3]});
      t.masks[k].slice(0, int64_t(b[1]), int64_t(b[3])).slice(1, int64_t(b[0]), int64_t(b[2])).fill_(1);
      // the object is bright in one channel a class
      batch.inputs[int64_t(i)][labels[i][size_t(k)]].slice(0, int64_t(b[1]), int64_t(b[3])).slice(1, int64_t(b[0]), int64_t(b[2])) += 2.0;
    }
    t.labels = torch::tensor(labels[i]);
    batch.objects.push_back(t);
  }
  return batch;
}

// A reduced detector: a 32-wide pyramid and mask head, a 128-wide box head, fewer proposals.
ModelSpec small_mask_rcnn_spec(WeightFamily family) {
  auto spec = mask_rcnn_spec(family);
  auto& d = spec.detector;
  d.rpn.pre_nms_top_n_train = d.rpn.post_nms_top_n_train = 300;
  d.rpn.pre_nms_top_n_test = d.rpn.post_nms_top_n_test = 100;
  d.box.batch_size_per_image = 64;
  d.box.representation_size = 128;
  d.fpn_channels = 32;
  return spec;
}

std::shared_ptr<MaskRcnnImpl> small_mask_rcnn(WeightFamily family) {
  torch::manual_seed(0);
  return std::make_shared<MaskRcnnImpl>(small_mask_rcnn_spec(family));
}

double total(const ModelOutput& out) {
  double sum = 0;
  for (const auto& [name, loss] : out.losses) sum += loss.item<double>();
  return sum;
}
}  // namespace

TEST(MaskRcnn, RegistryNamesItsBackbones) {
  auto spec = mask_rcnn_spec(WeightFamily::WS);
  const auto model = build_model(spec);
  EXPECT_TRUE(model->is_detector());
  EXPECT_EQ(MaskRcnnImpl::backbone_name("maskrcnn_resnext50_32x4d_fpn"), "resnext50_32x4d");
  EXPECT_EQ(MaskRcnnImpl::backbone_name("resnet50"), "");
  spec.name = "maskrcnn_resnet20_fpn";  // a CIFAR ResNet has no C2–C5
  try {
    build_model(spec);
    FAIL() << "a CIFAR backbone was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("resnet18, resnet34"), std::string::npos) << e.what();
  }
  spec.name = "maskrcnn_resnet18_fpn";
  spec.num_classes = 1;
  EXPECT_THROW(build_model(spec), std::invalid_argument);
  // every parameter has a role; the WS convs of the pyramid and the mask head are scale-invariant
  auto ws = small_mask_rcnn(WeightFamily::WS);
  const auto roles = describe_parameters(*ws);
  EXPECT_EQ(roles.size(), ws->parameters().size());
  int normalized_in_heads = 0;
  for (const auto& p : roles)
    if (p.role == ParamRole::NormalizedWeight && p.name.rfind("backbone.", 0) != 0) ++normalized_in_heads;
  EXPECT_EQ(normalized_in_heads, 4 + 4 + 4);  // FPN lateral and output convs, mask head convs
}

TEST(MaskRcnn, TrainsOnItsFiveLossesWithAGradientForEveryParameter) {
  auto model = small_mask_rcnn(WeightFamily::WS);
  model->train();
  const auto batch = detection_batch();
  torch::manual_seed(1);
  const auto out = model->forward_batch(batch);
  std::vector<std::string> names;
  torch::Tensor sum = torch::zeros({});
  for (const auto& [name, loss] : out.losses) {
    names.push_back(name);
    EXPECT_TRUE(std::isfinite(loss.item<double>())) << name;
    EXPECT_GT(loss.item<double>(), 0.0) << name;
    sum = sum + loss;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness",
                                             "loss_rpn_box_reg"}));
  sum.backward();
  for (const auto& p : model->named_parameters())
    EXPECT_TRUE(p.value().grad().defined() && p.value().grad().abs().sum().item<double>() > 0) << p.key();

  // a few Adam steps on this batch: the losses fall
  torch::optim::Adam adam(model->parameters(), torch::optim::AdamOptions(1e-3));
  double first = 0, last = 0;
  for (int step = 0; step < 12; ++step) {
    adam.zero_grad();
    torch::manual_seed(100 + step);
    const auto o = model->forward_batch(batch);
    torch::Tensor s = torch::zeros({});
    for (const auto& [name, loss] : o.losses) s = s + loss;
    s.backward();
    adam.step();
    if (step == 0) first = s.item<double>();
    last = s.item<double>();
  }
  EXPECT_LT(last, 0.7 * first) << first << " → " << last;
}

TEST(MaskRcnn, DetectsWithMasksAtTheOriginalSize) {
  auto model = small_mask_rcnn(WeightFamily::None);
  model->eval();
  torch::NoGradGuard no_grad;
  const auto batch = detection_batch();
  const auto out = model->forward_batch(batch);
  ASSERT_EQ(out.detections.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const auto& d = out.detections[i];
    const auto& o = batch.objects[i];
    EXPECT_EQ(d.image_id, o.image_id);
    const int64_t n = d.boxes.size(0);
    EXPECT_LE(n, 100);
    EXPECT_EQ(d.scores.size(0), n);
    EXPECT_EQ(d.masks.sizes(), (std::vector<int64_t>{n, o.original_size[0], o.original_size[1]}));
    if (n == 0) continue;
    EXPECT_TRUE((d.scores > 0.05).all().item<bool>());
    EXPECT_TRUE(((d.labels >= 1) & (d.labels <= 2)).all().item<bool>());
    // boxes within the image the model saw (clipped to its size before padding)
    EXPECT_LE(d.boxes.select(1, 2).max().item<float>(), float(o.size[1]));
    EXPECT_LE(d.boxes.select(1, 3).max().item<float>(), float(o.size[0]));
    EXPECT_GE(d.masks.min().item<float>(), 0.f);
    EXPECT_LE(d.masks.max().item<float>(), 1.f);
  }
}

TEST(MaskRcnn, ImagesWithoutObjectsAreBackgroundAndNothingDetectedIsNoError) {
  auto model = small_mask_rcnn(WeightFamily::WS);
  auto batch = detection_batch();
  for (auto& o : batch.objects) {
    o.boxes = torch::zeros({0, 4});
    o.labels = torch::zeros({0}, torch::kLong);
    o.masks = torch::zeros({0, o.size[0], o.size[1]}, torch::kUInt8);
  }
  model->train();
  const auto out = model->forward_batch(batch);
  torch::Tensor sum = torch::zeros({});
  for (const auto& [name, loss] : out.losses) {
    EXPECT_TRUE(std::isfinite(loss.item<double>())) << name;
    if (name == "loss_box_reg" || name == "loss_mask" || name == "loss_rpn_box_reg") EXPECT_EQ(loss.item<double>(), 0.0) << name;
    sum = sum + loss;
  }
  sum.backward();  // the zero losses still reach the graph
  // evaluation with a threshold no score passes: no detections, empty masks of the right size
  torch::NoGradGuard no_grad;
  auto threshold_spec = small_mask_rcnn_spec(WeightFamily::WS);
  threshold_spec.detector.box.score_thresh = 1.0;
  MaskRcnnImpl none(threshold_spec);
  none.eval();
  const auto detections = none.forward_batch(batch).detections;
  ASSERT_EQ(detections.size(), 2u);
  EXPECT_EQ(detections[1].masks.sizes(), (std::vector<int64_t>{0, 28, 32}));
}

TEST(MaskRcnn, TrainableBackboneLayersAndFrozenBatchNormFollowTorchvision) {
  auto spec = mask_rcnn_spec(WeightFamily::None);
  spec.norm = "bn";
  spec.detector.trainable_backbone_layers = 3;  // stages 2–4 train (torchvision: layer4, layer3, layer2)
  spec.detector.frozen_backbone_bn = true;
  auto model = std::make_shared<MaskRcnnImpl>(spec);
  int frozen = 0, trained = 0;
  for (const auto& p : model->named_parameters()) {
    const auto& name = p.key();
    const bool trains = p.value().requires_grad();
    trains ? ++trained : ++frozen;
    if (name.rfind("backbone.", 0) != 0) {
      EXPECT_TRUE(trains) << name;  // the pyramid and heads always train
    } else if (name.find("norm") != std::string::npos) {
      EXPECT_FALSE(trains) << name;  // frozen BN
    } else if (name.rfind("backbone.stages.", 0) == 0) {
      const size_t block = std::stoul(name.substr(16, name.find('.', 16) - 16));
      // resnet18: two blocks a stage; blocks 0–1 are stage 1
      EXPECT_EQ(trains, block >= 2) << name;
    } else {
      EXPECT_FALSE(trains) << name;  // the stem conv
    }
  }
  EXPECT_GT(frozen, 0);
  EXPECT_GT(trained, 0);
  model->train();
  for (const auto& m : model->named_modules("", /*include_self=*/false)) {
    if (m.value()->as<torch::nn::BatchNorm2d>()) EXPECT_FALSE(m.value()->is_training()) << m.key();
  }
  EXPECT_TRUE(model->is_training());
  spec.norm = "gn";
  EXPECT_THROW(spec.validate(), std::invalid_argument);  // frozen BN needs --norm bn
  spec.norm = "bn";
  spec.detector.trainable_backbone_layers = 6;
  EXPECT_THROW(spec.validate(), std::invalid_argument);
}
