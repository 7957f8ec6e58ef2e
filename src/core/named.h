#pragma once
// Looking an entry up by name in one of eshift's registries (datasets, tasks, recipes), with the
// error a command line needs: "unknown --data 'x' (known: a, b, c)".
#include <stdexcept>
#include <string>
#include <vector>

namespace eshift {

// The entry of `entries` whose .name is `name`; throws std::invalid_argument naming `flag` and the
// known names, in their order.
template <typename Entry>
const Entry& find_named(const std::vector<Entry>& entries, const std::string& name, const std::string& flag) {
  std::string known;
  for (const auto& entry : entries) {
    if (entry.name == name) return entry;
    known += (known.empty() ? "" : ", ") + entry.name;
  }
  throw std::invalid_argument("unknown " + flag + " '" + name + "' (known: " + known + ")");
}

}  // namespace eshift
