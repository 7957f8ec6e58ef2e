// Images in memory as a dataset: examples are views with their labels, heads keep the first
// examples, and the channel statistics are the float64 mean and biased std in [0, 1] units.
#include <gtest/gtest.h>

#include "eshift/data/image_set.h"

using namespace eshift;

namespace {
ImageSet two_channel_set() {
  ImageSet s;
  // image k: channel 0 all 10·k, channel 1 all 255 − 10·k; 2×2 pixels
  s.images = torch::empty({4, 2, 2, 2}, torch::kUInt8);
  for (int64_t k = 0; k < 4; ++k) {
    s.images[k][0].fill_(10 * k);
    s.images[k][1].fill_(255 - 10 * k);
  }
  s.labels = torch::tensor({3, 1, 4, 1}, torch::kInt64);
  s.num_classes = 5;
  return s;
}
}  // namespace

TEST(ImageSetDataset, ExamplesAreTheImagesWithTheirLabels) {
  const ImageSetDataset data(two_channel_set());
  EXPECT_EQ(data.size(), 4);
  EXPECT_EQ(data.num_classes(), 5);
  EXPECT_EQ(data.image_shape().str(), "2x2x2");
  const auto ex = data.get(2);
  EXPECT_EQ(ex.label, 4);
  EXPECT_EQ(ex.tensor()[0][1][1].item<int>(), 20);
  EXPECT_EQ(ex.tensor()[1][0][0].item<int>(), 235);
  const auto batch = data.get_batch({3, 0});
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch[0].label, 1);
  EXPECT_EQ(batch[1].tensor()[0][0][0].item<int>(), 0);
  EXPECT_THROW(data.get(4), c10::Error);
  // an example outlives the dataset it came from
  Example kept;
  {
    const ImageSetDataset temporary(two_channel_set());
    kept = temporary.get(1);
  }
  EXPECT_EQ(kept.tensor()[0][0][0].item<int>(), 10);
}

TEST(ImageSetDataset, HeadKeepsTheFirstExamplesAndItsOwnStatistics) {
  const ImageSetDataset data(two_channel_set());
  const auto head = data.head(2);
  EXPECT_EQ(head->size(), 2);
  EXPECT_EQ(head->get(1).label, 1);
  const auto stats = head->channel_stats();
  ASSERT_EQ(stats.mean.size(), 2u);
  EXPECT_DOUBLE_EQ(stats.mean[0], 5.0 / 255);          // channel 0: values 0 and 10
  EXPECT_NEAR(stats.std[0], 5.0 / 255, 1e-15);         // biased std of {0, 10}
  EXPECT_DOUBLE_EQ(stats.mean[1], 250.0 / 255);
  EXPECT_THROW(data.head(5), c10::Error);
}

TEST(ImageSetDataset, RejectsMismatchedLabels) {
  auto s = two_channel_set();
  s.labels = torch::zeros({3}, torch::kInt64);
  EXPECT_THROW(ImageSetDataset{s}, c10::Error);
  s = two_channel_set();
  s.images = s.images.to(torch::kFloat32);
  EXPECT_THROW(ImageSetDataset{s}, c10::Error);
}

TEST(ImageSetDataset, FingerprintChangesWithAnyPixelOrLabel) {
  const ImageSetDataset data(two_channel_set());
  EXPECT_EQ(data.fingerprint(), ImageSetDataset(two_channel_set()).fingerprint());
  EXPECT_EQ(data.fingerprint().rfind("4 examples 2x2x2, 5 classes, pixels ", 0), 0u) << data.fingerprint();
  auto pixel = two_channel_set();
  pixel.images[3][1][1][0] = 7;
  EXPECT_NE(ImageSetDataset(pixel).fingerprint(), data.fingerprint());
  auto label = two_channel_set();
  label.labels[0] = 2;
  EXPECT_NE(ImageSetDataset(label).fingerprint(), data.fingerprint());
  EXPECT_NE(data.head(3)->fingerprint(), data.fingerprint());
}
