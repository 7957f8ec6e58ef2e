#pragma once
// IDX files (MNIST, Fashion-MNIST): big-endian header, magic = 0x00 0x00 <type> <ndims>, then
// ndims uint32 sizes, then the data. eshift reads unsigned-byte data (type 0x08), raw or gzip.
#include <torch/torch.h>

#include <stdexcept>
#include <string>

namespace eshift {

// Every problem with a data file: the message names the file and what is wrong.
class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Reads one IDX file of unsigned bytes with exactly `expected_dims` dimensions into a uint8 tensor
// of that shape. Throws DataError on a missing file, bad magic, wrong type or rank, truncated data,
// trailing bytes or a corrupt gzip stream.
torch::Tensor read_idx(const std::string& path, int expected_dims);

// An image classification set held in memory.
struct ImageSet {
  torch::Tensor images;  // uint8 [N, C, H, W]
  torch::Tensor labels;  // int64 [N]
  int64_t num_classes = 0;

  int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
  // First n examples (a view); n larger than size() is an error.
  ImageSet head(int64_t n) const;
};

// Reads an MNIST-layout directory: {train,t10k}-{images-idx3,labels-idx1}-ubyte, each raw or .gz.
// `split` is "train" or "test". Throws DataError naming the file for every problem, including a
// label count different from the image count and labels outside [0, 255].
ImageSet read_mnist_dir(const std::string& dir, const std::string& split);

}  // namespace eshift
