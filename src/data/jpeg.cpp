#include "eshift/data/jpeg.h"

#include <turbojpeg.h>

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <memory>

#include <jpeglib.h>  // after <cstdio>: it needs FILE
#include <jerror.h>   // libjpeg's message codes

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

void check_start_of_image(const uint8_t* data, size_t size, const std::string& source) {
  if (size < 4 || data[0] != 0xFF || data[1] != 0xD8) throw DataError(source + ": not a JPEG file (no SOI marker)");
}

void check_pixels(int64_t width, int64_t height, int64_t max_pixels, const std::string& source) {
  if (width * height > max_pixels)
    throw DataError(source + ": the JPEG header declares " + std::to_string(width) + " × " + std::to_string(height) + " = " +
                    std::to_string(width * height) + " pixels, more than --max-image-pixels " + std::to_string(max_pixels) +
                    " (a decompression bomb or a damaged header)");
}

// `pixels` CMYK pixels (Adobe's inverted convention, as libjpeg returns them) to RGB: R = C·K/255, …
void cmyk_to_rgb(const uint8_t* cmyk, size_t pixels, uint8_t* rgb) {
  for (size_t i = 0; i < pixels; ++i) {
    const unsigned k = cmyk[4 * i + 3];
    for (int c = 0; c < 3; ++c) rgb[3 * i + c] = static_cast<uint8_t>((cmyk[4 * i + c] * k + 127) / 255);
  }
}
}  // namespace

JpegHeader read_jpeg_header(const uint8_t* data, size_t size, const std::string& source, int64_t max_pixels) {
  check_start_of_image(data, size, source);
  tjhandle h = decompressor();
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  if (tjDecompressHeader3(h, data, static_cast<unsigned long>(size), &width, &height, &subsampling, &colorspace) != 0)
    fail(source, h, "unreadable JPEG header");
  if (width < 1 || height < 1) throw DataError(source + ": JPEG of size 0");
  check_pixels(width, height, max_pixels, source);
  return {width, height, colorspace == TJCS_CMYK || colorspace == TJCS_YCCK};
}

RgbImage decode_jpeg(const uint8_t* data, size_t size, int scale_denominator, const std::string& source,
                     int64_t max_pixels) {
  const JpegHeader header = read_jpeg_header(data, size, source, max_pixels);
  tjhandle h = decompressor();
  const tjscalingfactor factor{1, scale_denominator};
  RgbImage image;
  image.width = TJSCALED(header.width, factor);
  image.height = TJSCALED(header.height, factor);
  const int channels = header.cmyk ? 4 : 3;
  std::vector<uint8_t> buffer(size_t(image.width) * image.height * channels);
  const int rc = tjDecompress2(h, data, static_cast<unsigned long>(size), buffer.data(), image.width, 0, image.height,
                               header.cmyk ? TJPF_CMYK : TJPF_RGB, 0);
  // an error, or a warning (TJERR_WARNING): libjpeg made pixels up
  if (rc != 0) fail(source, h, "damaged or truncated JPEG");
  if (!header.cmyk) {
    image.pixels = std::move(buffer);
    return image;
  }
  image.pixels.resize(size_t(image.width) * image.height * 3);
  cmyk_to_rgb(buffer.data(), size_t(image.width) * image.height, image.pixels.data());
  return image;
}

namespace {
// libjpeg reports errors through a callback that must not return: it jumps back to the decode call.
struct ErrorJump {
  jpeg_error_mgr manager;
  std::jmp_buf jump;
  bool warned = false;  // libjpeg warned: it made pixels up (see decode_jpeg)
  char message[JMSG_LENGTH_MAX] = "";
};

void on_error(j_common_ptr info) {
  auto* e = reinterpret_cast<ErrorJump*>(info->err);
  (*info->err->format_message)(info, e->message);
  std::longjmp(e->jump, 1);
}

void on_message(j_common_ptr info, int level) {
  if (level >= 0) return;  // trace messages
  auto* e = reinterpret_cast<ErrorJump*>(info->err);
  if (!e->warned) (*info->err->format_message)(info, e->message);  // the first warning says what happened
  e->warned = true;
}
}  // namespace

