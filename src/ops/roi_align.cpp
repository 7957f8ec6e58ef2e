#include "eshift/ops/roi_align.h"

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace eshift {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// ---------------------------------------------------------------- the arithmetic of one RoI

// A RoI's box on the feature map, its bins and its sampling grid (roi_align.h's formulas).
template <typename T>
struct RoiGeometry {
  int64_t batch;
  T y0, x0, bin_h, bin_w;
  int64_t grid_h, grid_w;  // ≥ 0
  T count;                 // max(grid_h·grid_w, 1)
};

// ceil(extent / bins) for sampling_ratio ≤ 0; 0 for a non-positive or NaN extent (torchvision's
// loops then run zero times too).
template <typename T>
int64_t adaptive_grid(T extent, int64_t bins) {
  const T per_bin = extent / static_cast<T>(bins);
  if (!(per_bin > 0)) return 0;
  TORCH_CHECK(per_bin <= 65536, "roi_align: a RoI spans ", per_bin, " feature-map cells per output bin, too many ",
              "samples for sampling_ratio <= 0; give a sampling_ratio > 0");
  return static_cast<int64_t>(std::ceil(per_bin));
}

template <typename T>
RoiGeometry<T> roi_geometry(const T* roi, T scale, int64_t oh, int64_t ow, int64_t sampling_ratio, bool aligned) {
  RoiGeometry<T> g;
  g.batch = static_cast<int64_t>(roi[0]);
  // no rounding anywhere: the point of RoIAlign
  const T offset = aligned ? static_cast<T>(0.5) : static_cast<T>(0);
  g.x0 = roi[1] * scale - offset;
  g.y0 = roi[2] * scale - offset;
  T roi_w = (roi[3] * scale - offset) - g.x0;
  T roi_h = (roi[4] * scale - offset) - g.y0;
  if (!aligned) {  // malformed boxes forced to 1×1
    roi_w = std::max(roi_w, static_cast<T>(1));
    roi_h = std::max(roi_h, static_cast<T>(1));
  }
  g.bin_h = roi_h / static_cast<T>(oh);
  g.bin_w = roi_w / static_cast<T>(ow);
  g.grid_h = sampling_ratio > 0 ? sampling_ratio : adaptive_grid(roi_h, oh);
  g.grid_w = sampling_ratio > 0 ? sampling_ratio : adaptive_grid(roi_w, ow);
  g.count = static_cast<T>(std::max<int64_t>(g.grid_h * g.grid_w, 1));
  return g;
}

// One sampling point: the offsets (y·W + x) of its four corners in an H×W plane and their bilinear
// weights. A point off the map has offsets 0 and weights 0 (as torchvision's pre_calc); the weights
// of a point on the map sum to 1, so "all four zero" identifies an off-map point.
template <typename T>
struct Sample {
  int32_t p1, p2, p3, p4;
  T w1, w2, w3, w4;
};

template <typename T>
Sample<T> bilinear_sample(T y, T x, int64_t height, int64_t width) {
  Sample<T> s{0, 0, 0, 0, 0, 0, 0, 0};
  // written as !(on the map) so that NaN coordinates land here, before the integer casts
  if (!(y >= -1 && y <= static_cast<T>(height) && x >= -1 && x <= static_cast<T>(width))) return s;
  if (y <= 0) y = 0;
  if (x <= 0) x = 0;
  int64_t y_lo = static_cast<int64_t>(y), x_lo = static_cast<int64_t>(x), y_hi, x_hi;
  if (y_lo >= height - 1) {
    y_hi = y_lo = height - 1;
    y = static_cast<T>(y_lo);
  } else {
    y_hi = y_lo + 1;
  }
  if (x_lo >= width - 1) {
    x_hi = x_lo = width - 1;
    x = static_cast<T>(x_lo);
  } else {
    x_hi = x_lo + 1;
  }
  const T ly = y - static_cast<T>(y_lo), lx = x - static_cast<T>(x_lo);
  const T hy = static_cast<T>(1) - ly, hx = static_cast<T>(1) - lx;
  s.p1 = static_cast<int32_t>(y_lo * width + x_lo);
  s.p2 = static_cast<int32_t>(y_lo * width + x_hi);
  s.p3 = static_cast<int32_t>(y_hi * width + x_lo);
  s.p4 = static_cast<int32_t>(y_hi * width + x_hi);
  s.w1 = hy * hx, s.w2 = hy * lx, s.w3 = ly * hx, s.w4 = ly * lx;
  return s;
}

// Every sampling point of a RoI, in the order (ph, pw, iy, ix): oh·ow cells of grid_h·grid_w each.
template <typename T>
void sample_roi(const RoiGeometry<T>& g, int64_t height, int64_t width, int64_t oh, int64_t ow,
                std::vector<Sample<T>>& out) {
  out.resize(static_cast<size_t>(oh * ow * g.grid_h * g.grid_w));
  size_t i = 0;
  for (int64_t ph = 0; ph < oh; ++ph)
    for (int64_t pw = 0; pw < ow; ++pw)
      for (int64_t iy = 0; iy < g.grid_h; ++iy) {
        const T y = g.y0 + static_cast<T>(ph) * g.bin_h +
                    static_cast<T>(iy + .5f) * g.bin_h / static_cast<T>(g.grid_h);
        for (int64_t ix = 0; ix < g.grid_w; ++ix) {
          const T x = g.x0 + static_cast<T>(pw) * g.bin_w +
                      static_cast<T>(ix + .5f) * g.bin_w / static_cast<T>(g.grid_w);
          out[i++] = bilinear_sample(y, x, height, width);
        }
      }
}

struct Shape {
  int64_t rois, channels, height, width, oh, ow, sampling_ratio;
  double spatial_scale;
  bool aligned;
};

// ---------------------------------------------------------------- forward kernels

// NCHW: RoIs in parallel; per RoI the samples once, then each channel plane.
template <typename T>
void forward_nchw(const T* input, const T* rois, T* output, const Shape& s) {
  const int64_t plane = s.height * s.width, cells = s.oh * s.ow;
  const T scale = static_cast<T>(s.spatial_scale);
  at::parallel_for(0, s.rois, 1, [&](int64_t begin, int64_t end) {
    std::vector<Sample<T>> samples;
    for (int64_t k = begin; k < end; ++k) {
      const auto g = roi_geometry(rois + 5 * k, scale, s.oh, s.ow, s.sampling_ratio, s.aligned);
      sample_roi(g, s.height, s.width, s.oh, s.ow, samples);
      const int64_t per_cell = g.grid_h * g.grid_w;
      for (int64_t c = 0; c < s.channels; ++c) {
        const T* f = input + (g.batch * s.channels + c) * plane;
        T* o = output + (k * s.channels + c) * cells;
        const Sample<T>* p = samples.data();
        for (int64_t cell = 0; cell < cells; ++cell) {
          T v = 0;
          for (int64_t j = 0; j < per_cell; ++j, ++p)
            v += p->w1 * f[p->p1] + p->w2 * f[p->p2] + p->w3 * f[p->p3] + p->w4 * f[p->p4];
          o[cell] = v / g.count;
        }
      }
    }
  });
}

// NHWC (channels-last input and output): RoIs in parallel; per sample, the channels innermost.
// Each output element sums the same terms in the same order as forward_nchw.
template <typename T>
void forward_nhwc(const T* input, const T* rois, T* output, const Shape& s) {
  const int64_t C = s.channels, image = s.height * s.width * C, cells = s.oh * s.ow;
  const T scale = static_cast<T>(s.spatial_scale);
  at::parallel_for(0, s.rois, 1, [&](int64_t begin, int64_t end) {
    std::vector<Sample<T>> samples;
    for (int64_t k = begin; k < end; ++k) {
      const auto g = roi_geometry(rois + 5 * k, scale, s.oh, s.ow, s.sampling_ratio, s.aligned);
      sample_roi(g, s.height, s.width, s.oh, s.ow, samples);
      const int64_t per_cell = g.grid_h * g.grid_w;
      const T* f = input + g.batch * image;
      const Sample<T>* p = samples.data();
      for (int64_t cell = 0; cell < cells; ++cell) {
        T* o = output + (k * cells + cell) * C;
        std::fill(o, o + C, static_cast<T>(0));
        for (int64_t j = 0; j < per_cell; ++j, ++p) {
          const T *a = f + p->p1 * C, *b = f + p->p2 * C, *c3 = f + p->p3 * C, *d = f + p->p4 * C;
          const T w1 = p->w1, w2 = p->w2, w3 = p->w3, w4 = p->w4;
          for (int64_t c = 0; c < C; ++c) o[c] += w1 * a[c] + w2 * b[c] + w3 * c3[c] + w4 * d[c];
        }
        for (int64_t c = 0; c < C; ++c) o[c] /= g.count;
      }
    }
  });
}

// ---------------------------------------------------------------- backward kernels
// Channels in parallel: a thread owns a range of channels of grad_input, so no two threads write
// one element, and each element receives its terms in torchvision's order (RoI, cell, sample,
// corner). Each thread recomputes the samples of every RoI (cheap next to the channel loop).

template <typename T>
void backward_nchw(const T* grad_out, const T* rois, T* grad_in, const Shape& s) {
  const int64_t plane = s.height * s.width, cells = s.oh * s.ow;
  const T scale = static_cast<T>(s.spatial_scale);
  at::parallel_for(0, s.channels, 1, [&](int64_t c_begin, int64_t c_end) {
    std::vector<Sample<T>> samples;
    for (int64_t k = 0; k < s.rois; ++k) {
      const auto g = roi_geometry(rois + 5 * k, scale, s.oh, s.ow, s.sampling_ratio, s.aligned);
      const int64_t per_cell = g.grid_h * g.grid_w;
      if (per_cell == 0) continue;
      sample_roi(g, s.height, s.width, s.oh, s.ow, samples);
      for (int64_t c = c_begin; c < c_end; ++c) {
        T* gi = grad_in + (g.batch * s.channels + c) * plane;
        const T* go = grad_out + (k * s.channels + c) * cells;
        const Sample<T>* p = samples.data();
        for (int64_t cell = 0; cell < cells; ++cell) {
          const T gc = go[cell];
          for (int64_t j = 0; j < per_cell; ++j, ++p) {
            if (p->w1 == 0 && p->w2 == 0 && p->w3 == 0 && p->w4 == 0) continue;  // off the map
            gi[p->p1] += gc * p->w1 / g.count;
            gi[p->p2] += gc * p->w2 / g.count;
            gi[p->p3] += gc * p->w3 / g.count;
            gi[p->p4] += gc * p->w4 / g.count;
          }
        }
      }
    }
  });
}

template <typename T>
void backward_nhwc(const T* grad_out, const T* rois, T* grad_in, const Shape& s) {
  const int64_t C = s.channels, image = s.height * s.width * C, cells = s.oh * s.ow;
  const T scale = static_cast<T>(s.spatial_scale);
  at::parallel_for(0, C, 16, [&](int64_t c_begin, int64_t c_end) {
    std::vector<Sample<T>> samples;
    for (int64_t k = 0; k < s.rois; ++k) {
      const auto g = roi_geometry(rois + 5 * k, scale, s.oh, s.ow, s.sampling_ratio, s.aligned);
      const int64_t per_cell = g.grid_h * g.grid_w;
      if (per_cell == 0) continue;
      sample_roi(g, s.height, s.width, s.oh, s.ow, samples);
      T* gi = grad_in + g.batch * image;
      const Sample<T>* p = samples.data();
      for (int64_t cell = 0; cell < cells; ++cell) {
        const T* go = grad_out + (k * cells + cell) * C;
        for (int64_t j = 0; j < per_cell; ++j, ++p) {
          if (p->w1 == 0 && p->w2 == 0 && p->w3 == 0 && p->w4 == 0) continue;  // off the map
          T *a = gi + p->p1 * C, *b = gi + p->p2 * C, *c3 = gi + p->p3 * C, *d = gi + p->p4 * C;
          const T w1 = p->w1, w2 = p->w2, w3 = p->w3, w4 = p->w4;
          for (int64_t c = c_begin; c < c_end; ++c) {
            // corners may coincide (an edge of the map): the four adds stay in order
            a[c] += go[c] * w1 / g.count;
            b[c] += go[c] * w2 / g.count;
            c3[c] += go[c] * w3 / g.count;
            d[c] += go[c] * w4 / g.count;
          }
        }
      }
    }
  });
}

// ---------------------------------------------------------------- checks shared by both paths

void check_arguments(const torch::Tensor& input, const torch::Tensor& rois, std::array<int64_t, 2> output_size,
                     const char* fn) {
  TORCH_CHECK(input.dim() == 4, fn, ": input must be [N, C, H, W], got ", input.sizes());
  TORCH_CHECK(input.is_floating_point(), fn, ": input must be floating point, got ", input.scalar_type());
  TORCH_CHECK(rois.dim() == 2 && rois.size(1) == 5, fn, ": rois must be [K, 5] (batch index, x1, y1, x2, y2), got ",
              rois.sizes());
  TORCH_CHECK(rois.is_floating_point(), fn, ": rois must be floating point, got ", rois.scalar_type());
  TORCH_CHECK(rois.device() == input.device(), fn, ": rois are on ", rois.device(), ", input on ", input.device());
  TORCH_CHECK(output_size[0] > 0 && output_size[1] > 0, fn, ": output_size must be positive, got (",
              output_size[0], ", ", output_size[1], ")");
  TORCH_CHECK(input.size(2) * input.size(3) < INT32_MAX, fn, ": a feature map of ", input.size(2), "x", input.size(3),
              " is too large (its offsets are 32-bit)");
  if (rois.size(0) == 0) return;
  TORCH_CHECK(input.size(2) > 0 && input.size(3) > 0, fn, ": RoIs on an empty feature map ", input.sizes());
  auto b = rois.select(1, 0).detach().trunc();
  const bool bad = b.lt(0).logical_or(b.ge(input.size(0))).logical_or(b.isnan()).any().item<bool>();
  TORCH_CHECK(!bad, fn, ": every RoI's batch index (rois[:, 0]) must lie in [0, ", input.size(0), ")");
}

// ---------------------------------------------------------------- the CPU autograd function

class RoiAlignFunction : public torch::autograd::Function<RoiAlignFunction> {
 public:
  // rois: detached, contiguous, the input's dtype.
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& input, const torch::Tensor& rois,
                               int64_t oh, int64_t ow, double spatial_scale, int64_t sampling_ratio, bool aligned) {
    const auto format = input.is_contiguous() ? at::MemoryFormat::Contiguous : input.suggest_memory_format();
    const bool nhwc = format == at::MemoryFormat::ChannelsLast;
    auto x = input.contiguous(format);
    const Shape s{rois.size(0), x.size(1), x.size(2), x.size(3), oh, ow, sampling_ratio, spatial_scale, aligned};
    auto output = torch::empty({s.rois, s.channels, oh, ow}, x.options(), format);
    if (output.numel() > 0) {
      AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "eshift::roi_align", [&] {
        if (nhwc)
          forward_nhwc<scalar_t>(x.data_ptr<scalar_t>(), rois.data_ptr<scalar_t>(), output.data_ptr<scalar_t>(), s);
        else
          forward_nchw<scalar_t>(x.data_ptr<scalar_t>(), rois.data_ptr<scalar_t>(), output.data_ptr<scalar_t>(), s);
      });
    }
    ctx->save_for_backward({rois});
    ctx->saved_data["input_sizes"] = input.sizes().vec();
    ctx->saved_data["nhwc"] = nhwc;
    ctx->saved_data["oh"] = oh;
    ctx->saved_data["ow"] = ow;
    ctx->saved_data["spatial_scale"] = spatial_scale;
    ctx->saved_data["sampling_ratio"] = sampling_ratio;
    ctx->saved_data["aligned"] = aligned;
    return output;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto rois = ctx->get_saved_variables()[0];
    const auto sizes = ctx->saved_data["input_sizes"].toIntVector();
    const bool nhwc = ctx->saved_data["nhwc"].toBool();
    const auto format = nhwc ? at::MemoryFormat::ChannelsLast : at::MemoryFormat::Contiguous;
    const Shape s{rois.size(0),
                  sizes[1],
                  sizes[2],
                  sizes[3],
                  ctx->saved_data["oh"].toInt(),
                  ctx->saved_data["ow"].toInt(),
                  ctx->saved_data["sampling_ratio"].toInt(),
                  ctx->saved_data["spatial_scale"].toDouble(),
                  ctx->saved_data["aligned"].toBool()};
    torch::Tensor grad_input;
    if (grad_outputs[0].defined()) {
      auto grad = grad_outputs[0].contiguous(format);
      grad_input = torch::empty(sizes, grad.options(), format).zero_();  // (zeros() drops a memory format)
      if (grad.numel() > 0) {
        AT_DISPATCH_FLOATING_TYPES(grad.scalar_type(), "eshift::roi_align_backward", [&] {
          if (nhwc)
            backward_nhwc<scalar_t>(grad.data_ptr<scalar_t>(), rois.data_ptr<scalar_t>(),
                                    grad_input.data_ptr<scalar_t>(), s);
          else
            backward_nchw<scalar_t>(grad.data_ptr<scalar_t>(), rois.data_ptr<scalar_t>(),
                                    grad_input.data_ptr<scalar_t>(), s);
        });
      }
    }
    return {grad_input, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor(),
            torch::Tensor()};
  }
};

