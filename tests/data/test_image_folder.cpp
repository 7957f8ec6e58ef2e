// ImageNet-style folders and their JPEG transforms: class order as torchvision's ImageFolder,
// decoded pixels against the images they were encoded from (full size and at DCT scales),
// grayscale and CMYK JPEGs, RandomResizedCrop's statistics, and damaged files skipped and counted
// (or fatal), never a crash.
#include <gtest/gtest.h>

#include <functional>

#include <cmath>

#include "data/image_files.h"
#include "eshift/core/errors.h"
#include "eshift/data/batch_loader.h"
#include "eshift/data/image_folder.h"
#include "eshift/data/jpeg.h"
#include "eshift/data/jpeg_transforms.h"
#include "eshift/data/registry.h"

using namespace eshift;
using namespace eshift::test;

namespace {
torch::Tensor hwc(const RgbImage& im) {
  return torch::from_blob(const_cast<uint8_t*>(im.pixels.data()), {im.height, im.width, 3}, torch::kUInt8)
      .to(torch::kFloat32);
}
// The image averaged over d×d blocks (what a 1/d DCT-scaled decode approximates).
torch::Tensor block_mean(const RgbImage& im, int d) {
  auto x = hwc(im).permute({2, 0, 1}).unsqueeze(0);
  return torch::avg_pool2d(x, d, d, 0, /*ceil_mode=*/true, /*count_include_pad=*/false)[0].permute({1, 2, 0});
}
Example encoded(const std::vector<uint8_t>& bytes) {
  auto owner = std::make_shared<std::vector<uint8_t>>(bytes);
  Example ex;
  ex.pixels = owner->data();
  ex.owner = owner;
  ex.encoded_size = static_cast<int64_t>(owner->size());
  return ex;
}
}  // namespace

TEST(Jpeg, DecodesToThePixelsItWasEncodedFromAtFullAndReducedDctScale) {
  const auto original = smooth_image(96, 64, 3);
  const auto bytes = encode_jpeg(original, 100);
  const auto header = read_jpeg_header(bytes.data(), bytes.size(), "x.jpg");
  EXPECT_EQ(header.width, 96);
  EXPECT_EQ(header.height, 64);
  const auto full = decode_jpeg(bytes.data(), bytes.size(), 1, "x.jpg");
  EXPECT_LE((hwc(full) - hwc(original)).abs().max().item<float>(), 4.f);
  for (int d : {2, 4, 8}) {
    const auto scaled = decode_jpeg(bytes.data(), bytes.size(), d, "x.jpg");
    EXPECT_EQ(scaled.width, (96 + d - 1) / d);
    EXPECT_EQ(scaled.height, (64 + d - 1) / d);
    // a smooth image: the scaled decode is the block average, up to the gradient across a block
    EXPECT_LE((hwc(scaled) - block_mean(original, d)).abs().mean().item<float>(), 3.f) << "1/" << d;
  }
}

TEST(Jpeg, ARegionDecodesToThatPartOfTheWholeImage) {
  // 4:2:0 subsampling (ImageNet's usual): chroma upsampling at the region's edges must match too
  RgbImage original = smooth_image(203, 151, 8);
  const auto noise = torch::randint(0, 40, {151 * 203 * 3}, torch::kUInt8);
  for (size_t i = 0; i < original.pixels.size(); ++i) original.pixels[i] = uint8_t(original.pixels[i] + noise[long(i)].item<int>() / 2);
  const auto bytes = encode_jpeg(original, 90, false, false, /*chroma_420=*/true);
  for (int d : {1, 2, 4}) {
    const auto whole = decode_jpeg(bytes.data(), bytes.size(), d, "x.jpg");
    RgbImage part;
    const int top = 37 / d, left = 61 / d, h = 80 / d, w = 90 / d;
    decode_jpeg_region(bytes.data(), bytes.size(), d, top, left, h, w, "x.jpg", part);
    EXPECT_EQ(part.top, top);
    EXPECT_LE(part.left, left);  // widened to whole iMCUs
    EXPECT_GE(part.left + part.width, left + w);
    EXPECT_EQ(part.height, h);
    // the pixels asked for, exactly as the whole image's decode has them
    const auto got = torch::from_blob(part.pixels.data(), {part.height, part.width, 3}, torch::kUInt8)
                         .narrow(1, left - part.left, w).to(torch::kFloat32);
    const auto want = hwc(whole).narrow(0, top, h).narrow(1, left, w);
    EXPECT_TRUE(torch::equal(got, want)) << "1/" << d << ": max difference " << (got - want).abs().max().item<float>();
  }
}

