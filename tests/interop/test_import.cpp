// PyTorch weights: reading torch.save's files (interop/torch_state_dict.h) and importing
// torchvision-named state dicts (interop/import_weights.h), against the fixtures written by
// tests/fixtures/make_torch_fixtures.py with pip's torch + torchvision: PyTorch's own logits,
// 'module.' prefixes, checkpoint dicts, legacy files, and every kind of mismatch in one error.
#include <gtest/gtest.h>

#include <set>
#include <stdexcept>

#include "eshift/core/placement.h"
#include "eshift/interop/import_weights.h"
#include "eshift/interop/torch_state_dict.h"
#include "eshift/models/registry.h"
#include "eshift/nn/normalized_layers.h"
#include "eshift/train/checkpoint.h"
#include "test_util.h"
#include "interop/torch_fixtures.h"

using namespace eshift;

using test::eval_logits;
using test::fixture;
using test::relative_diff;

namespace {

ModelSpec resnet8(int64_t width = 16, WeightFamily wnorm = WeightFamily::None) {
  ModelSpec spec;
  spec.name = "resnet8";
  spec.wnorm = wnorm;
  spec.width = width;
  spec.in_channels = 3;
  spec.num_classes = 10;
  return spec;
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "accepted";
}

bool has(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }

}  // namespace

TEST(ImportTorchFile, ReadsAStateDictAndStripsTheModulePrefix) {
  const auto dict = read_torch_state_dict(fixture("resnet8.pt"));  // saved through nn.DataParallel
  ASSERT_EQ(dict.size(), 56u);  // stem 6, layer1 12, layer2 and layer3 18 each (shortcut), fc 2
  std::map<std::string, torch::Tensor> byname(dict.begin(), dict.end());
  for (const auto& [name, t] : dict) EXPECT_NE(name.rfind("module.", 0), 0u) << name;
  EXPECT_EQ(dict.front().first, "conv1.weight");  // the file's order
  ASSERT_TRUE(byname.count("layer2.0.downsample.0.weight"));
  EXPECT_EQ(byname["layer2.0.downsample.0.weight"].sizes(), (std::vector<int64_t>{32, 16, 1, 1}));
  EXPECT_EQ(byname["layer3.0.bn2.num_batches_tracked"].scalar_type(), torch::kLong);
  EXPECT_EQ(byname["layer3.0.bn2.num_batches_tracked"].item<int64_t>(), 1234);
  EXPECT_EQ(byname["fc.weight"].scalar_type(), torch::kFloat);
}

TEST(ImportTorchFile, TensorsRoundTripThroughTheTorchSaveFormat) {
  test::TempDir dir;
  const auto t = torch::arange(12, torch::kDouble).reshape({3, 4}).t();  // not contiguous
  write_torch_tensor(dir / "t.pt", t);
  const auto back = read_torch_tensor(dir / "t.pt");
  EXPECT_EQ(back.scalar_type(), torch::kDouble);
  EXPECT_TRUE(torch::equal(back, t));
  EXPECT_EQ(read_torch_tensor(fixture("resnet8_logits.pt")).sizes(), (std::vector<int64_t>{2, 10}));
}

TEST(ImportTorchFile, CheckpointDictsGiveTheirStateDict) {
  // {'epoch', 'arch', 'state_dict', 'best_acc1', 'optimizer', 'args': argparse.Namespace}, no
  // num_batches_tracked, 'module.' keys
  const auto from_checkpoint = read_torch_state_dict(fixture("resnet8w4_checkpoint.pt"));
  const auto plain = read_torch_state_dict(fixture("resnet8w4_state_dict.pt"));
  std::map<std::string, torch::Tensor> expected(plain.begin(), plain.end());
  size_t counters = 0;
  for (const auto& [name, t] : plain) counters += name.find("num_batches_tracked") != std::string::npos;
  ASSERT_EQ(from_checkpoint.size() + counters, plain.size());
  for (const auto& [name, t] : from_checkpoint) {
    ASSERT_TRUE(expected.count(name)) << name;
    EXPECT_TRUE(torch::equal(t, expected[name])) << name;
  }
  auto model = build_model(resnet8(4));
  import_state_dict(*model, from_checkpoint, "checkpoint");  // num_batches_tracked absent: accepted
}

