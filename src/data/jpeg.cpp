#include "eshift/data/jpeg.h"

#include <turbojpeg.h>

#include <algorithm>
#include <memory>

#include "eshift/core/errors.h"

namespace eshift {

namespace {
// One TurboJPEG handle per thread and direction (a handle must not be shared between threads).
tjhandle decompressor() {
  thread_local std::unique_ptr<void, int (*)(tjhandle)> handle(tjInitDecompress(), tjDestroy);
  if (!handle) throw DataError(std::string("cannot start the JPEG decoder: ") + tjGetErrorStr2(nullptr));
  return handle.get();
}

[[noreturn]] void fail(const std::string& source, tjhandle h, const char* what) {
  throw DataError(source + ": " + what + " (" + tjGetErrorStr2(h) + ")");
}
}  // namespace

JpegHeader read_jpeg_header(const uint8_t* data, size_t size, const std::string& source) {
  if (size < 4 || data[0] != 0xFF || data[1] != 0xD8) throw DataError(source + ": not a JPEG file (no SOI marker)");
  tjhandle h = decompressor();
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  if (tjDecompressHeader3(h, data, static_cast<unsigned long>(size), &width, &height, &subsampling, &colorspace) != 0)
    fail(source, h, "unreadable JPEG header");
  if (width < 1 || height < 1) throw DataError(source + ": JPEG of size 0");
  return {width, height, colorspace == TJCS_CMYK || colorspace == TJCS_YCCK};
}

RgbImage decode_jpeg(const uint8_t* data, size_t size, int scale_denominator, const std::string& source) {
  const JpegHeader header = read_jpeg_header(data, size, source);
  tjhandle h = decompressor();
  const tjscalingfactor factor{1, scale_denominator};
  RgbImage image;
  image.width = TJSCALED(header.width, factor);
  image.height = TJSCALED(header.height, factor);
  const int channels = header.cmyk ? 4 : 3;
  std::vector<uint8_t> buffer(size_t(image.width) * image.height * channels);
  const int rc = tjDecompress2(h, data, static_cast<unsigned long>(size), buffer.data(), image.width, 0, image.height,
                               header.cmyk ? TJPF_CMYK : TJPF_RGB, 0);
  if (rc != 0) {
    // warnings leave a complete image, except the end of data arriving early (a truncated file)
    const std::string message = tjGetErrorStr2(h);
    if (tjGetErrorCode(h) == TJERR_FATAL || message.find("Premature end") != std::string::npos)
      fail(source, h, "damaged or truncated JPEG");
  }
  if (!header.cmyk) {
    image.pixels = std::move(buffer);
    return image;
  }
  image.pixels.resize(size_t(image.width) * image.height * 3);
  for (size_t i = 0, n = size_t(image.width) * image.height; i < n; ++i) {
    const unsigned k = buffer[4 * i + 3];
    for (int c = 0; c < 3; ++c) image.pixels[3 * i + c] = static_cast<uint8_t>((buffer[4 * i + c] * k + 127) / 255);
  }
  return image;
}

int dct_scale_for(int region_w, int region_h, int target_w, int target_h) {
  int denominator = 1;
  while (denominator < 8 && region_w / (2 * denominator) >= target_w && region_h / (2 * denominator) >= target_h)
    denominator *= 2;
  return denominator;
}

std::vector<uint8_t> encode_jpeg(const RgbImage& image, int quality, bool gray, bool cmyk) {
  std::unique_ptr<void, int (*)(tjhandle)> h(tjInitCompress(), tjDestroy);
  if (!h) throw DataError(std::string("cannot start the JPEG encoder: ") + tjGetErrorStr2(nullptr));
  std::vector<uint8_t> source = image.pixels;
  int format = TJPF_RGB;
  if (cmyk) {  // the inverse of decode_jpeg's conversion: K = max(R, G, B), C = R·255/K, …
    source.resize(size_t(image.width) * image.height * 4);
    for (size_t i = 0, n = size_t(image.width) * image.height; i < n; ++i) {
      const uint8_t* p = image.pixels.data() + 3 * i;
      const unsigned k = std::max({p[0], p[1], p[2]});
      for (int c = 0; c < 3; ++c) source[4 * i + c] = k == 0 ? 0 : static_cast<uint8_t>((p[c] * 255 + k / 2) / k);
      source[4 * i + 3] = static_cast<uint8_t>(k);
    }
    format = TJPF_CMYK;
  }
  unsigned char* out = nullptr;
  unsigned long out_size = 0;
  if (tjCompress2(h.get(), source.data(), image.width, 0, image.height, format, &out, &out_size,
                  gray ? TJSAMP_GRAY : TJSAMP_444, quality, 0) != 0)
    throw DataError(std::string("JPEG encoding failed: ") + tjGetErrorStr2(h.get()));
  std::vector<uint8_t> bytes(out, out + out_size);
  tjFree(out);
  return bytes;
}

}  // namespace eshift
