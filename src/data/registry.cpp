#include "eshift/data/registry.h"

#include <stdexcept>

#include "eshift/core/named.h"
#include "eshift/data/cifar_reader.h"
#include "eshift/data/idx_reader.h"
#include "eshift/data/image_folder.h"

namespace eshift {

const std::vector<DatasetEntry>& dataset_registry() {
  static const std::vector<DatasetEntry> entries = {
      {"fashion-mnist", "/usr/share/datasets/fashion-mnist",
       "an MNIST-layout directory of IDX files, raw or .gz (Fashion-MNIST, MNIST, KMNIST)", 2,
       [](const std::string& dir, const std::string& split, const DataOptions&) -> std::shared_ptr<const Dataset> {
         return std::make_shared<ImageSetDataset>(read_mnist_dir(dir, split));
       }},
      {"cifar10", "data/cifar-10-batches-bin", "CIFAR-10, binary version (data_batch_1..5.bin, test_batch.bin)", 4,
       [](const std::string& dir, const std::string& split, const DataOptions&) -> std::shared_ptr<const Dataset> {
         return std::make_shared<ImageSetDataset>(read_cifar10_dir(dir, split));
       }},
      {"cifar100", "data/cifar-100-binary",
       "CIFAR-100, binary version (train.bin, test.bin); fine labels, or --cifar100-coarse", 4,
       [](const std::string& dir, const std::string& split, const DataOptions& o) -> std::shared_ptr<const Dataset> {
         return std::make_shared<ImageSetDataset>(read_cifar100_dir(dir, split, o.cifar100_coarse));
       }},
      {"imagenet", "data/imagenet",
       "ImageNet-style folders of JPEGs: train/<class>/*, val/<class>/* (classes sorted by name)", 0,
       [](const std::string& dir, const std::string& split, const DataOptions& o) -> std::shared_ptr<const Dataset> {
         return std::make_shared<ImageFolderDataset>(dir, split == "train" ? "train" : "val", o);
       }},
      {"coco", "data/coco",
       "COCO detection: annotations/instances_{train,val}2017.json, train2017/, val2017/ (--task detect)", 0,
       nullptr, "detect"},
  };
  return entries;
}

const DatasetEntry& find_dataset(const std::string& name) { return find_named(dataset_registry(), name, "--data"); }

std::shared_ptr<const Dataset> open_dataset(const std::string& name, const std::string& dir, const std::string& split,
                                            const DataOptions& options) {
  const auto& entry = find_dataset(name);
  if (!entry.open)
    throw std::invalid_argument("--data " + name + " holds " + (entry.task == "detect" ? "detection" : entry.task) +
                                " data (images with their objects): train it with --task " + entry.task);
  return entry.open(dir.empty() ? entry.default_dir : dir, split, options);
}

std::shared_ptr<const Dataset> open_dataset(const std::string& name, const std::string& dir, const std::string& split) {
  return open_dataset(name, dir, split, DataOptions{});
}

}  // namespace eshift