// ---------------------------------------------------------------- the reference (any device)

// One axis of the sampling points: corners, weights and whether the coordinate is on the map.
struct AxisSamples {
  torch::Tensor lo, hi, l, h, on_map;
};

AxisSamples axis_samples(const torch::Tensor& v, int64_t size) {
  AxisSamples a;
  a.on_map = v.ge(-1).logical_and(v.le(size));  // false for NaN
  auto c = torch::where(a.on_map, v, torch::zeros_like(v)).clamp_min(0);
  auto lo = c.to(torch::kLong);  // c ≥ 0: truncation is ⌊c⌋
  auto top = lo.ge(size - 1);
  a.lo = lo.clamp_max(size - 1);
  a.hi = (lo + 1).clamp_max(size - 1);
  c = torch::where(top, a.lo.to(v.scalar_type()), c);
  a.l = c - a.lo.to(v.scalar_type());
  a.h = 1 - a.l;
  return a;
}

}  // namespace

torch::Tensor roi_align_reference(const torch::Tensor& input, const torch::Tensor& rois,
                                  std::array<int64_t, 2> output_size, double spatial_scale, int64_t sampling_ratio,
                                  bool aligned) {
  check_arguments(input, rois, output_size, "roi_align_reference");
  TORCH_CHECK(sampling_ratio > 0,
              "roi_align_reference (roi_align off the CPU) needs sampling_ratio > 0 (a fixed sampling grid), got "
              "sampling_ratio = ", sampling_ratio);
  const int64_t N = input.size(0), C = input.size(1), H = input.size(2), W = input.size(3);
  const int64_t oh = output_size[0], ow = output_size[1], g = sampling_ratio;
  const auto opts = input.options();
  // divisors as tensors on the device: true division (CUDA turns a division by a CPU scalar into a
  // multiplication by its reciprocal)
  auto scalar = [&](double v) { return torch::scalar_tensor(v, opts); };
  auto r = rois.detach().to(input.scalar_type());
  const int64_t K = r.size(0);
  const double offset = aligned ? 0.5 : 0.0;
  auto x0 = r.select(1, 1) * spatial_scale - offset;
  auto y0 = r.select(1, 2) * spatial_scale - offset;
  auto roi_w = (r.select(1, 3) * spatial_scale - offset) - x0;
  auto roi_h = (r.select(1, 4) * spatial_scale - offset) - y0;
  if (!aligned) {
    roi_w = roi_w.clamp_min(1);
    roi_h = roi_h.clamp_min(1);
  }
  auto bin_w = (roi_w / scalar(static_cast<double>(ow))).view({K, 1, 1});
  auto bin_h = (roi_h / scalar(static_cast<double>(oh))).view({K, 1, 1});
  auto half = torch::arange(g, opts) + 0.5;  // iy + ½
  // [K, oh, g] and [K, ow, g]: y = y0 + ph·bin_h + (iy + ½)·bin_h / g
  auto ys = (y0.view({K, 1, 1}) + torch::arange(oh, opts).view({1, oh, 1}) * bin_h) +
            half.view({1, 1, g}) * bin_h / scalar(static_cast<double>(g));
  auto xs = (x0.view({K, 1, 1}) + torch::arange(ow, opts).view({1, ow, 1}) * bin_w) +
            half.view({1, 1, g}) * bin_w / scalar(static_cast<double>(g));
  auto ay = axis_samples(ys, H), ax = axis_samples(xs, W);
  // broadcast to [K, oh, ow, g, g]
  auto yv = [&](const torch::Tensor& t) { return t.view({K, oh, 1, g, 1}); };
  auto xv = [&](const torch::Tensor& t) { return t.view({K, 1, ow, 1, g}); };
  auto on_map = yv(ay.on_map).logical_and(xv(ax.on_map)).to(input.scalar_type());
  auto base = r.select(1, 0).to(torch::kLong).view({K, 1, 1, 1, 1}) * (H * W);
  auto row_lo = base + yv(ay.lo) * W, row_hi = base + yv(ay.hi) * W;
  // the input as rows of C channels, one per (image, y, x): a view for channels-last input
  auto rows = input.permute({0, 2, 3, 1}).reshape({N * H * W, C});
  auto corner = [&](const torch::Tensor& row, const torch::Tensor& col, const torch::Tensor& w) {
    auto index = (row + xv(col)).expand({K, oh, ow, g, g}).reshape({-1});
    return rows.index_select(0, index) * (w * on_map).reshape({-1, 1});
  };
  auto values = corner(row_lo, ax.lo, yv(ay.h) * xv(ax.h)) + corner(row_lo, ax.hi, yv(ay.h) * xv(ax.l)) +
                corner(row_hi, ax.lo, yv(ay.l) * xv(ax.h)) + corner(row_hi, ax.hi, yv(ay.l) * xv(ax.l));
  auto pooled = values.view({K, oh, ow, g * g, C}).sum(3) / scalar(static_cast<double>(g * g));
  return pooled.permute({0, 3, 1, 2});
}

torch::Tensor roi_align(const torch::Tensor& input, const torch::Tensor& rois, std::array<int64_t, 2> output_size,
                        double spatial_scale, int64_t sampling_ratio, bool aligned) {
  if (input.scalar_type() == torch::kHalf || input.scalar_type() == torch::kBFloat16)
    return roi_align(input.to(torch::kFloat), rois, output_size, spatial_scale, sampling_ratio, aligned)
        .to(input.scalar_type());
  if (!input.is_cpu()) {
    TORCH_CHECK(sampling_ratio > 0, "roi_align on ", input.device(),
                " needs sampling_ratio > 0 (a fixed sampling grid), got sampling_ratio = ", sampling_ratio);
    return roi_align_reference(input, rois, output_size, spatial_scale, sampling_ratio, aligned);
  }
  check_arguments(input, rois, output_size, "roi_align");
  auto r = rois.detach().to(input.scalar_type()).contiguous();
  return RoiAlignFunction::apply(input, r, output_size[0], output_size[1], spatial_scale, sampling_ratio, aligned);
}

}  // namespace eshift
