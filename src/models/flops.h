#pragma once
// Convolution FLOPs of a built model, counted from the operations its forward pass runs (not from a
// second description of the architecture): one forward of a zero image in eval mode, observed
// through ATen's RecordFunction callbacks, adds 2 × (output elements) × (multiply-adds per output
// element = C_in/groups · k_h · k_w) for every aten::convolution. Linear layers are not counted.
// A training step costs about 3× this per image (forward, input gradient, weight gradient).
#include <cstdint>

#include "eshift/models/model.h"

namespace eshift {

// FLOPs of every convolution of one forward pass of one in_channels × height × width image.
double conv_forward_flops(Model& model, int64_t height, int64_t width);

}  // namespace eshift
