// Fuzz target: the JPEG path of image folders, bytes → decoded, cropped, resized, normalized tensor
// (data/jpeg.h, data/jpeg_transforms.h): the header read, the full and scaled decode (TurboJPEG),
// the region decode (libjpeg's partial decoding) behind RandomResizedCropFlip, and ResizeCenterCrop.
// Input: one byte choosing the crop's random seed and the output size, then the file. The only
// allowed failure is a DataError. The pixel limit is 2^22 here (the default, PIL's, lets a header
// ask for 179 million pixels: correct, but seconds per input).
#include <memory>
#include <vector>

#include "eshift/core/errors.h"
#include "eshift/data/example.h"
#include "eshift/data/jpeg.h"
#include "eshift/data/jpeg_transforms.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  constexpr int64_t kMaxPixels = int64_t(1) << 22;
  const int out = 8 + data[0] % 4 * 8;  // 8, 16, 24 or 32
  auto bytes = std::make_shared<std::vector<uint8_t>>(data + 1, data + size);
  static const std::string source = "fuzz.JPEG";
  eshift::Example example;
  example.pixels = bytes->data();
  example.encoded_size = static_cast<int64_t>(bytes->size());
  example.owner = bytes;
  example.source = &source;
  std::vector<float> tensor(size_t(3) * out * out);
  const std::vector<double> mean{0.5, 0.5, 0.5}, std{0.25, 0.25, 0.25};
  try {
    eshift::RandomResizedCropFlip train(out, true, mean, std, kMaxPixels);
    std::mt19937_64 rng(data[0]);
    train.draw_epoch(rng, 1);
    train.apply_example(example, 0, tensor.data());
  } catch (const eshift::DataError&) {
  }
  try {
    eshift::ResizeCenterCrop eval(out * 8 / 7, out, mean, std, kMaxPixels);
    eval.apply_example(example, 0, tensor.data());
  } catch (const eshift::DataError&) {
  }
  try {
    (void)eshift::decode_jpeg(bytes->data(), bytes->size(), 1 << (data[0] % 4), source, kMaxPixels);
  } catch (const eshift::DataError&) {
  }
  return 0;
}
