// eshift._C: the C++ core the Python package calls (python/eshift/). Every formula lives in eshift's
// C++ sources, compiled into this module: the optimizers' per-parameter steps
// (optim/regularized_sgd.h, optim/regularized_adam.h), the decay policy's rules
// (regularize/decay_policy.h) and the weight-normalization family (nn/weight_family.h). The Python
// side keeps state and parameter groups in torch.optim's own structures and passes them here.
//
// A param group reaches C++ as the dict torch.optim keeps (python/eshift/optim.py fills every key):
//   decay 'none' | 'l2' | 'el2', lam, mineps, family 'ws' | 'cwn' | 'wn', decoupled  → Regularizer
//   SGD:  lr, momentum, dampening, nesterov, trust_coefficient, projection, delta, wd_ratio, eps
//   Adam: lr, betas, eps, trust_ratio, projection, delta, wd_ratio
// Option errors become ValueError with eshift's one-line message.
// Probes (observe/probes.h, collapse_watch.h): one object around the optimizer steps it measures.
#include <torch/extension.h>

#include <optional>
#include <string>
#include <vector>

#include "eshift/nn/family.h"
#include "eshift/nn/param_roles.h"
#include "eshift/nn/weight_family.h"
#include "eshift/observe/collapse_watch.h"
#include "eshift/observe/probes.h"
#include "eshift/optim/regularized_adam.h"
#include "eshift/optim/regularized_sgd.h"
#include "eshift/regularize/decay_policy.h"

namespace py = pybind11;
using namespace eshift;

namespace {

template <typename T>
T get(const py::dict& group, const char* key) {
  if (!group.contains(key)) throw py::key_error(std::string("eshift: the param group has no '") + key + "'");
  return group[key].cast<T>();
}

// Runs f, turning eshift's checks (c10::Error, std::invalid_argument) into ValueError without the
// C++ backtrace.
template <typename F>
auto checked(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const c10::Error& e) {
    throw py::value_error(e.what_without_backtrace());
  } catch (const std::invalid_argument& e) {
    throw py::value_error(e.what());
  }
}

Regularizer regularizer_of(const py::dict& g) {
  const auto decay = get<std::string>(g, "decay");
  const double lam = get<double>(g, "lam");
  Regularizer r;
  if (decay == "none")
    r = Regularizer::none();
  else if (decay == "l2")
    r = Regularizer::l2(lam);
  else if (decay == "el2")
    r = Regularizer::eps_shifted(parse_family(get<std::string>(g, "family")), lam, get<double>(g, "mineps"));
  else
    throw std::invalid_argument("decay must be 'none', 'l2' or 'el2', got '" + decay + "'");
  return r.applied_decoupled(get<bool>(g, "decoupled"));
}

py::dict regularizer_dict(const Regularizer& r) {
  py::dict d;
  d["decay"] = !r.active() ? "none" : r.kind == RegKind::L2 ? "l2" : "el2";
  d["lam"] = r.active() ? r.lambda : 0.0;
  d["mineps"] = r.kind == RegKind::EpsShifted ? r.eps : 0.0;
  d["family"] = family_name(r.family == WeightFamily::None ? WeightFamily::WS : r.family);
  d["decoupled"] = r.decoupled;
  return d;
}

Projection projection_of(const py::dict& g) {
  const auto name = get<std::string>(g, "projection");
  for (auto p : {Projection::Off, Projection::Cosine, Projection::Always, Projection::Never})
    if (projection_name(p) == name) return p;
  throw std::invalid_argument("projection must be 'off', 'cosine', 'always' or 'never', got '" + name + "'");
}

ProjectionOptions projection_options_of(const py::dict& g) {
  ProjectionOptions o;
  o.delta = get<double>(g, "delta");
  o.wd_ratio = get<double>(g, "wd_ratio");
  o.eps = get<double>(g, "eps");
  return o;
}

RegularizedSGDOptions sgd_options(const py::dict& g) {
  RegularizedSGDOptions o(get<double>(g, "lr"));
  o.momentum(get<double>(g, "momentum")).dampening(get<double>(g, "dampening")).nesterov(get<bool>(g, "nesterov"));
  o.regularizer(regularizer_of(g)).trust_coefficient(get<double>(g, "trust_coefficient"));
  o.projection(projection_of(g)).projection_options(projection_options_of(g));
  o.check();
  return o;
}

RegularizedAdamOptions adam_options(const py::dict& g) {
  RegularizedAdamOptions o(get<double>(g, "lr"));
  const auto betas = get<std::pair<double, double>>(g, "betas");
  o.beta1(betas.first).beta2(betas.second).eps(get<double>(g, "eps"));
  o.regularizer(regularizer_of(g)).trust_ratio(get<bool>(g, "trust_ratio"));
  o.projection(projection_of(g)).projection_options(projection_options_of(g));
  o.check();
  return o;
}

