#pragma once
// The dataset registry: every dataset eshift reads, by name (--data NAME), with the directory it
// is read from unless --data-dir says otherwise. A new dataset (CIFAR, ImageNet folders) joins by
// adding one entry to dataset_registry() in registry.cpp.
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace eshift {

class Dataset;       // dataset.h
struct DataOptions;  // dataset.h

struct DatasetEntry {
  std::string name;          // --data NAME
  std::string default_dir;   // --data-dir when not given
  std::string description;   // one line for --help
  int crop_padding = 2;      // --crop-padding when not given (its standard augmentation)
  // Opens split "train" or "test" of the dataset in `dir`; throws DataError naming the file.
  std::function<std::shared_ptr<const Dataset>(const std::string& dir, const std::string& split,
                                               const DataOptions& options)>
      open;
  // The task its data is for: "classify" (opened above, as a Dataset), or "detect" (COCO: opened
  // by the detection task itself, tasks/detection.h; `open` is empty).
  std::string task = "classify";
};

const std::vector<DatasetEntry>& dataset_registry();

constexpr const char* kDefaultDataset = "fashion-mnist";

// The entry of `name`; throws std::invalid_argument ("unknown --data 'x' (known: …)").
const DatasetEntry& find_dataset(const std::string& name);

// find_dataset(name).open(dir, split, options), the entry's default directory when `dir` is empty;
// throws std::invalid_argument for a dataset of another task than classification.
std::shared_ptr<const Dataset> open_dataset(const std::string& name, const std::string& dir, const std::string& split,
                                            const DataOptions& options);
std::shared_ptr<const Dataset> open_dataset(const std::string& name, const std::string& dir, const std::string& split);

}  // namespace eshift
