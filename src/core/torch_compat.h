#pragma once
// The LibTorch API differences between Debian's 1.13 and a current 2.x, in one place, so the rest of
// eshift is written once. (Both are built and tested: `make test` and `make test-torch2`.)
#include <ATen/autocast_mode.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/optim/optimizer.h>
#include <torch/version.h>

#include <sstream>
#include <string>
#include <type_traits>

namespace eshift::compat {

// Autocast's thread-local state for one device type. 1.13 has per-device calls (set_enabled for
// CUDA, set_cpu_enabled, set_autocast_gpu_dtype, …); 2.4 made them device-generic and deprecated
// the old names.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
inline bool autocast_enabled(at::DeviceType device) { return at::autocast::is_autocast_enabled(device); }
inline void set_autocast_enabled(at::DeviceType device, bool enabled) {
  at::autocast::set_autocast_enabled(device, enabled);
}
inline at::ScalarType autocast_dtype(at::DeviceType device) { return at::autocast::get_autocast_dtype(device); }
inline void set_autocast_dtype(at::DeviceType device, at::ScalarType dtype) {
  at::autocast::set_autocast_dtype(device, dtype);
}
#else
inline bool autocast_enabled(at::DeviceType device) {
  return device == at::kCUDA ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled();
}
inline void set_autocast_enabled(at::DeviceType device, bool enabled) {
  if (device == at::kCUDA)
    at::autocast::set_enabled(enabled);
  else
    at::autocast::set_cpu_enabled(enabled);
}
inline at::ScalarType autocast_dtype(at::DeviceType device) {
  return device == at::kCUDA ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
}
inline void set_autocast_dtype(at::DeviceType device, at::ScalarType dtype) {
  if (device == at::kCUDA)
    at::autocast::set_autocast_gpu_dtype(dtype);
  else
    at::autocast::set_autocast_cpu_dtype(dtype);
}
#endif

// Whether CPU autocast can run float16 (1.13's CPU autocast runs bfloat16 only; current 2.x both).
constexpr bool kCpuAutocastFloat16 = TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4);

// Whether ATen has a kernel of operator `name` (e.g. "aten::_amp_update_scale_") for tensors of
// `device`: 1.13 has the loss-scaling kernels for CUDA only, 2.x for CPU too.
inline bool has_kernel(const char* name, at::DeviceType device) {
  const auto op = c10::Dispatcher::singleton().findSchema({name, ""});
  const auto key = device == at::kCUDA ? c10::DispatchKey::CUDA : c10::DispatchKey::CPU;
  return op && op->hasKernelForDispatchKey(key);
}

// The key of a parameter's entry in torch::optim::Optimizer::state(): its TensorImpl's address, as
// a string ("0x…") in 1.13 and as the pointer in 2.x. Taken from the map's own key type.
using OptimizerStateKey =
    std::decay_t<decltype(std::declval<torch::optim::Optimizer&>().state())>::key_type;
inline void make_state_key(void* impl, std::string& key) {
  std::ostringstream s;
  s << impl;
  key = s.str();
}
inline void make_state_key(void* impl, void*& key) { key = impl; }
inline OptimizerStateKey optimizer_state_key(const at::Tensor& param) {
  OptimizerStateKey key{};
  make_state_key(param.unsafeGetTensorImpl(), key);
  return key;
}

// A profiler event's start and duration in microseconds: 1.13's KinetoEvent has startUs()/durationUs(),
// 2.x replaced them with startNs()/durationNs(). Detected from the event type itself.
template <class Event, class = void>
struct HasNanoseconds : std::false_type {};
template <class Event>
struct HasNanoseconds<Event, std::void_t<decltype(std::declval<const Event&>().startNs())>> : std::true_type {};
template <class Event>
double event_start_us(const Event& e) {
  if constexpr (HasNanoseconds<Event>::value)
    return static_cast<double>(e.startNs()) / 1e3;
  else
    return static_cast<double>(e.startUs());
}
template <class Event>
double event_duration_us(const Event& e) {
  if constexpr (HasNanoseconds<Event>::value)
    return static_cast<double>(e.durationNs()) / 1e3;
  else
    return static_cast<double>(e.durationUs());
}

}  // namespace eshift::compat