namespace {
// The work of decode_jpeg_region between jpeg_create_decompress and jpeg_destroy_decompress; libjpeg's
// errors jump out of it (its caller holds the setjmp and modifies nothing after it). Returns whether
// the JPEG is CMYK: then `cmyk` holds the rows, else `image` does.
bool read_region(jpeg_decompress_struct& info, ErrorJump& error, const uint8_t* data, size_t size,
                 int scale_denominator, int top, int left, int height, int width, RgbImage& image,
                 std::vector<uint8_t>& cmyk, int64_t max_pixels, const std::string& source) {
  jpeg_mem_src(&info, data, static_cast<unsigned long>(size));
  jpeg_read_header(&info, TRUE);
  check_pixels(info.image_width, info.image_height, max_pixels, source);  // before libjpeg allocates for it
  const bool is_cmyk = info.jpeg_color_space == JCS_CMYK || info.jpeg_color_space == JCS_YCCK;
  info.out_color_space = is_cmyk ? JCS_CMYK : JCS_RGB;
  info.scale_num = 1;
  info.scale_denom = static_cast<unsigned>(scale_denominator);
  info.dct_method = JDCT_ISLOW;  // TurboJPEG's default: the same pixels as decode_jpeg
  jpeg_start_decompress(&info);
  const int full_w = static_cast<int>(info.output_width), full_h = static_cast<int>(info.output_height);
  top = std::clamp(top, 0, full_h - 1);
  height = std::clamp(height, 1, full_h - top);
  left = std::clamp(left, 0, full_w - 1);
  width = std::clamp(width, 1, full_w - left);
  // one more column each side: chroma upsampling replicates the first and last column of a cropped
  // scanline instead of reading its neighbour, so those may differ from a full decode
  const int from = std::max(left - 1, 0), to = std::min(left + width + 1, full_w);
  JDIMENSION x = static_cast<JDIMENSION>(from), w = static_cast<JDIMENSION>(to - from);
  if (w < info.output_width) jpeg_crop_scanline(&info, &x, &w);  // widened to whole iMCUs
  if (top > 0) jpeg_skip_scanlines(&info, static_cast<JDIMENSION>(top));
  const int channels = is_cmyk ? 4 : 3;
  std::vector<uint8_t>& rows = is_cmyk ? cmyk : image.pixels;
  rows.resize(std::max(rows.size(), size_t(w) * height * channels));
  for (int y = 0; y < height;) {
    JSAMPROW row = rows.data() + size_t(y) * w * channels;
    const int got = static_cast<int>(jpeg_read_scanlines(&info, &row, 1));
    if (got == 0) {  // no more data: cannot happen with a memory source unless the file is cut short
      error.warned = true;
      std::snprintf(error.message, sizeof error.message, "premature end of data");
      break;
    }
    y += got;
  }
  jpeg_abort_decompress(&info);  // the rows below are not needed
  image.width = static_cast<int>(w);
  image.height = height;
  image.top = top;
  image.left = static_cast<int>(x);
  return is_cmyk;
}
}  // namespace

void decode_jpeg_region(const uint8_t* data, size_t size, int scale_denominator, int top, int left, int height,
                        int width, const std::string& source, RgbImage& image, int64_t max_pixels) {
  check_start_of_image(data, size, source);
  jpeg_decompress_struct info;
  ErrorJump error;
  info.err = jpeg_std_error(&error.manager);
  error.manager.error_exit = on_error;
  error.manager.emit_message = on_message;
  std::vector<uint8_t> cmyk;
  jpeg_create_decompress(&info);
  if (setjmp(error.jump)) {
    jpeg_destroy_decompress(&info);
    throw DataError(source + ": damaged or truncated JPEG (" + error.message + ")");
  }
  bool is_cmyk = false;
  try {
    is_cmyk = read_region(info, error, data, size, scale_denominator, top, left, height, width, image, cmyk,
                          max_pixels, source);
  } catch (...) {  // the pixel limit
    jpeg_destroy_decompress(&info);
    throw;
  }
  jpeg_destroy_decompress(&info);
  if (error.warned) throw DataError(source + ": damaged or truncated JPEG (" + error.message + ")");
  if (is_cmyk) {
    const size_t n = size_t(image.width) * image.height;
    image.pixels.resize(std::max(image.pixels.size(), n * 3));
    cmyk_to_rgb(cmyk.data(), n, image.pixels.data());
  }
}

int dct_scale_for(int region_w, int region_h, int target_w, int target_h) {
  int denominator = 1;
  while (denominator < 8 && region_w / (2 * denominator) >= target_w && region_h / (2 * denominator) >= target_h)
    denominator *= 2;
  return denominator;
}

std::vector<uint8_t> encode_jpeg(const RgbImage& image, int quality, bool gray, bool cmyk, bool chroma_420) {
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
                  gray ? TJSAMP_GRAY : chroma_420 ? TJSAMP_420 : TJSAMP_444, quality, 0) != 0)
    throw DataError(std::string("JPEG encoding failed: ") + tjGetErrorStr2(h.get()));
  std::vector<uint8_t> bytes(out, out + out_size);
  tjFree(out);
  return bytes;
}

}  // namespace eshift
