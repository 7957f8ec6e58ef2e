// IDX reading on generated files, and a clear error naming the file for each kind of damage.
#include <gtest/gtest.h>

#include <numeric>

#include "eshift/data/idx_reader.h"
#include "test_util.h"

using namespace eshift;
using namespace eshift::test;

namespace {
std::vector<uint8_t> iota_bytes(size_t n) {
  std::vector<uint8_t> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

// Expects read_idx(path) to throw a DataError whose message names the path and contains `problem`.
void expect_error(const std::string& path, int dims, const std::string& problem) {
  try {
    read_idx(path, dims);
    ADD_FAILURE() << "no error for " << path;
  } catch (const DataError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(problem), std::string::npos) << msg;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "one line: " << msg;
  }
}

void write_mnist_dir(const std::string& dir, uint32_t images, uint32_t labels, bool gzip) {
  const std::string ext = gzip ? ".gz" : "";
  write_bytes(dir + "/train-images-idx3-ubyte" + ext, idx_file({images, 4, 5}, iota_bytes(images * 20)), gzip);
  std::vector<uint8_t> lab(labels);
  for (uint32_t i = 0; i < labels; ++i) lab[i] = i % 3;
  write_bytes(dir + "/train-labels-idx1-ubyte" + ext, idx_file({labels}, lab), gzip);
}
}  // namespace

TEST(IdxReader, ReadsRawAndGzipFiles) {
  TempDir dir;
  for (bool gzip : {false, true}) {
    const auto path = dir / (gzip ? "a.gz" : "a");
    write_bytes(path, idx_file({3, 4, 5}, iota_bytes(60)), gzip);
    auto t = read_idx(path, 3);
    ASSERT_EQ(t.sizes(), (std::vector<int64_t>{3, 4, 5}));
    EXPECT_EQ(t.scalar_type(), torch::kUInt8);
    EXPECT_EQ(t[2][3][4].item<int>(), 59);
    EXPECT_EQ(t[1][0][1].item<int>(), 21);
  }
}

TEST(IdxReader, ReadsAnMnistDirectory) {
  for (bool gzip : {false, true}) {
    TempDir dir;
    write_mnist_dir(dir.path, 6, 6, gzip);
    auto set = read_mnist_dir(dir.path, "train");
    EXPECT_EQ(set.images.sizes(), (std::vector<int64_t>{6, 1, 4, 5}));
    EXPECT_EQ(set.labels.scalar_type(), torch::kInt64);
    EXPECT_EQ(set.labels[4].item<int64_t>(), 1);
    EXPECT_EQ(set.num_classes, 3);
    EXPECT_EQ(set.head(2).size(), 2);
  }
}

TEST(IdxReader, BadMagic) {
  TempDir dir;
  auto bytes = idx_file({2, 2, 2}, iota_bytes(8));
  bytes[0] = 0x1f;
  write_bytes(dir / "f", bytes);
  expect_error(dir / "f", 3, "bad magic");
}

TEST(IdxReader, UnsupportedType) {
  TempDir dir;
  auto bytes = idx_header(0x0D, {2});  // float data
  bytes.resize(bytes.size() + 8);
  write_bytes(dir / "f", bytes);
  expect_error(dir / "f", 1, "unsupported IDX data type");
}

TEST(IdxReader, DimensionMismatch) {
  TempDir dir;
  write_bytes(dir / "f", idx_file({2, 4}, iota_bytes(8)));
  expect_error(dir / "f", 3, "has 2 dimensions, expected 3");
}

TEST(IdxReader, TruncatedHeaderAndData) {
  TempDir dir;
  write_bytes(dir / "short", {0, 0});
  expect_error(dir / "short", 1, "truncated header");
  auto header_only = idx_header(0x08, {10, 4});
  header_only.resize(header_only.size() - 2);
  write_bytes(dir / "dims", header_only);
  expect_error(dir / "dims", 2, "truncated header");
  write_bytes(dir / "data", idx_file({10, 4, 4}, iota_bytes(100)));  // 160 declared
  expect_error(dir / "data", 3, "truncated data (the header declares 160 bytes, the file holds at most 100)");
  write_bytes(dir / "data.gz", idx_file({10, 4, 4}, iota_bytes(100)), /*gzip=*/true);
  expect_error(dir / "data.gz", 3, "truncated data (100 of 160 bytes)");
}

TEST(IdxReader, TrailingBytes) {
  TempDir dir;
  write_bytes(dir / "f", idx_file({2, 2}, iota_bytes(5)));
  expect_error(dir / "f", 2, "trailing bytes");
}

TEST(IdxReader, CorruptGzipStream) {
  TempDir dir;
  write_bytes(dir / "f.gz", idx_file({50, 10, 10}, iota_bytes(5000)), true);
  std::fstream f(dir / "f.gz", std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(20);
  f.write("\xff\xff\xff\xff\xff\xff\xff\xff", 8);
  f.close();
  try {
    read_idx(dir / "f.gz", 3);
    ADD_FAILURE() << "no error";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find(dir / "f.gz"), std::string::npos) << e.what();
  }
}

TEST(IdxReader, MissingFileAndLabelCountMismatch) {
  TempDir dir;
  expect_error(dir / "nothing", 1, "no such file");
  write_mnist_dir(dir.path, 6, 5, false);
  try {
    read_mnist_dir(dir.path, "train");
    ADD_FAILURE() << "no error";
  } catch (const DataError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("train-labels-idx1-ubyte"), std::string::npos) << msg;
    EXPECT_NE(msg.find("5 labels but"), std::string::npos) << msg;
    EXPECT_NE(msg.find("6 images"), std::string::npos) << msg;
  }
  try {
    read_mnist_dir(dir.path, "test");
    ADD_FAILURE() << "no error";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("missing t10k-images-idx3-ubyte"), std::string::npos) << e.what();
  }
  EXPECT_THROW(read_mnist_dir(dir / "absent", "train"), DataError);
}

TEST(IdxReader, HeaderSizesWhoseProductOverflowsAreNamed) {
  TempDir dir;
  // 2^32−1 in every dimension: the product overflows 64 bits; each case must name the file
  for (const auto& dims : std::vector<std::vector<uint32_t>>{{0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu},
                                                            {0x10000u, 0x10000u, 0x100u},
                                                            {1u, 0xFFFFFFFFu, 0x11u}}) {
    write_bytes(dir / "huge", idx_file(dims, iota_bytes(16)));
    expect_error(dir / "huge", 3, "implausibly large dimensions in header");
  }
}

TEST(IdxReader, AHeaderDeclaringGigabytesInATinyFileIsRefusedBeforeAllocating) {
  // found by make fuzz (fuzz_idx): 28 × 589,967,619 bytes declared in a 32-byte file made eshift
  // allocate 16 GB before reading; the data is now bounded by the file's size first
  TempDir dir;
  const std::vector<uint8_t> crash = {0x00, 0x00, 0x08, 0x02, 0x00, 0x00, 0x00, 0x1c, 0x23, 0x2a, 0x31, 0x03,
                                      0x00, 0x1e, 0x00, 0x04, 0x00, 0x07, 0x0e, 0x01, 0x00, 0x00, 0x08, 0x02,
                                      0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x15};
  write_bytes(dir / "fuzz-oom", crash);
  expect_error(dir / "fuzz-oom", 2, "truncated data (the header declares 16519093332 bytes, the file holds at most 20)");
  // gzip: at most 1032 times the compressed size
  write_bytes(dir / "fuzz-oom.gz", crash, /*gzip=*/true);
  expect_error(dir / "fuzz-oom.gz", 2, "the header declares 16519093332 bytes, the file holds at most");
}