void check_lengths(size_t n, size_t m, const char* what) {
  if (n != m) throw py::value_error(std::string("eshift: ") + what + " and params differ in length");
}

// One step over a group's parameters that have gradients; returns their momentum buffers.
std::vector<std::optional<torch::Tensor>> sgd_step(std::vector<torch::Tensor> params, const std::vector<torch::Tensor>& grads,
                                                   std::vector<std::optional<torch::Tensor>> buffers, const py::dict& group) {
  const auto o = checked([&] { return sgd_options(group); });
  check_lengths(params.size(), grads.size(), "grads");
  check_lengths(params.size(), buffers.size(), "momentum buffers");
  py::gil_scoped_release no_gil;
  for (size_t i = 0; i < params.size(); ++i) {
    torch::Tensor buf = buffers[i].value_or(torch::Tensor());
    regularized_sgd_update_(params[i], grads[i], buf, o);
    buffers[i] = buf.defined() ? std::optional<torch::Tensor>(buf) : std::nullopt;
  }
  return buffers;
}

// One step; returns the new step counts and the moments.
py::tuple adam_step(std::vector<torch::Tensor> params, const std::vector<torch::Tensor>& grads, std::vector<int64_t> steps,
                    std::vector<std::optional<torch::Tensor>> exp_avgs, std::vector<std::optional<torch::Tensor>> exp_avg_sqs,
                    const py::dict& group) {
  const auto o = checked([&] { return adam_options(group); });
  check_lengths(params.size(), grads.size(), "grads");
  check_lengths(params.size(), steps.size(), "steps");
  check_lengths(params.size(), exp_avgs.size(), "exp_avgs");
  check_lengths(params.size(), exp_avg_sqs.size(), "exp_avg_sqs");
  std::vector<torch::Tensor> m(params.size()), v(params.size());
  {
    py::gil_scoped_release no_gil;
    for (size_t i = 0; i < params.size(); ++i) {
      m[i] = exp_avgs[i].value_or(torch::Tensor());
      v[i] = exp_avg_sqs[i].value_or(torch::Tensor());
      regularized_adam_update_(params[i], grads[i], steps[i], m[i], v[i], o);
    }
  }
  return py::make_tuple(steps, m, v);
}

// The roles by their Python names, in ParamRole's order (nn/param_roles.h).
const char* const kRoleNames[kNumParamRoles] = {"normalized_weight", "conv_weight", "depthwise_weight", "norm_scale",
                                                "norm_shift", "bias", "classifier_weight"};

ParamRole parse_role(const std::string& name) {
  for (int r = 0; r < kNumParamRoles; ++r)
    if (name == kRoleNames[r]) return static_cast<ParamRole>(r);
  throw std::invalid_argument("unknown parameter role '" + name + "'");
}

// (name, tensor, role, family) per parameter: python/eshift/groups.py's parameter_roles.
using ParamRows = std::vector<std::tuple<std::string, torch::Tensor, std::string, std::string>>;

DecayFlags decay_flags_of(const py::dict& f) {
  DecayFlags flags;
  flags.wd = get<double>(f, "wd");
  flags.wd_all = get<bool>(f, "wd_all");
  flags.nowd_bn = get<bool>(f, "nowd_bn");
  flags.nowd_fc = get<bool>(f, "nowd_fc");
  flags.nowd_conv = get<bool>(f, "nowd_conv");
  flags.el2 = get<bool>(f, "el2");
  flags.mineps = get<double>(f, "mineps");
  flags.lam = get<double>(f, "lam");
  flags.decoupled = get<bool>(f, "decoupled");
  flags.validate();
  return flags;
}

std::vector<ParamInfo> param_infos(const ParamRows& params) {
  std::vector<ParamInfo> infos;
  for (const auto& [name, tensor, role_name, family] : params) {
    const ParamRole role = parse_role(role_name);
    infos.push_back({name, tensor, role, parse_family(family), role == ParamRole::NormalizedWeight});
  }
  return infos;
}

// The decay policy over (name, tensor, role, family) rows: each row's regularizer as a dict.
std::vector<py::dict> regularizers_for(
    const ParamRows& params, const py::dict& flags) {
  const DecayPolicy policy(checked([&] { return decay_flags_of(flags); }));
  const auto infos = checked([&] { return param_infos(params); });
  std::vector<py::dict> out;
  for (const auto& p : infos) out.push_back(regularizer_dict(policy.regularizer_for(p)));
  return out;
}

