// The file writer: replacing a file leaves the old or the new content, never a torn file or a
// temporary; a full disk (injected, and a real small tmpfs where the test may mount one) is a
// one-line error naming the file; a failed append leaves the earlier lines intact.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "eshift/core/atomic_file.h"
#include "eshift/core/fault_injection.h"
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

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "no exception";
}

// Writes fail with ENOSPC after `bytes` more bytes, for the life of the object.
struct DiskFullAfter {
  explicit DiskFullAfter(int64_t bytes) { set_write_budget(bytes); }
  ~DiskFullAfter() { set_write_budget(-1); }
};

// A 64 KiB tmpfs mounted on a fresh directory (needs CAP_SYS_ADMIN: root outside a restricted container).
struct SmallTmpfs {
  SmallTmpfs() { mounted = ::mount("tmpfs", dir.path.c_str(), "tmpfs", 0, "size=64k") == 0; }
  ~SmallTmpfs() {
    if (mounted) ::umount(dir.path.c_str());
  }
  TempDir dir;
  bool mounted = false;
};
}  // namespace

TEST(AtomicFile, WriteTextReplacesTheWholeFile) {
  TempDir dir;
  const auto path = dir / "config.json";
  write_text_atomic(path, "a long first version\n");
  write_text_atomic(path, "short\n");
  EXPECT_EQ(slurp(path), "short\n");
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  write_file_atomic(path, {"two ", "pieces"});
  EXPECT_EQ(slurp(path), "two pieces");
}

TEST(AtomicFile, ADiskFullWriteKeepsTheOldFileAndSaysSoInOneLine) {
  TempDir dir;
  const auto path = dir / "checkpoint.pt";
  write_text_atomic(path, "good\n");
  for (int64_t budget : {0, 3, 17}) {  // nothing, a little, most of the new content
    DiskFullAfter full(budget);
    const auto message = error_of([&] { write_text_atomic(path, "a new version of 18"); });
    EXPECT_EQ(message, "no space left on device writing " + path) << budget;
    EXPECT_EQ(slurp(path), "good\n") << budget;
    EXPECT_FALSE(std::filesystem::exists(path + ".tmp")) << budget;
  }
}

TEST(AtomicFile, AFailedAppendLeavesTheEarlierLinesIntact) {
  TempDir dir;
  const auto path = dir / "metrics.jsonl";
  AppendFile file(path, /*truncate=*/true);
  file.append("{\"epoch\":1}\n");
  {
    DiskFullAfter full(4);
    EXPECT_EQ(error_of([&] { file.append("{\"epoch\":2}\n"); }), "no space left on device writing " + path);
  }
  EXPECT_EQ(slurp(path), "{\"epoch\":1}\n");  // the four bytes written were cut off again
  file.append("{\"epoch\":3}\n");
  file.sync();
  EXPECT_EQ(slurp(path), "{\"epoch\":1}\n{\"epoch\":3}\n");
  AppendFile reopened(path, /*truncate=*/false);
  reopened.append("x\n");
  EXPECT_EQ(slurp(path), "{\"epoch\":1}\n{\"epoch\":3}\nx\n");
}

TEST(AtomicFile, ARealFullFileSystem) {
  SmallTmpfs fs;
  if (!fs.mounted) GTEST_SKIP() << "cannot mount a tmpfs here (needs root); the injected disk-full tests cover it";
  const auto path = fs.dir / "checkpoint.pt";
  write_text_atomic(path, std::string(20000, 'a'));
  // the new version and the old one do not fit side by side in 64 KiB
  EXPECT_EQ(error_of([&] { write_text_atomic(path, std::string(60000, 'b')); }),
            "no space left on device writing " + path);
  EXPECT_EQ(slurp(path), std::string(20000, 'a'));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));

  const auto log = fs.dir / "metrics.jsonl";
  AppendFile file(log, true);
  file.append("first line\n");
  EXPECT_EQ(error_of([&] { file.append(std::string(60000, 'c') + "\n"); }), "no space left on device writing " + log);
  EXPECT_EQ(slurp(log), "first line\n");
}

TEST(AtomicFile, LinkMakesTwoNamesForOneFileAndReplacesTheOldName) {
  TempDir dir;
  write_text_atomic(dir / "checkpoint-epoch1.pt", "one");
  write_text_atomic(dir / "checkpoint-epoch2.pt", "two");
  link_atomic(dir / "checkpoint-epoch1.pt", dir / "checkpoint.pt");
  EXPECT_EQ(slurp(dir / "checkpoint.pt"), "one");
  link_atomic(dir / "checkpoint-epoch2.pt", dir / "checkpoint.pt");
  EXPECT_EQ(slurp(dir / "checkpoint.pt"), "two");
  struct stat a {}, b {};
  ASSERT_EQ(::stat((dir / "checkpoint.pt").c_str(), &a), 0);
  ASSERT_EQ(::stat((dir / "checkpoint-epoch2.pt").c_str(), &b), 0);
  EXPECT_EQ(a.st_ino, b.st_ino);  // one file, no second copy on disk
  EXPECT_FALSE(std::filesystem::exists(dir / "checkpoint.pt.tmp"));
}

TEST(AtomicFile, AnUnwritableDirectoryIsAnErrorNamingThePath) {
  TempDir dir;
  const auto path = dir / "missing-dir/metrics.jsonl";
  EXPECT_NE(error_of([&] { write_text_atomic(path, "x"); }).find("cannot write " + path), std::string::npos);
  EXPECT_NE(error_of([&] { AppendFile(path, false); }).find("cannot write " + path), std::string::npos);
}
