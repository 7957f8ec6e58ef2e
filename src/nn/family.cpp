#include "eshift/nn/family.h"

#include <stdexcept>

namespace eshift {

std::string family_name(WeightFamily family) {
  switch (family) {
    case WeightFamily::None: return "none";
    case WeightFamily::WS: return "ws";
    case WeightFamily::WN: return "wn";
    case WeightFamily::CWN: return "cwn";
  }
  return "?";
}

WeightFamily parse_family(const std::string& name) {
  if (name == "none") return WeightFamily::None;
  if (name == "ws") return WeightFamily::WS;
  if (name == "wn") return WeightFamily::WN;
  if (name == "cwn") return WeightFamily::CWN;
  throw std::invalid_argument("unknown weight normalization '" + name + "' (expected none, ws, wn or cwn)");
}

}  // namespace eshift
