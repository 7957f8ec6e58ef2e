// `eshift train` on the datasets of the paper's scale, generated in their exact formats: CIFAR-100
// binary files and an ImageNet-style folder of JPEGs (with a damaged file), and the recipes.
#include <gtest/gtest.h>

#include "apps/cli_util.h"
#include "data/image_files.h"

using namespace eshift;
using namespace eshift::test;

namespace {
const std::string kSmall = " --model resnet8 --epochs 1 --lr 0.05 --seed 3 --probe-every 0";

nlohmann::json config_of(const std::string& dir) { return nlohmann::json::parse(slurp(dir + "/config.json")); }
}  // namespace

TEST(CliData, TrainsOnCifar100BinaryFilesWithTopFive) {
  TempDir data, out;
  write_cifar100(data.path, 64, 20);
  auto r = run("train --data cifar100 --data-dir " + data.path + kSmall + " --batch-size 16 --top5 --out " + (out / "run"));
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("64 train / 20 test images 3x32x32, 100 classes"), std::string::npos) << r.out;
  const auto m = metrics(out / "run");
  ASSERT_EQ(m.size(), 1u);
  EXPECT_TRUE(m[0].contains("test_acc5")) << m[0].dump();
  EXPECT_GE(m[0]["test_acc5"].get<double>(), m[0]["test_acc"].get<double>());
  EXPECT_EQ(config_of(out / "run")["crop_padding"], 4);  // CIFAR's standard padding when not given
  r = run("train --data cifar100 --cifar100-coarse --data-dir " + data.path + kSmall + " --batch-size 16");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("20 classes"), std::string::npos) << r.out;
}

TEST(CliData, TrainsOnAnImageFolderSkippingAndCountingADamagedJpeg) {
  TempDir data, out;
  write_image_folder(data.path, {"n01", "n02", "n03"}, 4, 2);
  const auto good = encode_jpeg(smooth_image(60, 45, 1), 90);
  write_bytes(data / "train/n02/img1.JPEG", std::vector<uint8_t>(good.begin(), good.begin() + good.size() / 3));
  // a header that lies: 65 000 × 65 000 pixels declared, PIL's decompression-bomb limit refuses it
  write_bytes(data / "train/n03/img2.JPEG", jpeg_with_lying_header(good, 65000, 65000));
  const std::string args = "train --data imagenet --data-dir " + data.path + kSmall +
                           " --image-size 32 --batch-size 6 --workers 2 --top5 --out ";
  auto r = run(args + (out / "run"));
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("12 train / 6 test images 3x32x32, 3 classes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("warning: skipped"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("train/n02/img1.JPEG"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("train/n03/img2.JPEG: the JPEG header declares 65000 × 65000"), std::string::npos) << r.out;
  const auto m = metrics(out / "run");
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0]["unreadable_images"], 2) << m[0].dump();
  // --bad-images fatal: one line naming the file, nothing trained
  r = run(args + (out / "fatal") + " --bad-images fatal");
  expect_one_line_error(r, "train/n0");  // whichever of the two damaged files comes first
  EXPECT_TRUE(r.err.find("img1.JPEG") != std::string::npos || r.err.find("img2.JPEG") != std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(out / "fatal/checkpoint.pt"));
  expect_one_line_error(run(args + (out / "x") + " --bad-images maybe"), "unknown --bad-images 'maybe'");
  expect_one_line_error(run("train --data imagenet --data-dir " + (data / "absent") + kSmall), "absent");
}

TEST(CliData, RecipePrintsEverySettingAndGivenFlagsOverrideIt) {
  TempDir data, out;
  write_cifar100(data.path, 32, 10);
  auto r = run("train --recipe cifar100 --data-dir " + data.path + kSmall + " --batch-size 16 --out " + (out / "run"));
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("recipe cifar100:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--epochs: given on the command line"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--lam 0.0001  (paper"), std::string::npos) << r.out;
  const auto c = config_of(out / "run");
  EXPECT_EQ(c["recipe"], "cifar100");
  EXPECT_EQ(c["epochs"], 1);         // given
  EXPECT_EQ(c["model"]["name"], "resnet8");  // given
  EXPECT_EQ(c["el2"], true);          // the recipe's
  EXPECT_EQ(c["schedule"], nlohmann::json::array());  // 81/122 of 164 epochs scaled to 1: none left
}