TEST(ImportTorchFile, LegacyAndForeignFilesAreRefusedInOneLine) {
  const auto legacy = error_of([] { read_torch_state_dict(fixture("resnet8w4_legacy.pt")); });
  EXPECT_TRUE(has(legacy, "resnet8w4_legacy.pt")) << legacy;
  EXPECT_TRUE(has(legacy, "legacy (non-zip) format")) << legacy;
  EXPECT_TRUE(has(legacy, "scripts/convert_legacy_checkpoint.py")) << legacy;

  const auto list = error_of([] { read_torch_state_dict(fixture("not_a_state_dict.pt")); });
  EXPECT_TRUE(has(list, "not a PyTorch state dict (it holds a list")) << list;
  const auto tensor = error_of([] { read_torch_state_dict(fixture("resnet8_input.pt")); });
  EXPECT_TRUE(has(tensor, "it holds a tensor")) << tensor;

  test::TempDir dir;
  test::write_bytes(dir / "text.pt", {'h', 'e', 'l', 'l', 'o'});
  EXPECT_TRUE(has(error_of([&] { read_torch_state_dict(dir / "text.pt"); }), "not a PyTorch file"));
  EXPECT_TRUE(has(error_of([&] { read_torch_state_dict(dir / "absent.pt"); }), "absent.pt: no such file"));
  // a damaged archive: LibTorch's zip reader's complaint, in one line
  std::string bytes = test::slurp(fixture("resnet8w4_state_dict.pt"));
  bytes.resize(bytes.size() / 2);
  test::write_bytes(dir / "cut.pt", std::vector<uint8_t>(bytes.begin(), bytes.end()));
  const auto cut = error_of([&] { read_torch_state_dict(dir / "cut.pt"); });
  EXPECT_TRUE(has(cut, "cut.pt: not a readable PyTorch file")) << cut;
  EXPECT_FALSE(has(cut, "\n")) << cut;

  auto model = build_model(resnet8(4));
  CheckpointInfo info;
  info.spec = model->spec();
  save_checkpoint(dir / "eshift.pt", *model, nullptr, info);
  EXPECT_TRUE(has(error_of([&] { read_torch_state_dict(dir / "eshift.pt"); }), "is an eshift checkpoint"));
}

TEST(ImportWeights, MapsTorchvisionNamesByStage) {
  auto r8 = build_model(resnet8());
  EXPECT_EQ(torchvision_name(*r8, "norm1.running_mean"), "bn1.running_mean");
  EXPECT_EQ(torchvision_name(*r8, "conv1.weight"), "conv1.weight");
  EXPECT_EQ(torchvision_name(*r8, "stages.1.shortcut_conv.weight"), "layer2.0.downsample.0.weight");
  EXPECT_EQ(torchvision_name(*r8, "stages.2.shortcut_norm.running_var"), "layer3.0.downsample.1.running_var");
  EXPECT_EQ(torchvision_name(*r8, "stages.2.norm2.weight"), "layer3.0.bn2.weight");
  EXPECT_EQ(torchvision_name(*r8, "fc.bias"), "fc.bias");

  auto r20 = build_model([] {
    auto s = resnet8();
    s.name = "resnet20";
    return s;
  }());
  EXPECT_EQ(torchvision_name(*r20, "stages.2.conv2.weight"), "layer1.2.conv2.weight");
  EXPECT_EQ(torchvision_name(*r20, "stages.3.conv1.weight"), "layer2.0.conv1.weight");
  EXPECT_EQ(torchvision_name(*r20, "stages.5.norm1.bias"), "layer2.2.bn1.bias");
  EXPECT_EQ(torchvision_name(*r20, "stages.6.conv1.weight"), "layer3.0.conv1.weight");

  ModelSpec spec50;
  spec50.name = "resnet50";
  spec50.wnorm = WeightFamily::None;
  spec50.num_classes = 1000;
  auto r50 = build_model(spec50);
  EXPECT_EQ(torchvision_name(*r50, "stages.0.shortcut_conv.weight"), "layer1.0.downsample.0.weight");
  EXPECT_EQ(torchvision_name(*r50, "stages.3.conv2.weight"), "layer2.0.conv2.weight");
  EXPECT_EQ(torchvision_name(*r50, "stages.6.norm3.weight"), "layer2.3.bn3.weight");
  EXPECT_EQ(torchvision_name(*r50, "stages.7.conv1.weight"), "layer3.0.conv1.weight");
  EXPECT_EQ(torchvision_name(*r50, "stages.15.conv3.weight"), "layer4.2.conv3.weight");
  // torchvision's resnet50 state dict has 320 entries: every eshift tensor has its own name there
  std::set<std::string> names;
  for (const auto& p : r50->named_parameters()) names.insert(torchvision_name(*r50, p.key()));
  for (const auto& b : r50->named_buffers()) names.insert(torchvision_name(*r50, b.key()));
  EXPECT_EQ(names.size(), 320u);
}

TEST(ImportWeights, LogitsEqualPyTorchs) {
  auto model = build_model(resnet8());
  import_torch_file(*model, fixture("resnet8.pt"));
  const auto expected = read_torch_tensor(fixture("resnet8_logits.pt"));
  const auto logits = eval_logits(*model);
  ASSERT_EQ(logits.sizes(), expected.sizes());
  EXPECT_LT(relative_diff(logits, expected), 1e-4) << logits << expected;
  // the BN statistics came along (eval mode uses them): the counter too
  EXPECT_EQ(model->named_buffers()["stages.2.norm2.num_batches_tracked"].item<int64_t>(), 1234);

  // channels-last parameters (the trainer's default) take the same weights
  auto nhwc = build_model(resnet8());
  Placement{torch::kCPU, /*channels_last=*/true}.place(*nhwc);
  ASSERT_TRUE(nhwc->named_parameters()["conv1.weight"].is_contiguous(torch::MemoryFormat::ChannelsLast));
  import_torch_file(*nhwc, fixture("resnet8.pt"));
  EXPECT_LT(relative_diff(eval_logits(*nhwc), expected), 1e-4);
}

