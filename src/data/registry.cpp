#include "eshift/data/registry.h"

#include <stdexcept>

#include "eshift/data/idx_reader.h"

namespace eshift {

const std::vector<DatasetEntry>& dataset_registry() {
  static const std::vector<DatasetEntry> entries = {
      {"fashion-mnist", "/usr/share/datasets/fashion-mnist",
       "an MNIST-layout directory of IDX files, raw or .gz (Fashion-MNIST, MNIST, KMNIST)",
       [](const std::string& dir, const std::string& split) -> std::shared_ptr<const Dataset> {
         return std::make_shared<ImageSetDataset>(read_mnist_dir(dir, split));
       }},
  };
  return entries;
}

const DatasetEntry& find_dataset(const std::string& name) {
  std::string known;
  for (const auto& entry : dataset_registry()) {
    if (entry.name == name) return entry;
    known += (known.empty() ? "" : ", ") + entry.name;
  }
  throw std::invalid_argument("unknown --data '" + name + "' (known: " + known + ")");
}

std::shared_ptr<const Dataset> open_dataset(const std::string& name, const std::string& dir, const std::string& split) {
  const auto& entry = find_dataset(name);
  return entry.open(dir.empty() ? entry.default_dir : dir, split);
}

}  // namespace eshift
