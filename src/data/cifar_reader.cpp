#include "eshift/data/cifar_reader.h"

#include <filesystem>
#include <fstream>
#include <vector>

#include "eshift/core/errors.h"

namespace eshift {

namespace {
constexpr int64_t kPixels = 3 * 32 * 32;

// `dir` itself when it holds `probe`, else its subfolder `archive_folder` when that does.
std::string locate(const std::string& dir, const std::string& archive_folder, const std::string& probe) {
  if (!std::filesystem::is_directory(dir)) throw DataError(dir + ": data directory does not exist");
  if (std::filesystem::is_regular_file(dir + "/" + probe)) return dir;
  const std::string inner = dir + "/" + archive_folder;
  if (std::filesystem::is_regular_file(inner + "/" + probe)) return inner;
  throw DataError(dir + ": missing " + probe + " (expected the extracted " + archive_folder + " folder or its files)");
}

// Appends the records of one file: `label_bytes` label bytes (the used one at `label_at`, below
// `classes`), then the pixels.
void read_records(const std::string& path, int label_bytes, int label_at, int64_t classes, std::vector<uint8_t>& pixels,
                  std::vector<int64_t>& labels) {
  if (!std::filesystem::is_regular_file(path)) throw DataError(path + ": no such file");
  const int64_t record = label_bytes + kPixels;
  const int64_t size = static_cast<int64_t>(std::filesystem::file_size(path));
  if (size == 0 || size % record != 0)
    throw DataError(path + ": size " + std::to_string(size) + " is not a whole number of " + std::to_string(record) +
                    "-byte records (truncated or not a CIFAR binary file)");
  std::ifstream in(path, std::ios::binary);
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  if (!in.read(reinterpret_cast<char*>(bytes.data()), size)) throw DataError(path + ": read error");
  const int64_t n = size / record;
  const size_t first = pixels.size();
  pixels.resize(first + static_cast<size_t>(n * kPixels));
  for (int64_t i = 0; i < n; ++i) {
    const uint8_t* r = bytes.data() + i * record;
    if (r[label_at] >= classes)
      throw DataError(path + ": record " + std::to_string(i) + " has label " + std::to_string(r[label_at]) +
                      ", outside [0, " + std::to_string(classes - 1) + "]");
    labels.push_back(r[label_at]);
    std::copy(r + label_bytes, r + record, pixels.begin() + static_cast<std::ptrdiff_t>(first + i * kPixels));
  }
}

ImageSet to_set(std::vector<uint8_t>& pixels, std::vector<int64_t>& labels, int64_t classes) {
  const int64_t n = static_cast<int64_t>(labels.size());
  ImageSet set;
  set.images = torch::from_blob(pixels.data(), {n, 3, 32, 32}, torch::kUInt8).clone();
  set.labels = torch::from_blob(labels.data(), {n}, torch::kInt64).clone();
  set.num_classes = classes;
  return set;
}

void check_split(const std::string& split) {
  if (split != "train" && split != "test") throw DataError("unknown split '" + split + "' (train or test)");
}
}  // namespace

ImageSet read_cifar10_dir(const std::string& dir, const std::string& split) {
  check_split(split);
  const std::string root = locate(dir, "cifar-10-batches-bin", split == "train" ? "data_batch_1.bin" : "test_batch.bin");
  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels;
  if (split == "train") {
    for (int b = 1; b <= 5; ++b) read_records(root + "/data_batch_" + std::to_string(b) + ".bin", 1, 0, 10, pixels, labels);
  } else {
    read_records(root + "/test_batch.bin", 1, 0, 10, pixels, labels);
  }
  return to_set(pixels, labels, 10);
}

ImageSet read_cifar100_dir(const std::string& dir, const std::string& split, bool coarse_labels) {
  check_split(split);
  const std::string file = split + ".bin";
  const std::string root = locate(dir, "cifar-100-binary", file);
  std::vector<uint8_t> pixels;
  std::vector<int64_t> labels;
  const int64_t classes = coarse_labels ? 20 : 100;
  read_records(root + "/" + file, 2, coarse_labels ? 0 : 1, classes, pixels, labels);
  return to_set(pixels, labels, classes);
}

}  // namespace eshift
