#include "eshift/data/idx_reader.h"

#include <zlib.h>

#include <filesystem>
#include <memory>
#include <vector>

namespace eshift {

namespace {
// gzopen reads both gzip and uncompressed files transparently.
struct GzFile {
  explicit GzFile(const std::string& path) : path(path), f(gzopen(path.c_str(), "rb")) {
    if (!f) throw DataError(path + ": cannot open file");
    compressed = gzdirect(f) == 0;
  }
  ~GzFile() { if (f) gzclose(f); }
  // Reads up to n bytes; returns the count read; throws on a corrupt stream.
  size_t read(void* dst, size_t n) {
    size_t total = 0;
    while (total < n) {
      const unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - total, 1u << 30));
      int got = gzread(f, static_cast<char*>(dst) + total, chunk);
      if (got < 0) {
        int code = 0;
        const char* msg = gzerror(f, &code);
        throw DataError(path + ": corrupt compressed data (" + (msg ? msg : "zlib error") + ")");
      }
      if (got == 0) break;
      total += static_cast<size_t>(got);
    }
    return total;
  }
  std::string path;
  gzFile f;
  bool compressed = false;  // gzip (not a raw file read through)
};

uint32_t big_endian(const unsigned char* b) {
  return (uint32_t(b[0]) << 24) | (uint32_t(b[1]) << 16) | (uint32_t(b[2]) << 8) | uint32_t(b[3]);
}
}  // namespace

torch::Tensor read_idx(const std::string& path, int expected_dims) {
  if (!std::filesystem::is_regular_file(path)) throw DataError(path + ": no such file");
  GzFile file(path);
  unsigned char magic[4];
  if (file.read(magic, 4) != 4) throw DataError(path + ": truncated header (file shorter than 4 bytes)");
  if (magic[0] != 0 || magic[1] != 0)
    throw DataError(path + ": bad magic number (not an IDX file: first two bytes must be zero)");
  if (magic[2] != 0x08)
    throw DataError(path + ": unsupported IDX data type 0x" + std::to_string(magic[2]) +
                    " (only unsigned bytes, 0x08, are supported)");
  const int dims = magic[3];
  if (dims != expected_dims)
    throw DataError(path + ": has " + std::to_string(dims) + " dimensions, expected " +
                    std::to_string(expected_dims));
  std::vector<int64_t> shape(dims);
  int64_t count = 1;
  for (int d = 0; d < dims; ++d) {
    unsigned char b[4];
    if (file.read(b, 4) != 4) throw DataError(path + ": truncated header (dimension sizes missing)");
    shape[d] = big_endian(b);
    if (shape[d] == 0) throw DataError(path + ": dimension " + std::to_string(d) + " has size 0");
    // at most 2^36 bytes (64 GiB), checked before multiplying so the product cannot overflow
    constexpr int64_t kMaxBytes = int64_t(1) << 36;
    if (shape[d] > kMaxBytes / count)
      throw DataError(path + ": implausibly large dimensions in header (more than 2^36 bytes of data)");
    count *= shape[d];
  }
  // The data cannot be longer than the file allows: the bytes after the header, or for gzip at most
  // 1032 times the compressed size (deflate's largest ratio). Checked before allocating, so a
  // damaged header cannot make eshift allocate gigabytes for a small file.
  const int64_t file_size = static_cast<int64_t>(std::filesystem::file_size(path));
  const int64_t header_size = 4 + 4 * dims;
  const int64_t most = file.compressed ? file_size * 1032 : file_size - header_size;
  if (count > most)
    throw DataError(path + ": truncated data (the header declares " + std::to_string(count) +
                    " bytes, the file holds at most " + std::to_string(std::max<int64_t>(most, 0)) + ")");
  auto out = torch::empty(shape, torch::kUInt8);
  const size_t got = file.read(out.data_ptr<uint8_t>(), static_cast<size_t>(count));
  if (got != static_cast<size_t>(count))
    throw DataError(path + ": truncated data (" + std::to_string(got) + " of " + std::to_string(count) +
                    " bytes)");
  unsigned char extra;
  if (file.read(&extra, 1) != 0) throw DataError(path + ": trailing bytes after the data the header declares");
  return out;
}

namespace {
std::string find_file(const std::string& dir, const std::string& stem) {
  for (const auto& candidate : {dir + "/" + stem, dir + "/" + stem + ".gz"})
    if (std::filesystem::is_regular_file(candidate)) return candidate;
  throw DataError(dir + ": missing " + stem + " (or " + stem + ".gz)");
}
}  // namespace

ImageSet read_mnist_dir(const std::string& dir, const std::string& split) {
  if (!std::filesystem::is_directory(dir)) throw DataError(dir + ": data directory does not exist");
  if (split != "train" && split != "test") throw DataError("unknown split '" + split + "' (train or test)");
  const std::string prefix = split == "train" ? "train" : "t10k";
  const auto image_path = find_file(dir, prefix + "-images-idx3-ubyte");
  const auto label_path = find_file(dir, prefix + "-labels-idx1-ubyte");
  auto images = read_idx(image_path, 3);
  auto labels = read_idx(label_path, 1);
  if (labels.size(0) != images.size(0))
    throw DataError(label_path + ": has " + std::to_string(labels.size(0)) + " labels but " + image_path +
                    " has " + std::to_string(images.size(0)) + " images");
  ImageSet set;
  set.images = images.unsqueeze(1);  // [N, 1, H, W]
  set.labels = labels.to(torch::kInt64);
  set.num_classes = set.labels.max().item<int64_t>() + 1;
  return set;
}

}  // namespace eshift
