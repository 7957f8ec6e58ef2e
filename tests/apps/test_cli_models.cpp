// eshift models: the zoo's table, counted from the built models.
#include <gtest/gtest.h>

#include "cli_util.h"

using namespace eshift::test;

TEST(ModelsCommand, PrintsParametersAndConvGflops) {
  auto r = run("models resnet50 mobilenet_v1 resnet20");
  ASSERT_EQ(r.code, 0) << r.err;
  // torchvision's resnet50: 25,557,032 parameters, 4.09 G multiply-adds of which the fc's 2.05 M are
  // not convs: 2 · 4.087 G = 8.17 GFLOPs
  EXPECT_NE(r.out.find("resnet50             3x224x224     1000   25,557,032     8.17"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("mobilenet_v1         3x224x224     1000    4,231,976     1.14"), std::string::npos) << r.out;
  // the CIFAR ResNets at their own input and ModelSpec's 10 classes
  EXPECT_NE(r.out.find("resnet20             3x32x32         10      272,474     0.08"), std::string::npos) << r.out;
  expect_one_line_error(run("models vgg16"), "unknown model 'vgg16'");
}

TEST(ModelsCommand, ADetectorGetsItsParametersAndAuditRefusesIt) {
  auto r = run("models maskrcnn_resnet50_fpn");
  ASSERT_EQ(r.code, 0) << r.err;
  // torchvision's maskrcnn_resnet50_fpn (91 classes): 44,401,393 parameters with FrozenBatchNorm2d,
  // whose γ and β are buffers; with BatchNorm2d (torchvision's choice without pretrained weights,
  // and eshift's --norm bn) the backbone's 26,560 BN channels add γ and β: + 53,120
  EXPECT_NE(r.out.find("maskrcnn_resnet50_fpn images          91   44,454,513        -"), std::string::npos) << r.out;
  expect_one_line_error(run("audit --model maskrcnn_resnet18_fpn"), "maskrcnn_resnet18_fpn is a detector");
}
