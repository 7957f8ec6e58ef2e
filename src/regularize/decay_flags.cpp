#include "eshift/regularize/decay_flags.h"

#include <cmath>
#include <stdexcept>
#include <string>
#include <tuple>

namespace eshift {

void DecayFlags::validate() const {
  auto check = [](bool ok, const std::string& what) {
    if (!ok) throw std::invalid_argument(what);
  };
  check(std::isfinite(wd) && wd >= 0, "--wd must be a finite value >= 0");
  check(std::isfinite(lam) && lam >= 0, "--lam must be a finite value >= 0");
  check(std::isfinite(mineps) && mineps >= 0, "--mineps (ε) must be a finite value >= 0");
  check(!mineps_auto || el2, "--mineps auto chooses the ε of the ε-shifted L2: it needs --el2");
}

std::vector<std::string> DecayFlags::warnings() const {
  std::vector<std::string> out;
  if (!wd_all) return out;
  // with --el2 the ε-shifted term keeps the non-depthwise conv weights; --wd-all still decays the
  // depthwise ones, which --nowd-conv would have left alone
  const std::string conv_note = el2 ? " (the conv weights keep the ε-shifted term; depthwise ones get --wd)" : "";
  for (const auto& [given, flag, note] : {std::tuple{nowd_conv, "--nowd-conv", conv_note},
                                          std::tuple{nowd_bn, "--nowd-bn", std::string()},
                                          std::tuple{nowd_fc, "--nowd-fc", std::string()}})
    if (given) out.push_back(std::string("--wd-all decays every parameter; ") + flag + " is overridden" + note);
  return out;
}

DecayFlags conv_decay_preset(ConvDecay conv, double lambda, double eps, double others_wd, DecayFlags base) {
  if (conv == ConvDecay::L2 && others_wd != 0 && others_wd != lambda)
    throw std::invalid_argument("plain L2 on the conv weights and on the other roles share --wd: λ = " +
                                std::to_string(lambda) + " and " + std::to_string(others_wd) + " differ");
  DecayFlags f = base;
  f.wd = conv == ConvDecay::L2 ? lambda : others_wd;
  f.nowd_conv = conv != ConvDecay::L2;
  f.el2 = conv == ConvDecay::EpsShifted;
  if (f.el2) f.lam = lambda;
  f.mineps = eps;
  if (others_wd == 0) f.nowd_bn = f.nowd_fc = true;
  return f;
}

}  // namespace eshift
