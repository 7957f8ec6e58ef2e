#pragma once
// Tiny datasets in the exact formats eshift reads, written by the tests: CIFAR binary files and
// ImageNet-style folders of JPEGs (encoded with libjpeg-turbo, smooth images so that a decode is
// close to the pixels it was made from).
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "eshift/data/jpeg.h"
#include "test_util.h"

namespace eshift::test {

// Pixel (c, y, x) of CIFAR record k: a function of all four, so misplaced bytes show.
inline uint8_t cifar_pixel(int k, int c, int y, int x) { return static_cast<uint8_t>(7 * k + 50 * c + 3 * y + x); }

// `n` records of 1 (CIFAR-10) or 2 (CIFAR-100: coarse = k % 20, fine = k % 100) label bytes + pixels.
inline std::vector<uint8_t> cifar_records(int n, int label_bytes, int first = 0) {
  std::vector<uint8_t> out;
  for (int k = first; k < first + n; ++k) {
    if (label_bytes == 2) out.push_back(static_cast<uint8_t>(k % 20));
    out.push_back(static_cast<uint8_t>(label_bytes == 2 ? k % 100 : k % 10));
    for (int c = 0; c < 3; ++c)
      for (int y = 0; y < 32; ++y)
        for (int x = 0; x < 32; ++x) out.push_back(cifar_pixel(k, c, y, x));
  }
  return out;
}

inline void write_cifar100(const std::string& dir, int train, int test) {
  std::filesystem::create_directories(dir);
  write_bytes(dir + "/train.bin", cifar_records(train, 2));
  write_bytes(dir + "/test.bin", cifar_records(test, 2, 1000));
}

// A smooth RGB image: channel c at (y, x) is a slow gradient that depends on `seed`.
inline RgbImage smooth_image(int width, int height, int seed) {
  RgbImage im;
  im.width = width;
  im.height = height;
  im.pixels.resize(size_t(width) * height * 3);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x)
      for (int c = 0; c < 3; ++c)
        im.pixels[(size_t(y) * width + x) * 3 + c] =
            static_cast<uint8_t>(40 + (seed * 37 + c * 60 + 150 * x / width + 40 * y / height) % 170);
  return im;
}

// A JPEG whose frame header (SOF0) is patched to declare width × height pixels while its data
// holds the original image: a decompression bomb's header, or data that ends before the rows the
// header promises.
inline std::vector<uint8_t> jpeg_with_lying_header(std::vector<uint8_t> bytes, int width, int height) {
  for (size_t i = 2; i + 8 < bytes.size(); ++i)
    if (bytes[i] == 0xFF && bytes[i + 1] == 0xC0) {  // SOF0: length (2), precision (1), height (2), width (2)
      bytes[i + 5] = static_cast<uint8_t>(height >> 8), bytes[i + 6] = static_cast<uint8_t>(height);
      bytes[i + 7] = static_cast<uint8_t>(width >> 8), bytes[i + 8] = static_cast<uint8_t>(width);
      return bytes;
    }
  throw std::runtime_error("no SOF0 marker in the JPEG");
}

// dir/{train,val}/<class>/img<k>.JPEG for each class name, `per_class` images each, sizes varying.
inline void write_image_folder(const std::string& dir, const std::vector<std::string>& classes, int per_class_train,
                               int per_class_val, int width = 60, int height = 45) {
  for (const std::string split : {"train", "val"})
    for (size_t c = 0; c < classes.size(); ++c) {
      const std::string folder = dir + "/" + split + "/" + classes[c];
      std::filesystem::create_directories(folder);
      const int n = split == "train" ? per_class_train : per_class_val;
      for (int k = 0; k < n; ++k)
        write_bytes(folder + "/img" + std::to_string(k) + ".JPEG",
                    encode_jpeg(smooth_image(width + 4 * k, height + 3 * k, int(c) * 10 + k), 90));
    }
}

}  // namespace eshift::test
