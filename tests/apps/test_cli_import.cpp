// eshift import and train --init-from: torchvision-named files through the binary (the reading
// and the name mapping themselves are tested in-process in tests/interop/test_import.cpp).
#include <gtest/gtest.h>

#include "cli_util.h"
#include "interop/torch_fixtures.h"
#include "eshift/interop/import_weights.h"
#include "eshift/interop/torch_state_dict.h"

using namespace eshift;

using test::eval_logits;
using test::fixture;
using test::relative_diff;

namespace {
bool has(const std::string& text, const std::string& needle) { return text.find(needle) != std::string::npos; }
}  // namespace

TEST(ImportCli, ImportWritesACheckpointEvalLoadsAndTrainStartsFromIt) {
  test::TempDir dir;
  auto r = test::run("import --from " + fixture("resnet8.pt") + " --model resnet8 --classes 10 --out " + (dir / "r8.pt") +
                     " --check-input " + fixture("resnet8_input.pt") + " --check-output " + (dir / "logits.pt"));
  ASSERT_EQ(r.code, 0) << r.err;
  const auto expected = read_torch_tensor(fixture("resnet8_logits.pt"));
  EXPECT_LT(relative_diff(read_torch_tensor(dir / "logits.pt"), expected), 1e-4);
  // the checkpoint holds the weights, the spec and ImageNet's input normalization
  const auto info = read_checkpoint_info(dir / "r8.pt");
  EXPECT_EQ(info.spec.name, "resnet8");
  EXPECT_EQ(info.spec.wnorm, WeightFamily::None);
  EXPECT_EQ(info.input_mean, (std::vector<double>{0.485, 0.456, 0.406}));
  auto model = build_model(info.spec);
  load_checkpoint(dir / "r8.pt", *model, nullptr, info.spec, torch::kCPU);
  EXPECT_LT(relative_diff(eval_logits(*model), expected), 1e-4);

  test::expect_one_line_error(test::run("import --from " + fixture("resnet8w4_legacy.pt") +
                                        " --model resnet8 --width 4 --classes 10 --out " + (dir / "x.pt")),
                              "convert_legacy_checkpoint.py");
  EXPECT_FALSE(std::filesystem::exists(dir / "x.pt"));

  // train --init-from: Fashion-MNIST's ResNet-8 (1 channel) from a state dict in torchvision's names
  if (!test::have_data()) GTEST_FAIL() << "Fashion-MNIST not installed: run scripts/install-deps.sh";
  ModelSpec spec;
  spec.name = "resnet8";
  spec.wnorm = WeightFamily::None;
  spec.in_channels = 1;
  spec.num_classes = 10;
  torch::manual_seed(5);
  auto source = build_model(spec);
  c10::Dict<std::string, torch::Tensor> dict;
  for (const auto& p : source->named_parameters()) dict.insert(torchvision_name(*source, p.key()), p.value().detach());
  for (const auto& b : source->named_buffers()) dict.insert(torchvision_name(*source, b.key()), b.value());
  const auto bytes = torch::pickle_save(dict);  // a plain dict, as torch.save({...}) writes
  test::write_bytes(dir / "init.pt", std::vector<uint8_t>(bytes.begin(), bytes.end()));
  r = test::run("train" + test::kData + " --model resnet8 --wnorm none --train-subset 320 --test-subset 200 " +
                "--batch-size 32 --epochs 1 --lr 1e-9 --wd 0 --probe-every 0 --init-from " + (dir / "init.pt") + " --out " +
                (dir / "run"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(has(r.out, "initial weights from " + (dir / "init.pt"))) << r.out;
  EXPECT_TRUE(has(test::slurp(dir / "run/config.json"), "\"init_from\":\"" + (dir / "init.pt") + "\""));
  // one epoch at lr 1e-9 leaves the conv weights where the file put them
  const auto trained = test::checkpoint_weights(dir / "run/checkpoint.pt");
  EXPECT_LT((trained[0] - source->named_parameters()["conv1.weight"]).abs().max().item<double>(), 1e-6);
  // a state dict of another shape is named, before anything is written
  test::expect_one_line_error(test::run(test::kQuick + " --wnorm none --epochs 1 --init-from " + fixture("resnet8.pt") +
                                        " --out " + (dir / "run2")),
                              "shape: conv1.weight [16,3,3,3] vs eshift [16,1,3,3]");
  EXPECT_FALSE(std::filesystem::exists(dir / "run2"));
}
