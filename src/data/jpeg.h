#pragma once
// JPEG decoding with libjpeg-turbo's TurboJPEG API, at full size or at a reduced DCT scale (1/2,
// 1/4, 1/8: the decoder skips the high frequencies, several times faster than decoding in full and
// resizing). Grayscale JPEGs decode to RGB (the gray value in each channel); CMYK/YCCK JPEGs (Adobe's
// inverted convention, as libjpeg returns them) convert as R = C·K/255, G = M·K/255, B = Y·K/255.
#include <cstdint>
#include <string>
#include <vector>

namespace eshift {

struct JpegHeader {
  int width = 0, height = 0;
  bool cmyk = false;
};

// An RGB image, 8 bits a channel, rows of width·3 bytes (HWC).
struct RgbImage {
  int width = 0, height = 0;
  std::vector<uint8_t> pixels;
};

// Reads the size from the JPEG's header; throws DataError naming `source` when it is not a JPEG.
JpegHeader read_jpeg_header(const uint8_t* data, size_t size, const std::string& source);

// Decodes at 1/`scale_denominator` of the full size (1, 2, 4 or 8), each side rounded up as
// libjpeg does: ceil(side / scale_denominator). Throws DataError naming `source` for a damaged or
// truncated file; libjpeg's warnings about recoverable damage (extraneous bytes) are not errors.
RgbImage decode_jpeg(const uint8_t* data, size_t size, int scale_denominator, const std::string& source);

// The largest DCT scale denominator in {1, 2, 4, 8} at which a region of region_w × region_h pixels
// of the full image still has at least target_w × target_h pixels: decoding smaller loses nothing
// that resizing the region to the target keeps.
int dct_scale_for(int region_w, int region_h, int target_w, int target_h);

// Encodes an RGB image (quality 1–100; 4:4:4 subsampling unless `gray`) — for tests and benchmarks.
std::vector<uint8_t> encode_jpeg(const RgbImage& image, int quality, bool gray = false, bool cmyk = false);

}  // namespace eshift
