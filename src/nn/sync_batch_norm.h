#pragma once
// BatchNorm whose training statistics span every process of a data-parallel run (--sync-bn; as
// torch.nn.SyncBatchNorm). With N the examples × pixels of all processes together, per channel:
//
//   μ  = Σ x / N                       (one sum across processes: Σ x and the local counts)
//   σ² = Σ (x − μ)² / N                (biased, what the batch is normalized with; a second sum
//                                        across processes, two passes for float32's sake)
//   y  = γ · x̂ + β,   x̂ = (x − μ) / sqrt(σ² + ε)
//   running_mean ← (1 − m) running_mean + m μ,  running_var ← (1 − m) running_var + m σ² N / (N − 1)
//
// Backward, with g = ∂L/∂y of this process's examples:
//   ∂L/∂γ = Σ_local g x̂,   ∂L/∂β = Σ_local g        (averaged across processes with the other gradients)
//   ∂L/∂x = γ / sqrt(σ² + ε) · (g − Σ g / N − x̂ · Σ g x̂ / N)   (Σ across processes: a third sum)
//
// The sums across processes are a function the caller gives (`SumAcrossProcesses`: sums a tensor in
// place over all processes), so this layer needs no communication library; a single process with
// the identity gives plain BatchNorm. `sum` must outlive the backward pass. Process-wide, like the fused kernels' switch: while a sum is
// set, every BatchNorm in training mode (models/layers.h) uses it.
#include <torch/torch.h>

#include <functional>

namespace eshift {

using SumAcrossProcesses = std::function<void(torch::Tensor&)>;

// bn(x) in training mode with statistics over every process; bn's running statistics and
// num_batches_tracked updated as its own forward would (with the global statistics).
torch::Tensor sync_batch_norm(torch::nn::BatchNorm2dImpl& bn, const torch::Tensor& x, const SumAcrossProcesses& sum);

// The sum every BatchNorm uses in training mode; empty (the default): local statistics.
void set_batch_norm_sync(SumAcrossProcesses sum);
const SumAcrossProcesses& batch_norm_sync();

}  // namespace eshift
