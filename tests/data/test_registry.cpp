// The dataset registry: names to datasets, their default directories, and errors that name the flag.
#include <gtest/gtest.h>

#include <stdexcept>

#include "eshift/core/errors.h"
#include "eshift/data/dataset.h"
#include "eshift/data/registry.h"
#include "test_util.h"

using namespace eshift;
using namespace eshift::test;

namespace {
// A 5-image, 3-class MNIST-layout directory: image k is filled with 10·k, its label is k % 3.
void write_tiny_mnist(const std::string& dir) {
  for (const std::string prefix : {"train", "t10k"}) {
    std::vector<uint8_t> pixels, labels;
    for (uint8_t k = 0; k < 5; ++k) {
      pixels.insert(pixels.end(), 4 * 3, uint8_t(10 * k));
      labels.push_back(k % 3);
    }
    write_bytes(dir + "/" + prefix + "-images-idx3-ubyte", idx_file({5, 4, 3}, pixels));
    write_bytes(dir + "/" + prefix + "-labels-idx1-ubyte.gz", idx_file({5}, labels), /*gzip=*/true);
  }
}
}  // namespace

TEST(DatasetRegistry, FashionMnistReadsAnyMnistLayoutDirectory) {
  TempDir dir;
  write_tiny_mnist(dir.path);
  auto train = open_dataset("fashion-mnist", dir.path, "train");
  EXPECT_EQ(train->size(), 5);
  EXPECT_EQ(train->num_classes(), 3);
  EXPECT_EQ(train->image_shape().str(), "1x4x3");
  const auto ex = train->get(4);
  EXPECT_EQ(ex.label, 1);
  EXPECT_EQ(ex.shape.str(), "1x4x3");
  EXPECT_TRUE(torch::equal(ex.tensor(), torch::full({1, 4, 3}, 40, torch::kUInt8)));
  EXPECT_EQ(open_dataset("fashion-mnist", dir.path, "test")->size(), 5);
}

TEST(DatasetRegistry, DefaultDirectoryIsTheDebianPackagesPlace) {
  EXPECT_EQ(std::string(kDefaultDataset), "fashion-mnist");
  EXPECT_EQ(find_dataset("fashion-mnist").default_dir, "/usr/share/datasets/fashion-mnist");
}

TEST(DatasetRegistry, UnknownNamesAndMissingDirectoriesAreNamed) {
  try {
    find_dataset("imagenet-21k");
    FAIL() << "accepted";
  } catch (const std::invalid_argument& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("--data 'imagenet-21k'"), std::string::npos) << message;
    EXPECT_NE(message.find("fashion-mnist"), std::string::npos) << message;  // what is known
  }
  TempDir dir;
  try {
    open_dataset("fashion-mnist", dir / "absent", "train");
    FAIL() << "accepted";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find(dir / "absent"), std::string::npos) << e.what();
  }
}
