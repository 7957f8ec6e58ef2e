// Fuzz target: the CIFAR binary reader (data/cifar_reader.h). Input: one byte choosing CIFAR-10 or
// CIFAR-100 (fine or coarse labels) and the split, then the split's file (CIFAR-10's training split
// is five files: the input is data_batch_1.bin, the four others hold one valid record each). The
// only allowed failure is a DataError.
#include <filesystem>
#include <vector>

#include "eshift/core/errors.h"
#include "eshift/data/cifar_reader.h"
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int choice = data[0] % 6;
  const bool cifar100 = choice >= 2, train = choice % 2 == 0, coarse = choice >= 4;
  static const std::string dir = eshift::fuzz::scratch_dir("cifar");
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string name = cifar100 ? (train ? "train.bin" : "test.bin") : (train ? "data_batch_1.bin" : "test_batch.bin");
  eshift::fuzz::write_file(dir + "/" + name, data + 1, size - 1);
  if (!cifar100 && train) {
    static const std::vector<uint8_t> record(3073, 1);  // label 1, pixels 1
    for (int k = 2; k <= 5; ++k) eshift::fuzz::write_file(dir + "/data_batch_" + std::to_string(k) + ".bin", record.data(), record.size());
  }
  try {
    const auto set = cifar100 ? eshift::read_cifar100_dir(dir, train ? "train" : "test", coarse)
                              : eshift::read_cifar10_dir(dir, train ? "train" : "test");
    eshift::ImageSetDataset dataset(set);  // the checks the trainer's dataset makes
    if (dataset.size() > 0) (void)dataset.get(dataset.size() - 1);
  } catch (const eshift::DataError&) {
  }
  return 0;
}