TEST(Jpeg, GrayscaleAndCmykBecomeRgb) {
  const auto original = smooth_image(40, 24, 5);
  const auto gray = decode_jpeg(encode_jpeg(original, 100, /*gray=*/true).data(),
                                encode_jpeg(original, 100, true).size(), 1, "gray.jpg");
  ASSERT_EQ(gray.pixels.size(), size_t(40 * 24 * 3));
  const auto g = hwc(gray);
  EXPECT_TRUE(torch::equal(g.select(2, 0), g.select(2, 1)) && torch::equal(g.select(2, 1), g.select(2, 2)));
  // luma of the original: 0.299 R + 0.587 G + 0.114 B
  const auto o = hwc(original);
  const auto luma = o.select(2, 0) * 0.299 + o.select(2, 1) * 0.587 + o.select(2, 2) * 0.114;
  EXPECT_LE((g.select(2, 0) - luma).abs().max().item<float>(), 3.f);
  const auto cmyk_bytes = encode_jpeg(original, 100, false, /*cmyk=*/true);
  EXPECT_TRUE(read_jpeg_header(cmyk_bytes.data(), cmyk_bytes.size(), "c.jpg").cmyk);
  const auto cmyk = decode_jpeg(cmyk_bytes.data(), cmyk_bytes.size(), 1, "c.jpg");
  EXPECT_LE((hwc(cmyk) - o).abs().mean().item<float>(), 3.f);
  // the region decoder converts CMYK the same way
  RgbImage part;
  decode_jpeg_region(cmyk_bytes.data(), cmyk_bytes.size(), 1, 5, 9, 10, 12, "c.jpg", part);
  const auto got = torch::from_blob(part.pixels.data(), {part.height, part.width, 3}, torch::kUInt8)
                       .narrow(1, 9 - part.left, 12).to(torch::kFloat32);
  EXPECT_TRUE(torch::equal(got, hwc(cmyk).narrow(0, 5, 10).narrow(1, 9, 12)));
}

TEST(Jpeg, DamagedFilesAreErrorsNamingTheFile) {
  const auto bytes = encode_jpeg(smooth_image(64, 48, 1), 90);
  const std::vector<uint8_t> truncated(bytes.begin(), bytes.begin() + bytes.size() / 2);
  const std::vector<uint8_t> png{0x89, 'P', 'N', 'G', 13, 10, 26, 10, 0, 0};
  std::vector<uint8_t> garbage(bytes.begin(), bytes.begin() + 2);
  garbage.resize(500, 0x5A);  // a JPEG start, then nothing JPEG
  for (const std::vector<uint8_t>* damaged : {&truncated, &png, static_cast<const std::vector<uint8_t>*>(&garbage)}) {
    try {
      decode_jpeg(damaged->data(), damaged->size(), 1, "bad.JPEG");
      ADD_FAILURE() << "decoded a damaged file of " << damaged->size() << " bytes";
    } catch (const DataError& e) {
      EXPECT_EQ(std::string(e.what()).rfind("bad.JPEG: ", 0), 0u) << e.what();
    }
  }
}

