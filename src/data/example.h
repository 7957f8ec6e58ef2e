#pragma once
// One example as a dataset hands it to the loader: decoded pixels (in-memory sets), or the encoded
// bytes of an image file that the transform decodes (image folders: the transform chooses the DCT
// scale from its crop, data/jpeg_transforms.h).
#include <torch/torch.h>

#include <cstdint>
#include <memory>
#include <string>

namespace eshift {

struct ImageShape {
  int64_t channels = 0, height = 0, width = 0;
  int64_t numel() const { return channels * height * width; }
  std::string str() const {  // "1x28x28"
    return std::to_string(channels) + "x" + std::to_string(height) + "x" + std::to_string(width);
  }
};

// The pixels are a view, kept valid by `owner` (the dataset's storage, or the buffer a file was
// read into): an in-memory set hands out examples without copying or creating a tensor per image.
struct Example {
  const uint8_t* pixels = nullptr;     // uint8 [C, H, W], contiguous; or the file's bytes when encoded
  ImageShape shape;
  int64_t label = 0;                   // class index
  std::shared_ptr<const void> owner;   // keeps `pixels` alive
  int64_t encoded_size = 0;            // > 0: `pixels` are this many bytes of an encoded image file
  const std::string* source = nullptr; // the file it came from (for messages), when it has one

  bool encoded() const { return encoded_size > 0; }
  // The pixels as a uint8 [C, H, W] tensor sharing the memory (for inspection and tests).
  torch::Tensor tensor() const {
    return torch::from_blob(const_cast<uint8_t*>(pixels), {shape.channels, shape.height, shape.width},
                            [keep = owner](void*) {}, torch::kUInt8);
  }
};

}  // namespace eshift
