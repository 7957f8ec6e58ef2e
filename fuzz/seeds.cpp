// Writes the fuzz targets' seed corpora: valid files of each format, in each target's input layout
// (fuzz_*.cpp). Usage: fuzz_seeds DIR  →  DIR/idx, DIR/checkpoint, DIR/event_file, DIR/cli, DIR/cifar,
// DIR/jpeg, DIR/pickle (the data.pkl of the test fixtures PyTorch wrote, tests/fixtures).
#include <caffe2/serialize/inline_container.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "eshift/data/jpeg.h"
#include "eshift/models/model.h"
#include "eshift/models/registry.h"
#include "eshift/observe/tensorboard.h"
#include "eshift/train/checkpoint.h"
#include "fuzz_common.h"

namespace fs = std::filesystem;

namespace {
void put(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::string idx(const std::vector<uint32_t>& dims) {
  std::string out{0, 0, 8, static_cast<char>(dims.size())};
  size_t count = 1;
  for (uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(d >> shift));
    count *= d;
  }
  for (size_t i = 0; i < count; ++i) out.push_back(static_cast<char>(i * 7));
  return out;
}

std::string gzip(const std::string& bytes, const std::string& scratch) {
  gzFile f = gzopen(scratch.c_str(), "wb");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
  return slurp(scratch);
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz_seeds DIR\n";
    return 2;
  }
  const std::string dir = argv[1];
  for (const char* target : {"idx", "checkpoint", "event_file", "cli", "cifar", "jpeg", "pickle", "coco"})
    fs::create_directories(dir + "/" + target);

  int n = 0;
  for (const auto& dims : std::vector<std::vector<uint32_t>>{{5}, {3, 4}, {2, 3, 3}}) {
    const char selector = static_cast<char>(dims.size() - 1);
    put(dir + "/idx/raw" + std::to_string(n), selector + idx(dims));
    put(dir + "/idx/gz" + std::to_string(n++), selector + gzip(idx(dims), dir + "/scratch.gz"));
  }
  fs::remove(dir + "/scratch.gz");

  auto model = eshift::build_model(eshift::fuzz::tiny_spec());
  const std::string pt = dir + "/scratch.pt";
  eshift::save_checkpoint(pt, *model, nullptr, {eshift::fuzz::tiny_spec(), 1, "{}", {0.5}, {0.25}});
  const auto file = slurp(pt);
  put(dir + "/checkpoint/file", file);
  fs::remove(pt);

  {
    eshift::TensorBoardWriter tb(dir);
    tb.add_scalar("train/loss", 0.5, 1);
    tb.add_scalar("test/accuracy", 0.75, 2);
    tb.flush();
    fs::rename(tb.path(), dir + "/event_file/events");
  }

  put(dir + "/cli/train", "train\n--model\nresnet20\n--wnorm\nws\n--el2\n--mineps\n1e-3\n--lr\n0.1\n--schedule\n30\n60\n--out\nrun");
  put(dir + "/cli/resume", "train\n--resume\n--resume-override\nepochs,lr\n--keep-checkpoints\n3\n--out\nrun");
  put(dir + "/cli/bench", "bench\n--image\n3x32x32\n--amp\nbf16\n--reg\nel2");
  put(dir + "/cli/experiment", "experiment\ncollapse\n--seeds\n3");
  // CIFAR: selector (fuzz_cifar.cpp) + records of 1 (CIFAR-10) or 2 (CIFAR-100) label bytes and 3072 pixels
  for (int choice = 0; choice < 6; ++choice) {
    const int label_bytes = choice >= 2 ? 2 : 1;
    std::string file(1, static_cast<char>(choice));
    for (int r = 0; r < 2; ++r) {
      for (int b = 0; b < label_bytes; ++b) file.push_back(static_cast<char>(r + b));
      for (int i = 0; i < 3072; ++i) file.push_back(static_cast<char>(i * 13 + r));
    }
    put(dir + "/cifar/" + std::to_string(choice), file);
  }

  // JPEG: selector + files of every kind the decoders meet: 4:4:4, 4:2:0, gray, CMYK, odd sizes
  eshift::RgbImage image;
  int k = 0;
  for (const auto& [w, h] : std::vector<std::pair<int, int>>{{16, 16}, {37, 23}, {64, 48}, {9, 70}}) {
    image.width = w, image.height = h;
    image.pixels.resize(size_t(w) * h * 3);
    for (size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<uint8_t>(i * 7 % 251);
    const std::vector<std::vector<uint8_t>> kinds = {eshift::encode_jpeg(image, 90), eshift::encode_jpeg(image, 75, false, false, true),
                                                     eshift::encode_jpeg(image, 80, true), eshift::encode_jpeg(image, 85, false, true)};
    for (const auto& jpeg : kinds) {
      put(dir + "/jpeg/" + std::to_string(k), std::string(1, static_cast<char>(k)) + std::string(jpeg.begin(), jpeg.end()));
      ++k;
    }
  }

  // pickle: data.pkl of the files PyTorch wrote (state dicts, a checkpoint dict, a tensor, a non-dict)
  for (const char* fixture : {"resnet8w4_state_dict.pt", "resnet8w4_checkpoint.pt", "resnet8_input.pt", "not_a_state_dict.pt",
                              "resnet8w4_mismatch.pt"}) {
    caffe2::serialize::PyTorchStreamReader reader(std::string(ESHIFT_FIXTURES_DIR) + "/" + fixture);
    auto [data, size] = reader.getRecord("data.pkl");
    put(dir + "/pickle/" + fixture, std::string(static_cast<const char*>(data.get()), size));
  }
  // COCO: selector (fuzz_coco.cpp) + an annotation file, or a results file of boxes and masks
  put(dir + "/coco/annotations",
      std::string(1, '\0') +
          R"({"images": [{"id": 1, "file_name": "1.jpg", "height": 20, "width": 30}], "categories": [{"id": 1}],)"
          R"( "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 2, 10, 8], "area": 80,)"
          R"( "iscrowd": 0, "segmentation": [[2, 2, 12, 2, 12, 10, 2, 10]]}, {"id": 2, "image_id": 1,)"
          R"( "category_id": 1, "bbox": [0, 0, 30, 20], "area": 100, "iscrowd": 1, "segmentation":)"
          R"( {"size": [20, 30], "counts": [100, 100, 400]}}]})");
  for (int choice : {2, 3})
    put(dir + "/coco/results" + std::to_string(choice),
        std::string(1, static_cast<char>(choice)) +
            R"([{"image_id": 1, "category_id": 1, "bbox": [2, 3, 10, 8], "score": 0.9},)"
            R"( {"image_id": 1, "category_id": 7, "score": 0.5, "segmentation": {"size": [20, 30], "counts": "c26>0000000000000U;"}},)"
            R"( {"image_id": 2, "category_id": 1, "score": 0.7, "segmentation": [[0, 0, 5, 0, 5, 5]]}])");
  std::cout << "seeds written to " << dir << "\n";
  return 0;
}