TEST(Jpeg, AHeaderDeclaringMorePixelsThanTheLimitIsRefusedOnEveryPath) {
  // a 64 × 64 file claiming 65 000 × 65 000 pixels (PIL: DecompressionBombError)
  const auto bomb = jpeg_with_lying_header(encode_jpeg(smooth_image(64, 64, 1), 90), 65000, 65000);
  auto expect_refused = [](const std::function<void()>& decode, const std::string& limit) {
    try {
      decode();
      ADD_FAILURE() << "decoded a header over the pixel limit";
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find("bomb.JPEG: the JPEG header declares 65000 × 65000 = 4225000000 pixels, more "
                                           "than --max-image-pixels " + limit), std::string::npos) << e.what();
    }
  };
  expect_refused([&] { read_jpeg_header(bomb.data(), bomb.size(), "bomb.JPEG"); }, "178956970");
  expect_refused([&] { decode_jpeg(bomb.data(), bomb.size(), 8, "bomb.JPEG"); }, "178956970");
  RgbImage image;
  expect_refused([&] { decode_jpeg_region(bomb.data(), bomb.size(), 8, 0, 0, 8, 8, "bomb.JPEG", image); }, "178956970");
  // the limit is a setting: the same 64 × 64 image is refused under a limit of 4000 pixels
  const auto honest = encode_jpeg(smooth_image(64, 64, 1), 90);
  EXPECT_NO_THROW(read_jpeg_header(honest.data(), honest.size(), "ok.JPEG", 4096));
  EXPECT_THROW(read_jpeg_header(honest.data(), honest.size(), "ok.JPEG", 4095), DataError);
  EXPECT_THROW(decode_jpeg_region(honest.data(), honest.size(), 1, 0, 0, 8, 8, "ok.JPEG", image, 4095), DataError);
}

TEST(Jpeg, DataEndingBeforeTheRowsTheHeaderPromisesIsDamagedOnEveryPath) {
  // 64 × 64 of data under a header of 64 × 200: libjpeg warns and fills the rest in grey
  const auto lying = jpeg_with_lying_header(encode_jpeg(smooth_image(64, 64, 1), 90), 64, 200);
  EXPECT_EQ(read_jpeg_header(lying.data(), lying.size(), "short.JPEG").height, 200);
  for (int scale : {1, 2, 8}) {
    EXPECT_THROW(decode_jpeg(lying.data(), lying.size(), scale, "short.JPEG"), DataError) << "scale 1/" << scale;
    RgbImage image;
    try {
      decode_jpeg_region(lying.data(), lying.size(), scale, 120 / scale, 0, 40 / scale, 64 / scale, "short.JPEG", image);
      ADD_FAILURE() << "decoded rows past the data at scale 1/" << scale;
    } catch (const DataError& e) {
      EXPECT_EQ(std::string(e.what()).rfind("short.JPEG: damaged or truncated JPEG (", 0), 0u) << e.what();
    }
  }
  // rows the data holds are the file's own pixels: the region decoder reads no further than it needs
  RgbImage top;
  EXPECT_NO_THROW(decode_jpeg_region(lying.data(), lying.size(), 1, 0, 0, 32, 64, "short.JPEG", top));
}

TEST(Jpeg, DctScaleIsTheSmallestThatKeepsTheTargetResolution) {
  EXPECT_EQ(dct_scale_for(500, 375, 224, 224), 1);   // 250 × 187 would be below 224
  EXPECT_EQ(dct_scale_for(1000, 900, 224, 224), 4);  // 250 × 225
  EXPECT_EQ(dct_scale_for(448, 448, 224, 224), 2);
  EXPECT_EQ(dct_scale_for(447, 448, 224, 224), 1);
  EXPECT_EQ(dct_scale_for(4000, 4000, 224, 224), 8);  // no finer scale than 1/8
}