TEST(ImportWeights, WeightFamilies) {
  const auto expected = read_torch_tensor(fixture("resnet8_logits.pt"));
  // WN: the gains become the filters' norms, so every conv computes the imported one
  auto wn = build_model(resnet8(16, WeightFamily::WN));
  import_torch_file(*wn, fixture("resnet8.pt"));
  EXPECT_LT(relative_diff(eval_logits(*wn), expected), 1e-4);
  // WS: the raw weights as stored (WS standardizes them in its forward)
  auto ws = build_model(resnet8(16, WeightFamily::WS));
  import_torch_file(*ws, fixture("resnet8.pt"));
  const auto dict = read_torch_state_dict(fixture("resnet8.pt"));
  const std::map<std::string, torch::Tensor> byname(dict.begin(), dict.end());
  EXPECT_TRUE(torch::equal(ws->named_parameters()["stages.1.conv2.weight"], byname.at("layer2.0.conv2.weight")));
  // CWN cannot represent a conv whose filters do not sum to zero
  auto cwn = build_model(resnet8(16, WeightFamily::CWN));
  EXPECT_TRUE(has(error_of([&] { import_torch_file(*cwn, fixture("resnet8.pt")); }), "--wnorm cwn"));
}

TEST(ImportWeights, OneErrorListsEveryMismatchAndCopiesNothing) {
  auto model = build_model(resnet8(4));
  const auto before = model->named_parameters()["stages.0.conv2.weight"].clone();
  const auto e = error_of([&] { import_torch_file(*model, fixture("resnet8w4_mismatch.pt")); });
  EXPECT_TRUE(has(e, "resnet8w4_mismatch.pt does not match resnet8 (10 classes, norm bn): ")) << e;
  EXPECT_TRUE(has(e, "missing: fc.bias, layer2.0.bn1.running_var")) << e;
  EXPECT_TRUE(has(e, "; unexpected: head.weight")) << e;
  EXPECT_TRUE(has(e, "; shape: layer1.0.conv1.weight [4,4,1,1] vs eshift [4,4,3,3]")) << e;
  EXPECT_FALSE(has(e, "\n")) << e;
  EXPECT_TRUE(torch::equal(model->named_parameters()["stages.0.conv2.weight"], before));

  // a ResNet-8 file for a ResNet-20: the list is cut, with a count
  auto spec = resnet8();
  spec.name = "resnet20";
  auto r20 = build_model(spec);
  const auto cut = error_of([&] { import_torch_file(*r20, fixture("resnet8.pt")); });
  EXPECT_TRUE(has(cut, "missing: layer1.1.conv1.weight, layer1.1.bn1.weight")) << cut;
  EXPECT_TRUE(has(cut, " more)")) << cut;
  EXPECT_FALSE(has(cut, "unexpected")) << cut;
}

TEST(ImportWeights, MapsMaskRcnnNamesToTorchvisions) {
  ModelSpec spec;
  spec.name = "maskrcnn_resnet50_fpn";
  spec.wnorm = WeightFamily::None;
  spec.num_classes = 5;
  auto model = build_model(spec);
  EXPECT_EQ(torchvision_name(*model, "backbone.norm1.weight"), "backbone.body.bn1.weight");
  EXPECT_EQ(torchvision_name(*model, "backbone.stages.15.conv3.weight"), "backbone.body.layer4.2.conv3.weight");
  EXPECT_EQ(torchvision_name(*model, "fpn.inner_blocks.2.conv.bias"), "backbone.fpn.inner_blocks.2.0.bias");
  EXPECT_EQ(torchvision_name(*model, "fpn.layer_blocks.0.conv.weight"), "backbone.fpn.layer_blocks.0.0.weight");
  EXPECT_EQ(torchvision_name(*model, "rpn.head.conv.weight"), "rpn.head.conv.0.0.weight");
  EXPECT_EQ(torchvision_name(*model, "rpn.head.cls_logits.bias"), "rpn.head.cls_logits.bias");
  EXPECT_EQ(torchvision_name(*model, "roi_heads.fc6.weight"), "roi_heads.box_head.fc6.weight");
  EXPECT_EQ(torchvision_name(*model, "roi_heads.bbox_pred.bias"), "roi_heads.box_predictor.bbox_pred.bias");
  EXPECT_EQ(torchvision_name(*model, "roi_heads.mask_head.3.conv.weight"), "roi_heads.mask_head.3.0.weight");
  EXPECT_EQ(torchvision_name(*model, "roi_heads.mask_fcn_logits.weight"),
            "roi_heads.mask_predictor.mask_fcn_logits.weight");
  // torchvision 0.29's maskrcnn_resnet50_fpn(weights=None) state dict has 360 entries (BatchNorm's
  // num_batches_tracked included): one for each eshift tensor
  std::set<std::string> names;
  for (const auto& p : model->named_parameters()) names.insert(torchvision_name(*model, p.key()));
  for (const auto& b : model->named_buffers()) names.insert(torchvision_name(*model, b.key()));
  EXPECT_EQ(names.size(), 360u);
}
