// Replacing files: readers see the old or the new content; a failed write keeps the old file and
// leaves no temporary file behind.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "eshift/core/atomic_file.h"
#include "test_util.h"

using namespace eshift;
using eshift::test::TempDir;

namespace {
std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}
}  // namespace

TEST(AtomicFile, WriteTextReplacesTheWholeFile) {
  TempDir dir;
  const auto path = dir / "config.json";
  write_text_atomic(path, "a long first version\n");
  write_text_atomic(path, "short\n");
  EXPECT_EQ(slurp(path), "short\n");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(AtomicFile, AFailedWriteKeepsTheOldFileAndRemovesTheTemporary) {
  TempDir dir;
  const auto path = dir / "checkpoint.pt";
  write_text_atomic(path, "good\n");
  try {
    replace_file(path, [](const std::string& tmp) {
      std::ofstream(tmp) << "half a file";
      throw std::runtime_error("disk full\nbacktrace …");
    });
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find(path), std::string::npos) << message;          // names the file
    EXPECT_NE(message.find("disk full"), std::string::npos) << message;   // and the cause
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;          // in one line
  }
  EXPECT_EQ(slurp(path), "good\n");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(AtomicFile, AnUnwritableDirectoryIsAnErrorNamingThePath) {
  TempDir dir;
  const auto path = dir / "missing-dir/metrics.jsonl";
  try {
    write_text_atomic(path, "x");
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}