TEST(RandomResizedCrop, CropsFollowTorchvisionsDistribution) {
  // On a square image an attempt fits when s·r <= 1 and s/r <= 1 (s the area fraction, r the aspect
  // ratio): the accepted fraction's mean is E[s | s <= min(r, 1/r)], s uniform in [0.08, 1], log r
  // uniform in [log 3/4, log 4/3], integrated numerically here.
  double num = 0, den = 0;
  for (int a = 0; a < 400; ++a)
    for (int b = 0; b < 400; ++b) {
      const double s = 0.08 + 0.92 * (a + 0.5) / 400, lr = std::log(0.75) + (std::log(4.0 / 3) - std::log(0.75)) * (b + 0.5) / 400;
      if (s <= std::min(std::exp(lr), std::exp(-lr))) num += s, den += 1;
    }
  const double expected_area = num / den;
  std::mt19937_64 rng(7);
  const int W = 1000, H = 1000, n = 20000;
  double area = 0, log_ratio = 0, top = 0;
  for (int k = 0; k < n; ++k) {
    const CropBox box = random_resized_crop(W, H, rng);
    ASSERT_TRUE(box.i >= 0 && box.j >= 0 && box.h >= 1 && box.w >= 1 && box.i + box.h <= H && box.j + box.w <= W);
    const double s = double(box.w) * box.h / (W * H), r = double(box.w) / box.h;
    ASSERT_GE(s, 0.08 * 0.99);
    ASSERT_TRUE(r >= 0.75 * 0.98 && r <= 4.0 / 3 * 1.02) << r;
    area += s;
    log_ratio += std::log(r);
    if (box.h < H) top += double(box.i) / (H - box.h);
  }
  EXPECT_NEAR(area / n, expected_area, 0.01);
  EXPECT_NEAR(log_ratio / n, 0.0, 0.01);  // log-uniform, symmetric
  EXPECT_NEAR(top / n, 0.5, 0.02);        // placed uniformly
  // a 1000 × 10 strip: no attempt fits, the fallback is the centered 4:3 cut of the whole height
  const CropBox strip = random_resized_crop(1000, 10, rng);
  EXPECT_EQ(strip.h, 10);
  EXPECT_EQ(strip.w, 13);
  EXPECT_EQ(strip.j, (1000 - 13) / 2);
  EXPECT_EQ(strip.i, 0);
}

TEST(JpegTransforms, ResizeEqualsATensAntialiasedBilinearInterpolation) {
  // a random image: every pixel's weight shows; shrinking (antialiased), enlarging, a crop, a flip
  RgbImage im;
  im.width = 70;
  im.height = 50;
  const auto pixels = torch::randint(0, 256, {50, 70, 3}, torch::kUInt8);
  im.pixels.assign(pixels.data_ptr<uint8_t>(), pixels.data_ptr<uint8_t>() + pixels.numel());
  const std::vector<double> zero{0, 0, 0}, unit{1.0 / 255, 1.0 / 255, 1.0 / 255};  // output in 0–255 units
  const CropBox box{5, 9, 40, 53};
  for (auto [h, w] : {std::pair{17, 23}, std::pair{64, 90}, std::pair{40, 20}})
    for (bool flip : {false, true}) {
      std::vector<float> out(3 * h * w);
      resize_region(im, box, h, w, {0, 0, h, w}, flip, zero, unit, out.data());
      auto reference = torch::nn::functional::interpolate(
          hwc(im).permute({2, 0, 1}).unsqueeze(0).narrow(2, box.i, box.h).narrow(3, box.j, box.w),
          torch::nn::functional::InterpolateFuncOptions().size(std::vector<int64_t>{h, w}).mode(torch::kBilinear)
              .align_corners(false).antialias(true))[0].clamp(0, 255);
      if (flip) reference = reference.flip(2);
      const auto got = torch::from_blob(out.data(), {3, h, w});
      EXPECT_LE((got - reference).abs().max().item<float>(), 2e-3f) << h << "x" << w << " flip " << flip;
      // a window of the result is that part of the whole
      std::vector<float> part(3 * 5 * 7);
      resize_region(im, box, h, w, {3, 4, 5, 7}, false, zero, unit, part.data());
      const auto whole = flip ? got.flip(2) : got;
      EXPECT_LE((torch::from_blob(part.data(), {3, 5, 7}) - whole.narrow(1, 3, 5).narrow(2, 4, 7)).abs().max().item<float>(), 1e-4f);
    }
}