std::string decay_table(const ParamRows& params,
                        const py::dict& flags) {
  const DecayPolicy policy(checked([&] { return decay_flags_of(flags); }));
  return policy.table(checked([&] { return param_infos(params); }));
}

// The probe of the CLI's runs around one optimizer step, and its σ-collapse watch.
class StepProbe {
 public:
  StepProbe(const ParamRows& rows, double eps, double share, bool el2)
      : params_(checked([&] { return param_infos(rows); })), probe_(params_, eps), watch_(eps, share, el2) {}

  void before_step() {
    py::gil_scoped_release no_gil;
    probe_.before_step();
  }

  // The record of the step just taken (metrics.jsonl's JSON, with the float16 margin at loss_scale
  // when one is given) and the collapse warning, when one is due.
  std::pair<std::string, std::optional<std::string>> after_step(int64_t step, int epoch, double lr, double loss_scale) {
    py::gil_scoped_release no_gil;
    auto record = probe_.after_step(step, epoch, lr);
    if (loss_scale > 0) {
      record.loss_scale = loss_scale;
      record.fp16_scaled_ratio = record.grad_max_abs * loss_scale / kFloat16Max;
      for (auto& layer : record.layers) layer.fp16_scaled_ratio = layer.grad_max_abs * loss_scale / kFloat16Max;
    }
    const auto warning = watch_.check(sigma_census(params_, watch_.threshold()), step, epoch, /*at_epoch_end=*/false);
    return {record.to_json(), warning};
  }

  size_t layers() const { return probe_.num_layers(); }

 private:
  std::vector<ParamInfo> params_;
  Probe probe_;
  CollapseWatch watch_;
};

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "eshift's C++ core: regularized optimizer steps, the decay policy, the weight-normalization family";
  m.attr("torch_version") = std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) + "." +
                            std::to_string(TORCH_VERSION_PATCH);
  m.def("check_sgd_group", [](const py::dict& g) { checked([&] { return sgd_options(g); }); },
        "Raises ValueError naming the first impossible option of an SGD-family group");
  m.def("check_adam_group", [](const py::dict& g) { checked([&] { return adam_options(g); }); },
        "Raises ValueError naming the first impossible option of an Adam-family group");
  m.def("sgd_step", &sgd_step, "One SGD/LARS/SGDP step over a group (optim/regularized_sgd.h)");
  m.def("adam_step", &adam_step, "One Adam/AdamW/LAMB/AdamP step over a group (optim/regularized_adam.h)");
  m.def("regularizers_for", &regularizers_for, "The decay policy's regularizer of each (name, tensor, role, family)");
  m.def("decay_table", &decay_table, "The decay policy's table: role → regularizer, tensors, elements");
  m.def("role_names", [] { return std::vector<std::string>(kRoleNames, kRoleNames + kNumParamRoles); },
        "The parameter roles the decay policy knows, in its order");
  m.def("regularizer_penalty", [](const torch::Tensor& w, const py::dict& g) {
    return checked([&] { return regularizer_of(g); }).penalty(w);
  }, "R(w) of a group's regularizer (regularize/regularizer.h)");
  m.def("regularizer_gradient", [](const torch::Tensor& w, const py::dict& g) {
    return checked([&] { return regularizer_of(g); }).gradient(w);
  }, "∂R/∂w of a group's regularizer");
  m.def("standardize_weight", [](const torch::Tensor& w, double delta, bool delta_inside_sqrt) {
    return standardize_weight(w, WSOptions{delta, delta_inside_sqrt});
  }, "WS per output filter: (w − μ)/(σ + δ), σ unbiased; or (w − μ)/sqrt(var_biased + δ)");
  m.def("weight_normalize", &weight_normalize, "WN per output filter: g · v / ‖v‖");
  m.def("centered_weight_normalize", &centered_weight_normalize, "CWN per output filter: g · (v − μ1) / ‖v − μ1‖");
  m.def("filter_norm", &filter_norm, "‖w‖₂ per output filter");
  m.def("filter_centered_norm", &filter_centered_norm, "‖w − μ1‖₂ per output filter");
  m.def("filter_std", &filter_std, "unbiased σ per output filter");
  py::class_<StepProbe>(m, "StepProbe", "observe/probes.h's probe and collapse_watch.h's σ watch")
      .def(py::init<const ParamRows&, double, double, bool>(), py::arg("rows"), py::arg("eps"), py::arg("share"),
           py::arg("el2"))
      .def("before_step", &StepProbe::before_step)
      .def("after_step", &StepProbe::after_step, py::arg("step"), py::arg("epoch"), py::arg("lr"), py::arg("loss_scale"))
      .def_property_readonly("layers", &StepProbe::layers);
}
