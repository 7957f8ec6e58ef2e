#include "eshift/data/image_folder.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <map>

#include "eshift/core/checksum.h"
#include "eshift/core/errors.h"
#include "eshift/core/file_bytes.h"
#include "eshift/data/jpeg_transforms.h"

namespace fs = std::filesystem;

namespace eshift {

namespace {
bool has_image_extension(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  for (const char* e : {".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"})
    if (ext == e) return true;
  return false;
}

// Every image file under `dir` (following links, as torchvision's os.walk(followlinks=True)), sorted.
std::vector<std::string> image_files(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code error;
  for (fs::recursive_directory_iterator it(dir, fs::directory_options::follow_directory_symlink, error), end;
       !error && it != end; it.increment(error))
    if (it->is_regular_file() && has_image_extension(it->path())) out.push_back(it->path().string());
  if (error) throw DataError(dir + ": cannot list the folder (" + error.message() + ")");
  std::sort(out.begin(), out.end());
  return out;
}
}  // namespace

std::vector<std::string> find_classes(const std::string& dir) {
  if (!fs::is_directory(dir)) throw DataError(dir + ": image folder does not exist");
  std::vector<std::string> classes;
  for (const auto& entry : fs::directory_iterator(dir))
    if (entry.is_directory()) classes.push_back(entry.path().filename().string());
  std::sort(classes.begin(), classes.end());
  if (classes.empty()) throw DataError(dir + ": no class folders (expected " + dir + "/<class>/<image>)");
  return classes;
}

ImageFolderDataset::ImageFolderDataset(const std::string& dir, const std::string& split, const DataOptions& options)
    : options_(options) {
  if (split != "train" && split != "val") throw DataError("unknown split '" + split + "' of an image folder (train or val)");
  if (!fs::is_directory(dir)) throw DataError(dir + ": data directory does not exist");
  if (options_.image_size < 8) throw std::invalid_argument("--image-size must be >= 8");
  classes_ = find_classes(dir + "/train");  // the training folder's classes number both splits
  std::map<std::string, int64_t> index;
  for (size_t c = 0; c < classes_.size(); ++c) index[classes_[c]] = static_cast<int64_t>(c);
  const std::string root = dir + "/" + split;
  auto files = std::make_shared<std::vector<File>>();
  for (const auto& name : find_classes(root)) {
    const auto found = index.find(name);
    if (found == index.end()) throw DataError(root + "/" + name + ": class folder not in " + dir + "/train");
    const auto paths = image_files(root + "/" + name);
    if (paths.empty()) throw DataError(root + "/" + name + ": no image files in the class folder");
    for (const auto& p : paths) files->push_back({p, found->second});
  }
  files_ = std::move(files);
}

Example ImageFolderDataset::get(int64_t index) const {
  TORCH_CHECK(index >= 0 && index < size(), "example ", index, " of a set of ", size());
  const File& file = (*files_)[static_cast<size_t>(index)];
  auto bytes = std::make_shared<std::vector<uint8_t>>(read_file_bytes(file.path));
  const auto n = static_cast<int64_t>(bytes->size());
  Example ex;
  ex.pixels = bytes->data();
  ex.shape = image_shape();
  ex.label = file.label;
  ex.owner = bytes;
  ex.encoded_size = n;
  ex.source = &file.path;
  return ex;
}

ChannelStats ImageFolderDataset::channel_stats() const { return {{0.485, 0.456, 0.406}, {0.229, 0.224, 0.225}}; }

std::string ImageFolderDataset::fingerprint() const {
  // labels and file names, not the folder's path: the same files mounted elsewhere are the same data
  std::string list;
  for (const auto& file : *files_) list += std::to_string(file.label) + " " + fs::path(file.path).filename().string() + "\n";
  char crc[32];
  std::snprintf(crc, sizeof crc, "file list %08x", crc32c(list.data(), list.size()));
  return Dataset::fingerprint() + ", " + crc;
}

std::shared_ptr<const Dataset> ImageFolderDataset::head(int64_t n) const {
  TORCH_CHECK(n >= 1 && n <= size(), "asked for ", n, " examples of a set of ", size());
  auto picked = std::make_shared<std::vector<File>>();
  for (int64_t k = 0; k < n; ++k) picked->push_back((*files_)[static_cast<size_t>(k * size() / n)]);
  return std::shared_ptr<const Dataset>(new ImageFolderDataset(classes_, std::move(picked), options_));
}

std::unique_ptr<Transform> ImageFolderDataset::train_transform(const AugmentOptions& augment,
                                                               const ChannelStats& normalization) const {
  return std::make_unique<RandomResizedCropFlip>(options_.image_size, augment.hflip, normalization.mean, normalization.std,
                                                 options_.max_image_pixels);
}

std::unique_ptr<Transform> ImageFolderDataset::eval_transform(const ChannelStats& normalization) const {
  // 256 for 224, the same ratio for other sizes
  return std::make_unique<ResizeCenterCrop>(options_.image_size * 256 / 224, options_.image_size, normalization.mean,
                                            normalization.std, options_.max_image_pixels);
}

}  // namespace eshift