TEST(JpegTransforms, EvaluationIsResizeThenCenterCropOfTheDecodedImage) {
  // 80 × 60 → shorter side 32: 42 × 32 (int(32·80/60)), center crop 28: rows 2.., columns 7..
  const auto original = smooth_image(80, 60, 2);
  const auto ex = encoded(encode_jpeg(original, 100));
  const std::vector<double> mean{0.5, 0.4, 0.3}, std{0.2, 0.25, 0.3};
  std::vector<float> out(3 * 28 * 28);
  ResizeCenterCrop(32, 28, mean, std).apply_example(ex, 0, out.data());
  auto reference = torch::nn::functional::interpolate(
      hwc(original).permute({2, 0, 1}).unsqueeze(0),
      torch::nn::functional::InterpolateFuncOptions().size(std::vector<int64_t>{32, 42}).mode(torch::kBilinear).align_corners(false).antialias(true));
  reference = reference[0].narrow(1, 2, 28).narrow(2, 7, 28);
  const auto got = torch::from_blob(out.data(), {3, 28, 28});
  for (int c = 0; c < 3; ++c) {
    const auto pixels = got[c] * (255 * std[c]) + 255 * mean[c];  // back to 0–255
    EXPECT_LE((pixels - reference[c]).abs().mean().item<float>(), 3.f) << c;
  }
}

TEST(JpegTransforms, TrainingCropsAreDrawnPerPositionAndRepeatable) {
  const auto ex = encoded(encode_jpeg(smooth_image(120, 90, 4), 95));
  RandomResizedCropFlip t(32, true, {0.5, 0.5, 0.5}, {0.25, 0.25, 0.25});
  std::mt19937_64 rng(3);
  t.draw_epoch(rng, 4);
  std::vector<float> a(3 * 32 * 32), b(a.size()), c(a.size());
  t.apply_example(ex, 1, a.data());
  t.apply_example(ex, 1, b.data());
  t.apply_example(ex, 2, c.data());
  EXPECT_EQ(a, b);  // a position's crop is a function of the epoch's draw
  EXPECT_NE(a, c);
  EXPECT_EQ(t.output_shape({}).str(), "3x32x32");
}

TEST(ImageFolder, ClassesAreSortedFolderNamesAsTorchvisionsImageFolder) {
  TempDir dir;
  const std::vector<std::string> names{"n02", "N01", "a2", "a10", "b"};
  write_image_folder(dir.path, names, 2, 1);
  std::filesystem::create_directories(dir / "train/b/nested");
  write_bytes(dir / "train/b/nested/deep.jpeg", encode_jpeg(smooth_image(20, 20, 9), 90));
  write_bytes(dir / "train/b/notes.txt", {'h', 'i'});  // not an image extension: not listed
  ImageFolderDataset train(dir.path, "train", {});
  // Python's sorted(): byte order, upper case before lower case, "a10" before "a2"
  EXPECT_EQ(train.classes(), (std::vector<std::string>{"N01", "a10", "a2", "b", "n02"}));
  EXPECT_EQ(train.size(), 11);
  EXPECT_EQ(train.num_classes(), 5);
  EXPECT_EQ(train.get(0).label, 0);
  EXPECT_NE(train.path(0).find("/train/N01/img0.JPEG"), std::string::npos);
  EXPECT_NE(train.path(8).find("/train/b/nested/deep.jpeg"), std::string::npos);  // recursive, sorted
  EXPECT_EQ(train.get(8).label, 3);
  const auto val = open_dataset("imagenet", dir.path, "test");  // the registry's "test" is val/
  EXPECT_EQ(val->size(), 5);
  EXPECT_EQ(val->get(4).label, 4);
  EXPECT_EQ(val->image_shape().str(), "3x224x224");
  const auto head = train.head(5);  // spread over the classes, not the first ones
  std::set<int64_t> labels;
  for (int64_t k = 0; k < head->size(); ++k) labels.insert(head->get(k).label);
  EXPECT_GE(labels.size(), 4u);
}

