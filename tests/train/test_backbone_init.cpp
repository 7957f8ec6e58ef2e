// A detector's backbone from an ImageNet classifier's eshift checkpoint (--init-backbone): every
// backbone tensor copied from the classifier's tensor of the same name, the classifier's fc left
// out; a checkpoint of another model refused naming the flag.
#include <gtest/gtest.h>

#include <fstream>

#include "eshift/core/errors.h"
#include "eshift/models/detection/mask_rcnn.h"
#include "eshift/train/checkpoint.h"
#include "test_util.h"

using namespace eshift;

TEST(BackboneInit, CopiesAClassifiersCheckpointIntoTheBackbone) {
  test::TempDir dir;
  ModelSpec classifier_spec;
  classifier_spec.name = "resnet18";
  classifier_spec.wnorm = WeightFamily::WS;
  classifier_spec.norm = "bn";
  classifier_spec.num_classes = 1000;
  torch::manual_seed(1);
  auto classifier = build_model(classifier_spec);
  {
    torch::NoGradGuard no_grad;
    for (auto& b : classifier->named_buffers())
      if (b.key().find("running_mean") != std::string::npos) b.value().normal_();
  }
  CheckpointInfo info;
  info.spec = classifier_spec;
  info.config_json = "{}";
  save_checkpoint(dir / "r18.pt", *classifier, nullptr, info);

  ModelSpec spec = classifier_spec;
  spec.name = "maskrcnn_resnet18_fpn";
  spec.num_classes = 3;
  torch::manual_seed(2);
  MaskRcnnImpl detector(spec);
  load_backbone_weights(detector.backbone(), dir / "r18.pt");
  std::map<std::string, torch::Tensor> source;
  for (const auto& p : classifier->named_parameters()) source[p.key()] = p.value();
  for (const auto& b : classifier->named_buffers()) source[b.key()] = b.value();
  size_t copied = 0;
  for (const auto& p : detector.backbone().named_parameters()) {
    EXPECT_TRUE(torch::equal(p.value(), source.at(p.key()))) << p.key();
    ++copied;
  }
  for (const auto& b : detector.backbone().named_buffers()) EXPECT_TRUE(torch::equal(b.value(), source.at(b.key()))) << b.key();
  EXPECT_EQ(copied + 2, classifier->parameters().size());  // all but fc.weight, fc.bias

  // another backbone: refused, naming the flag
  spec.name = "maskrcnn_resnet34_fpn";
  MaskRcnnImpl other(spec);
  try {
    load_backbone_weights(other.backbone(), dir / "r18.pt");
    FAIL() << "a resnet18 checkpoint went into a resnet34 backbone";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("--init-backbone"), std::string::npos) << e.what();
  }
}

// A damaged eshift checkpoint is refused as one (checksum), not read as a PyTorch file.
TEST(BackboneInit, ADamagedCheckpointIsNamedAsOne) {
  test::TempDir dir;
  ModelSpec spec;
  spec.name = "resnet18";
  spec.num_classes = 10;
  auto classifier = build_model(spec);
  CheckpointInfo info;
  info.spec = spec;
  info.config_json = "{}";
  const std::string path = dir / "r18.pt";
  save_checkpoint(path, *classifier, nullptr, info);
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(-100, std::ios::end);
    const char byte = char(f.get());
    f.seekp(-100, std::ios::end);
    f.put(char(byte ^ 0x5a));  // one payload byte changed
  }
  spec.name = "maskrcnn_resnet18_fpn";
  spec.num_classes = 3;
  MaskRcnnImpl detector(spec);
  try {
    load_backbone_weights(detector.backbone(), path);
    FAIL() << "a damaged checkpoint was loaded";
  } catch (const CheckpointError& e) {
    EXPECT_NE(std::string(e.what()).find("checksum mismatch"), std::string::npos) << e.what();
  }
}
