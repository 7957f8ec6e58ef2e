#include "eshift/core/atomic_file.h"

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "eshift/core/text.h"

namespace eshift {

void replace_file(const std::string& path, const std::function<void(const std::string& tmp_path)>& write) {
  const std::string tmp = path + ".tmp";
  std::error_code ignored;
  try {
    write(tmp);
  } catch (const std::exception& e) {
    std::filesystem::remove(tmp, ignored);
    throw std::runtime_error(path + ": cannot write (" + first_line(e.what()) + ")");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ignored);
    throw std::runtime_error(path + ": cannot move the new file into place (" + ec.message() + ")");
  }
}

void write_text_atomic(const std::string& path, const std::string& text) {
  replace_file(path, [&](const std::string& tmp) {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    out.close();
    if (!out) throw std::runtime_error("write failed");
  });
}

}  // namespace eshift
