#pragma once
// Helpers shared by the tests: temporary directories and IDX files written byte by byte.
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace eshift::test {

// The whole file as a string ("" when it cannot be read).
inline std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A fresh empty directory under the system temp dir, removed when the object dies.
struct TempDir {
  TempDir() {
    std::random_device rd;
    path = (std::filesystem::temp_directory_path() / ("eshift-test-" + std::to_string(rd()) + std::to_string(rd())))
               .string();
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::string operator/(const std::string& name) const { return path + "/" + name; }
  std::string path;
};

inline std::vector<uint8_t> idx_header(uint8_t type, const std::vector<uint32_t>& dims) {
  std::vector<uint8_t> out{0, 0, type, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(d >> shift));
  return out;
}

inline void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes, bool gzip = false) {
  if (gzip) {
    gzFile f = gzopen(path.c_str(), "wb");
    gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
    gzclose(f);
  } else {
    std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
}

// A complete IDX file: header then data.
inline std::vector<uint8_t> idx_file(const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data) {
  auto out = idx_header(0x08, dims);
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

}  // namespace eshift::test

namespace eshift::test {

// An MNIST-layout directory (raw IDX files) with `train` and `test` images of h×w per split;
// image i has label i % classes and pixels (31·i + 7·y + 13·x + 60·label) mod 256.
inline void write_mnist_layout(const std::string& dir, uint32_t train, uint32_t test, uint32_t h, uint32_t w,
                               uint32_t classes) {
  for (const auto& [prefix, n] : {std::pair<std::string, uint32_t>{"train", train}, {"t10k", test}}) {
    std::vector<uint8_t> pixels, labels;
    for (uint32_t i = 0; i < n; ++i) {
      const uint32_t label = i % classes;
      labels.push_back(static_cast<uint8_t>(label));
      for (uint32_t y = 0; y < h; ++y)
        for (uint32_t x = 0; x < w; ++x) pixels.push_back(static_cast<uint8_t>((31 * i + 7 * y + 13 * x + 60 * label) % 256));
    }
    write_bytes(dir + "/" + prefix + "-images-idx3-ubyte", idx_file({n, h, w}, pixels));
    write_bytes(dir + "/" + prefix + "-labels-idx1-ubyte", idx_file({n}, labels));
  }
}

}  // namespace eshift::test
