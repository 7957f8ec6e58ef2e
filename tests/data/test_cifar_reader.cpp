// CIFAR-10/100 binary files: pixels, labels (fine and coarse), the folder the archive extracts to,
// and one-line errors naming the file for every kind of damage.
#include <gtest/gtest.h>

#include "data/image_files.h"
#include "eshift/core/errors.h"
#include "eshift/data/cifar_reader.h"
#include "eshift/data/registry.h"

using namespace eshift;
using namespace eshift::test;

namespace {
void expect_cifar_error(const std::function<void()>& read, const std::string& file, const std::string& problem) {
  try {
    read();
    ADD_FAILURE() << "no error for " << file;
  } catch (const DataError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(file), std::string::npos) << msg;
    EXPECT_NE(msg.find(problem), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  }
}
}  // namespace

TEST(CifarReader, Cifar10ReadsTheFiveTrainingBatchesInOrderAndTheTestBatch) {
  TempDir dir;
  for (int b = 1; b <= 5; ++b) write_bytes(dir / ("data_batch_" + std::to_string(b) + ".bin"), cifar_records(3, 1, 3 * (b - 1)));
  write_bytes(dir / "test_batch.bin", cifar_records(4, 1, 100));
  const auto train = read_cifar10_dir(dir.path, "train");
  ASSERT_EQ(train.images.sizes(), (std::vector<int64_t>{15, 3, 32, 32}));
  EXPECT_EQ(train.num_classes, 10);
  for (int k : {0, 4, 14}) {
    EXPECT_EQ(train.labels[k].item<int64_t>(), k % 10);
    for (auto [c, y, x] : {std::tuple{0, 0, 0}, {1, 5, 31}, {2, 31, 7}})
      EXPECT_EQ(train.images[k][c][y][x].item<int>(), cifar_pixel(k, c, y, x)) << k << " " << c << y << x;
  }
  const auto test = read_cifar10_dir(dir.path, "test");
  EXPECT_EQ(test.size(), 4);
  EXPECT_EQ(test.images[3][2][1][2].item<int>(), cifar_pixel(103, 2, 1, 2));
  EXPECT_EQ(test.labels[3].item<int64_t>(), 103 % 10);
}

TEST(CifarReader, Cifar100UsesFineLabelsOrTheCoarseOnesAndFindsTheExtractedFolder) {
  TempDir dir;
  write_cifar100(dir / "cifar-100-binary", 30, 5);
  const auto fine = read_cifar100_dir(dir.path, "train", false);  // the folder that holds cifar-100-binary
  EXPECT_EQ(fine.num_classes, 100);
  EXPECT_EQ(fine.labels[27].item<int64_t>(), 27);
  EXPECT_EQ(fine.images[27][1][2][3].item<int>(), cifar_pixel(27, 1, 2, 3));
  const auto coarse = read_cifar100_dir(dir / "cifar-100-binary", "train", true);
  EXPECT_EQ(coarse.num_classes, 20);
  EXPECT_EQ(coarse.labels[27].item<int64_t>(), 7);
  DataOptions options;
  options.cifar100_coarse = true;
  const auto set = open_dataset("cifar100", dir.path, "test", options);
  EXPECT_EQ(set->size(), 5);
  EXPECT_EQ(set->num_classes(), 20);
  EXPECT_EQ(set->get(2).label, 1002 % 20);
  EXPECT_EQ(find_dataset("cifar100").crop_padding, 4);  // the standard CIFAR augmentation
}

TEST(CifarReader, DamagedFilesAreOneLineErrorsNamingTheFile) {
  TempDir dir;
  for (int b = 1; b <= 5; ++b) write_bytes(dir / ("data_batch_" + std::to_string(b) + ".bin"), cifar_records(2, 1));
  auto records = cifar_records(2, 1);
  records.pop_back();  // truncated
  write_bytes(dir / "data_batch_3.bin", records);
  expect_cifar_error([&] { read_cifar10_dir(dir.path, "train"); }, "data_batch_3.bin", "not a whole number of 3073-byte records");
  records = cifar_records(2, 1);
  records[3073] = 10;  // the second record's label
  write_bytes(dir / "data_batch_3.bin", records);
  expect_cifar_error([&] { read_cifar10_dir(dir.path, "train"); }, "data_batch_3.bin", "record 1 has label 10, outside [0, 9]");
  write_bytes(dir / "data_batch_3.bin", {});
  expect_cifar_error([&] { read_cifar10_dir(dir.path, "train"); }, "data_batch_3.bin", "size 0");
  std::filesystem::remove(dir / "data_batch_3.bin");
  expect_cifar_error([&] { read_cifar10_dir(dir.path, "train"); }, "data_batch_3.bin", "no such file");
  expect_cifar_error([&] { read_cifar10_dir(dir.path, "test"); }, dir.path, "missing test_batch.bin");
  // a CIFAR-10 file read as CIFAR-100: 3073-byte records are not 3074-byte ones (unless by chance)
  write_bytes(dir / "train.bin", cifar_records(3, 1));
  expect_cifar_error([&] { read_cifar100_dir(dir.path, "train", false); }, "train.bin", "3074-byte records");
  expect_cifar_error([&] { read_cifar100_dir(dir / "absent", "train", false); }, "absent", "does not exist");
}
