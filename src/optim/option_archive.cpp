#include "eshift/optim/option_archive.h"

namespace eshift {

void write_regularizer(torch::serialize::OutputArchive& archive, const Regularizer& r) {
  archive.write("reg_kind", torch::IValue(static_cast<int64_t>(r.kind)));
  archive.write("reg_lambda", torch::IValue(r.lambda));
  archive.write("reg_eps", torch::IValue(r.eps));
  archive.write("reg_family", torch::IValue(static_cast<int64_t>(r.family)));
  archive.write("reg_decoupled", torch::IValue(r.decoupled));
}

Regularizer read_regularizer(torch::serialize::InputArchive& archive) {
  torch::IValue v;
  Regularizer r;
  archive.read("reg_kind", v);
  const auto kind = v.toInt();
  archive.read("reg_lambda", v); r.lambda = v.toDouble();
  archive.read("reg_eps", v); r.eps = v.toDouble();
  archive.read("reg_family", v); r.family = static_cast<WeightFamily>(v.toInt());
  TORCH_CHECK(kind >= 0 && kind <= 3, "unknown regularizer kind ", kind, " in the optimizer state");
  if (kind == 2) {  // before decoupling was a flag of its own
    r.kind = RegKind::L2;
    r.decoupled = true;
  } else {
    r.kind = static_cast<RegKind>(kind);
    if (archive.try_read("reg_decoupled", v)) r.decoupled = v.toBool();
  }
  return r;
}

void write_projection(torch::serialize::OutputArchive& archive, Projection mode, const ProjectionOptions& o) {
  archive.write("projection", torch::IValue(static_cast<int64_t>(mode)));
  archive.write("projection_delta", torch::IValue(o.delta));
  archive.write("projection_wd_ratio", torch::IValue(o.wd_ratio));
  archive.write("projection_eps", torch::IValue(o.eps));
}

void read_projection(torch::serialize::InputArchive& archive, Projection& mode, ProjectionOptions& o) {
  torch::IValue v;
  mode = Projection::Off;
  o = {};
  if (archive.try_read("projection", v)) mode = static_cast<Projection>(v.toInt());
  if (archive.try_read("projection_delta", v)) o.delta = v.toDouble();
  if (archive.try_read("projection_wd_ratio", v)) o.wd_ratio = v.toDouble();
  if (archive.try_read("projection_eps", v)) o.eps = v.toDouble();
}

}  // namespace eshift
