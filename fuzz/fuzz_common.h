#pragma once
// Shared by the fuzz targets (libFuzzer, make fuzz) and their seed writer (seeds.cpp).
// Each target gets the fuzzer's bytes as a file, because eshift's readers read files.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "eshift/models/model_spec.h"

namespace eshift::fuzz {

// Writes [data, data + size) to this process's scratch file (in /dev/shm when there is one).
inline std::string scratch_file(const uint8_t* data, size_t size, const std::string& suffix) {
  static const std::string dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  const std::string path = dir + "/eshift-fuzz-" + std::to_string(getpid()) + suffix;
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
  return path;
}

// A directory of this process's own for a target's files (in /dev/shm when there is one).
inline std::string scratch_dir(const std::string& name) {
  static const std::string root = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  const std::string dir = root + "/eshift-fuzz-" + std::to_string(getpid()) + "-" + name;
  mkdir(dir.c_str(), 0700);
  return dir;
}

// Writes [data, data + size) to `path`.
inline void write_file(const std::string& path, const uint8_t* data, size_t size) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
}

// The model the checkpoint target loads into (and its seeds are written for).
inline ModelSpec tiny_spec() {
  ModelSpec spec;
  spec.name = "resnet8";
  spec.width = 2;
  spec.in_channels = 1;
  spec.num_classes = 3;
  return spec;
}

}  // namespace eshift::fuzz
