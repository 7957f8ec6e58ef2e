#pragma once
// The options the optimizers share (the regularizer, SGDP/AdamP's projection) in a checkpoint's
// archive of group options. Keys that older checkpoints lack read as the defaults.
#include <torch/torch.h>

#include "eshift/optim/projection.h"
#include "eshift/regularize/regularizer.h"

namespace eshift {

void write_regularizer(torch::serialize::OutputArchive& archive, const Regularizer& r);
// Reads what write_regularizer wrote, and older checkpoints' form (kind 2 = decoupled l2, no flag).
Regularizer read_regularizer(torch::serialize::InputArchive& archive);

void write_projection(torch::serialize::OutputArchive& archive, Projection mode, const ProjectionOptions& o);
void read_projection(torch::serialize::InputArchive& archive, Projection& mode, ProjectionOptions& o);

}  // namespace eshift
