#include "eshift/observe/probe_record.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

namespace eshift {

double ProbeRecord::median_sigma_over_layers() const {
  if (layers.empty()) return NAN;
  std::vector<double> v;
  for (const auto& l : layers) v.push_back(l.sigma.median);
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

std::string ProbeRecord::to_json() const {
  auto stats = [](const FilterStats& s) { return nlohmann::json{{"min", s.min}, {"median", s.median}, {"max", s.max}}; };
  nlohmann::json layers_json = nlohmann::json::array();
  for (const auto& l : layers)
    layers_json.push_back({{"name", l.name},
                           {"family", family_name(l.family)},
                           {"filters", l.filters},
                           {"fan_in", l.fan_in},
                           {"norm", stats(l.norm)},
                           {"sigma", stats(l.sigma)},
                           {"mean", stats(l.mean)},
                           {"effective_lr", l.effective_lr},
                           {"angular_update", l.angular_update},
                           {"grad_norm", l.grad_norm},
                           {"grad_max_abs", l.grad_max_abs},
                           {"fp16_ratio", l.fp16_ratio},
                           {"fp16_scaled_ratio", l.fp16_scaled_ratio},
                           {"frac_sigma_below_eps", l.frac_sigma_below_eps}});
  nlohmann::json j{{"kind", "probe"},
                   {"step", step},
                   {"epoch", epoch},
                   {"lr", lr},
                   {"sigma_min", sigma_min},
                   {"effective_lr_median", effective_lr_median},
                   {"angular_update_median", angular_update_median},
                   {"grad_max_abs", grad_max_abs},
                   {"fp16_ratio", fp16_ratio},
                   {"loss_scale", loss_scale},
                   {"fp16_scaled_ratio", fp16_scaled_ratio},
                   {"fp16_overflow_steps", fp16_overflow_steps},
                   {"frac_sigma_below_eps", frac_sigma_below_eps},
                   {"layers", layers_json}};
  return j.dump();
}

}  // namespace eshift
