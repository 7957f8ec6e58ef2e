#pragma once
// The whole of a file as bytes (an image a dataset decodes); DataError naming the file when it
// cannot be opened or read, or is empty.
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "eshift/core/errors.h"

namespace eshift {

inline std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw DataError(path + ": cannot open file");
  const std::streamsize n = in.tellg();
  if (n <= 0) throw DataError(path + ": empty file");
  std::vector<uint8_t> bytes(static_cast<size_t>(n));
  in.seekg(0);
  if (!in.read(reinterpret_cast<char*>(bytes.data()), n)) throw DataError(path + ": read error");
  return bytes;
}

}  // namespace eshift
