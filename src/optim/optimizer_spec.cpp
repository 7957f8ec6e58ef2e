#include "eshift/optim/optimizer_spec.h"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

namespace eshift {

const std::vector<std::string>& optimizer_names() {
  static const std::vector<std::string> names{"sgd", "lars", "sgdp", "adam", "adamw", "lamb", "adamp"};
  return names;
}

void OptimizerSpec::validate() const {
  auto check = [](bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument(what);
  };
  const auto& names = optimizer_names();
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
  check(std::find(names.begin(), names.end(), name) != names.end(),
        "--optimizer must be one of " + list + ", got '" + name + "'");
  check(std::isfinite(momentum) && momentum >= 0 && momentum < 1, "--momentum must be in [0, 1), got " + std::to_string(momentum));
  check(std::isfinite(dampening) && dampening >= 0 && dampening <= 1, "--dampening must be in [0, 1]");
  check(!nesterov || (momentum > 0 && dampening == 0), "--nesterov needs --momentum > 0 and --dampening 0");
  check(std::isfinite(beta1) && beta1 >= 0 && beta1 < 1, "--beta1 must be in [0, 1)");
  check(std::isfinite(beta2) && beta2 >= 0 && beta2 < 1, "--beta2 must be in [0, 1)");
  check(std::isfinite(adam_eps) && adam_eps > 0, "--adam-eps must be > 0");
  check(std::isfinite(trust_coefficient) && trust_coefficient > 0, "--trust-coefficient must be > 0");
  check(std::isfinite(proj_delta) && proj_delta > 0, "--proj-delta must be > 0");
  check(std::isfinite(wd_ratio) && wd_ratio >= 0 && wd_ratio <= 1, "--wd-ratio must be in [0, 1]");
  check(invariance == "cosine" || invariance == "roles" || invariance == "audit",
        "--invariance must be cosine, roles or audit, got '" + invariance + "'");
  check(invariance == "cosine" || projects(), "--invariance " + invariance + " needs --optimizer sgdp or adamp");
}

std::string OptimizerSpec::describe() const {
  std::ostringstream s;
  s << name << " (";
  if (sgd_family()) {
    s << "momentum " << momentum << (nesterov ? " nesterov" : "");
    if (dampening != 0) s << ", dampening " << dampening;
  } else {
    s << "β " << beta1 << "/" << beta2 << ", eps " << adam_eps;
  }
  if (name == "lars") s << ", trust coefficient " << trust_coefficient;
  if (projects()) s << ", δ " << proj_delta << ", wd_ratio " << wd_ratio << ", invariance: " << invariance;
  if (decouples_decay()) s << ", decay decoupled";
  s << ")";
  return s.str();
}

}  // namespace eshift
