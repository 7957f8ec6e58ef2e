#pragma once
// JPEG decoding with libjpeg-turbo (its TurboJPEG API; its libjpeg API for partial decoding), at full
// size or at a reduced DCT scale (1/2,
// 1/4, 1/8: the decoder skips the high frequencies, several times faster than decoding in full and
// resizing). Grayscale JPEGs decode to RGB (the gray value in each channel); CMYK/YCCK JPEGs (Adobe's
// inverted convention, as libjpeg returns them) convert as R = C·K/255, G = M·K/255, B = Y·K/255.
#include <cstdint>
#include <string>
#include <vector>

namespace eshift {

// The most pixels a JPEG's header may declare: PIL's limit (2 × Image.MAX_IMAGE_PIXELS, above which
// it raises DecompressionBombError). A header that declares more (a decompression bomb, or a damaged
// or forged header: a 64 × 64 file claiming 65 000 × 65 000) is a damaged image, refused before
// anything is allocated for it; so a decode never holds more than 4 bytes per allowed pixel.
// --max-image-pixels sets it.
constexpr int64_t kDefaultMaxImagePixels = 178956970;

struct JpegHeader {
  int width = 0, height = 0;
  bool cmyk = false;
};

// An RGB image, 8 bits a channel, rows of width·3 bytes (HWC): the first width·height·3 bytes of
// `pixels` (which may be longer). A decoded region of a larger image sits at (top, left) of it.
struct RgbImage {
  int width = 0, height = 0;
  std::vector<uint8_t> pixels;
  int top = 0, left = 0;
};

// Reads the size from the JPEG's header; throws DataError naming `source` when it is not a JPEG or
// declares more than `max_pixels` pixels.
JpegHeader read_jpeg_header(const uint8_t* data, size_t size, const std::string& source,
                            int64_t max_pixels = kDefaultMaxImagePixels);

// Decodes at 1/`scale_denominator` of the full size (1, 2, 4 or 8), each side rounded up as
// libjpeg does: ceil(side / scale_denominator). Throws DataError naming `source` for a damaged or
// truncated file, for a header over `max_pixels`, and for every warning libjpeg gives: a warning
// means it made pixels up (data that ends before the rows its header promises, grey filled in;
// corrupt entropy data; extraneous bytes), so a decoded image is either the file's or an error.
RgbImage decode_jpeg(const uint8_t* data, size_t size, int scale_denominator, const std::string& source,
                     int64_t max_pixels = kDefaultMaxImagePixels);

// Decodes only the rows [top, top + height) and (at least) the columns [left, left + width) of the
// image scaled to 1/scale_denominator, through libjpeg-turbo's partial decoding (jpeg_skip_scanlines,
// jpeg_crop_scanline; the TurboJPEG API of Debian's 2.1 has none): the rows below are never decoded,
// those above and the columns outside skip the inverse DCT and colour conversion. The pixels asked for
// equal a full decode's. The columns widen to whole iMCUs: the result's `left` and `width` say which
// it holds. Same errors as decode_jpeg.
// The result goes into `image`, whose buffer is reused (never shrunk: a loader thread decodes into
// the same memory image after image, without page faults or zero-filling).
void decode_jpeg_region(const uint8_t* data, size_t size, int scale_denominator, int top, int left, int height,
                        int width, const std::string& source, RgbImage& image,
                        int64_t max_pixels = kDefaultMaxImagePixels);

// The largest DCT scale denominator in {1, 2, 4, 8} at which a region of region_w × region_h pixels
// of the full image still has at least target_w × target_h pixels: decoding smaller loses nothing
// that resizing the region to the target keeps.
int dct_scale_for(int region_w, int region_h, int target_w, int target_h);

// Encodes an RGB image (quality 1–100; 4:4:4 chroma, or 4:2:0 as most photographs; grayscale; CMYK)
// — for tests and benchmarks.
std::vector<uint8_t> encode_jpeg(const RgbImage& image, int quality, bool gray = false, bool cmyk = false,
                                 bool chroma_420 = false);

}  // namespace eshift