TEST(ImageFolder, FingerprintIsTheFileListWhereverTheFolderIsMounted) {
  TempDir a, b;
  write_image_folder(a.path, {"n01", "n02"}, 3, 1);
  write_image_folder(b.path, {"n01", "n02"}, 3, 1);
  const ImageFolderDataset first(a.path, "train", {}), second(b.path, "train", {});
  EXPECT_EQ(first.fingerprint(), second.fingerprint());
  EXPECT_EQ(first.fingerprint().rfind("6 examples 3x224x224, 2 classes, file list ", 0), 0u) << first.fingerprint();
  std::filesystem::rename(b / "train/n02/img2.JPEG", b / "train/n02/img9.JPEG");
  EXPECT_NE(ImageFolderDataset(b.path, "train", {}).fingerprint(), first.fingerprint());
}

TEST(ImageFolder, FolderErrorsNameTheFolder) {
  TempDir dir;
  write_image_folder(dir.path, {"a", "b"}, 1, 1);
  std::filesystem::create_directories(dir / "val/zzz");
  try {
    ImageFolderDataset(dir.path, "val", {});
    ADD_FAILURE() << "a validation class the training folder lacks";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("val/zzz: class folder not in"), std::string::npos) << e.what();
  }
  std::filesystem::create_directories(dir / "train/empty");
  try {
    ImageFolderDataset(dir.path, "train", {});
    ADD_FAILURE() << "an empty class folder";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("train/empty: no image files"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ImageFolderDataset(dir / "absent", "train", {}), DataError);
}

TEST(ImageFolder, UnreadableImagesAreSkippedAndCountedOrFatal) {
  TempDir dir;
  write_image_folder(dir.path, {"a", "b"}, 3, 1);
  const auto good = encode_jpeg(smooth_image(50, 40, 1), 90);
  write_bytes(dir / "train/a/img1.JPEG", std::vector<uint8_t>(good.begin(), good.begin() + good.size() / 3));  // truncated
  write_bytes(dir / "train/b/img0.JPEG", {0x89, 'P', 'N', 'G', 1, 2, 3});  // not a JPEG
  write_bytes(dir / "train/b/img2.JPEG", encode_jpeg(smooth_image(50, 40, 2), 90, /*gray=*/true));  // fine
  auto set = std::make_shared<ImageFolderDataset>(dir.path, "train", DataOptions{});
  RandomResizedCropFlip transform(24, true, {0.5, 0.5, 0.5}, {0.2, 0.2, 0.2});
  LoaderOptions o;
  o.batch_size = 6;
  o.workers = 2;
  BatchLoader loader(set, transform, o, 0);
  auto batch = loader.next();
  ASSERT_TRUE(batch);
  EXPECT_EQ(batch->size(), 6);  // the gaps filled with the batch's readable images
  ASSERT_EQ(batch->unreadable.size(), 2u);
  std::string messages = batch->unreadable[0] + " | " + batch->unreadable[1];
  EXPECT_NE(messages.find("train/a/img1.JPEG"), std::string::npos) << messages;
  EXPECT_NE(messages.find("train/b/img0.JPEG"), std::string::npos) << messages;
  EXPECT_TRUE(torch::isfinite(batch->inputs).all().item<bool>());
  o.keep_batch_size = false;  // evaluation: left out
  EXPECT_EQ(BatchLoader(set, transform, o, 0).next()->size(), 4);
  DataOptions fatal;
  fatal.bad_images_fatal = true;
  auto strict = std::make_shared<ImageFolderDataset>(dir.path, "train", fatal);
  BatchLoader stops(strict, transform, o, 0);
  EXPECT_THROW(stops.next(), DataError);
}
