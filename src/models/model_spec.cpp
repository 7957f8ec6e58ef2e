#include "eshift/models/model_spec.h"

#include <nlohmann/json.hpp>

#include <stdexcept>

#include "eshift/models/registry.h"

namespace eshift {

void ModelSpec::validate() const {
  find_model(name).validate(*this);
  if (norm != "bn" && norm != "gn") throw std::invalid_argument("unknown --norm '" + norm + "' (bn or gn)");
  if (gn_groups < 1) throw std::invalid_argument("--gn-groups must be >= 1");
  if (in_channels < 1) throw std::invalid_argument("input channels must be >= 1");
  if (num_classes < 2) throw std::invalid_argument("need at least 2 classes");
  if (width < 1) throw std::invalid_argument("--width must be >= 1");
  if (!(ws.delta >= 0)) throw std::invalid_argument("--ws-delta must be >= 0");
}

std::string ModelSpec::to_json() const {
  nlohmann::json j{{"name", name},          {"wnorm", family_name(wnorm)}, {"norm", norm},
                   {"gn_groups", gn_groups}, {"ws_delta", ws.delta},      {"ws_delta_inside_sqrt", ws.delta_inside_sqrt},
                   {"in_channels", in_channels}, {"num_classes", num_classes}, {"width", width}};
  return j.dump();
}

ModelSpec ModelSpec::from_json(const std::string& text) {
  auto j = nlohmann::json::parse(text);
  ModelSpec s;
  s.name = j.at("name").get<std::string>();
  s.wnorm = parse_family(j.at("wnorm").get<std::string>());
  s.norm = j.at("norm").get<std::string>();
  s.gn_groups = j.at("gn_groups").get<int>();
  s.ws.delta = j.at("ws_delta").get<double>();
  s.ws.delta_inside_sqrt = j.at("ws_delta_inside_sqrt").get<bool>();
  s.in_channels = j.at("in_channels").get<int64_t>();
  s.num_classes = j.at("num_classes").get<int64_t>();
  s.width = j.at("width").get<int64_t>();
  return s;
}

}  // namespace eshift
