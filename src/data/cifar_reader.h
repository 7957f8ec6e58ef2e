#pragma once
// The CIFAR datasets in their official binary versions (https://www.cs.toronto.edu/~kriz/cifar.html):
//   CIFAR-10   data_batch_1.bin … data_batch_5.bin (train), test_batch.bin (test); each record is
//              1 label byte (0–9) + 3072 pixel bytes (1024 red, 1024 green, 1024 blue, rows of 32)
//   CIFAR-100  train.bin, test.bin; each record is 1 coarse label byte (0–19), 1 fine label byte
//              (0–99) + the same 3072 pixel bytes. eshift uses the fine labels, or the 20 superclasses
//              with coarse_labels (--cifar100-coarse).
// A directory is the extracted archive's folder (cifar-10-batches-bin, cifar-100-binary) or a folder
// that holds it.
#include <string>

#include "eshift/data/image_set.h"

namespace eshift {

// Reads split "train" or "test". Throws DataError naming the file on a missing file, a size that is
// not a whole number of records, or a label out of range.
ImageSet read_cifar10_dir(const std::string& dir, const std::string& split);
ImageSet read_cifar100_dir(const std::string& dir, const std::string& split, bool coarse_labels);

}  // namespace eshift
