#pragma once
// Boxes as regression targets (torchvision's detection _utils.BoxCoder; Girshick et al., R-CNN
// appendix C). A box b = (x1, y1, x2, y2) relative to a reference box a (an anchor or a proposal):
//   w = x2 − x1, h = y2 − y1, cx = x1 + ½w, cy = y1 + ½h   (no +1: boxes are continuous)
//   encode:  dx = wx·(cx_b − cx_a)/w_a,  dy = wy·(cy_b − cy_a)/h_a,
//            dw = ww·log(w_b/w_a),       dh = wh·log(h_b/h_a)
//   decode:  cx = dx/wx·w_a + cx_a,  cy = dy/wy·h_a + cy_a,
//            w = exp(min(dw/ww, clip))·w_a,  h = exp(min(dh/wh, clip))·h_a,
//            box = (cx − ½w, cy − ½h, cx + ½w, cy + ½h)
// with clip = log(1000/16) (no box grows more than 62.5× its reference). The RPN uses weights
// (1, 1, 1, 1), the box head (10, 10, 5, 5).
#include <torch/torch.h>

#include <array>
#include <cmath>

namespace eshift {

struct BoxCoder {
  std::array<double, 4> weights{1.0, 1.0, 1.0, 1.0};  // wx, wy, ww, wh
  double clip = std::log(1000.0 / 16.0);

  // Matched boxes [N, 4] against their references [N, 4] → codes [N, 4].
  torch::Tensor encode(const torch::Tensor& boxes, const torch::Tensor& references) const;
  // Codes [N, 4·k] (k boxes a reference: one per class in the box head) and references [N, 4]
  // → boxes [N, k, 4]. Differentiable in the codes.
  torch::Tensor decode(const torch::Tensor& codes, const torch::Tensor& references) const;
};

}  // namespace eshift
