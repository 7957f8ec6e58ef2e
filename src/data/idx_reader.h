#pragma once
// IDX files (MNIST, Fashion-MNIST): big-endian header, magic = 0x00 0x00 <type> <ndims>, then
// ndims uint32 sizes, then the data. eshift reads unsigned-byte data (type 0x08), raw or gzip.
#include <torch/torch.h>

#include <string>

#include "eshift/core/errors.h"
#include "eshift/data/image_set.h"

namespace eshift {

// Reads one IDX file of unsigned bytes with exactly `expected_dims` dimensions into a uint8 tensor
// of that shape. Throws DataError on a missing file, bad magic, wrong type or rank, truncated data,
// trailing bytes or a corrupt gzip stream.
torch::Tensor read_idx(const std::string& path, int expected_dims);

// Reads an MNIST-layout directory: {train,t10k}-{images-idx3,labels-idx1}-ubyte, each raw or .gz.
// `split` is "train" or "test". Throws DataError naming the file for every problem, including a
// label count different from the image count and labels outside [0, 255].
ImageSet read_mnist_dir(const std::string& dir, const std::string& split);

}  // namespace eshift
