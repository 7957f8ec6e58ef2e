// One run per directory: the second lock on a directory is refused naming the holder; closing
// (or the holder's death: tests/apps/test_cli_robustness.cpp) releases it.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "eshift/core/run_lock.h"
#include "test_util.h"

using namespace eshift;

TEST(RunLock, ASecondLockIsRefusedNamingTheHolderUntilTheFirstIsReleased) {
  eshift::test::TempDir dir;
  const std::string run = dir / "runs/x";  // created, parents too
  {
    RunLock first(run);
    EXPECT_TRUE(std::filesystem::is_directory(run));
    std::ifstream in(run + "/run.lock");
    std::string line;
    std::getline(in, line);
    EXPECT_EQ(line.rfind("pid " + std::to_string(getpid()) + " on host ", 0), 0u) << line;
    try {
      RunLock second(run);
      ADD_FAILURE() << "a second lock on " << run << " was granted";
    } catch (const std::runtime_error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(run + " is in use by another run (pid " + std::to_string(getpid()) + " on host "),
                std::string::npos) << what;
      EXPECT_EQ(what.find('\n'), std::string::npos) << what;
    }
  }
  EXPECT_NO_THROW(RunLock again(run));  // released with the first
}

TEST(RunLock, ADirectoryThatCannotBeMadeIsOneLine) {
  eshift::test::TempDir dir;
  std::ofstream(dir / "file") << "x";
  try {
    RunLock lock(dir / "file/run");
    ADD_FAILURE() << "locked a directory below a file";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot create the run directory " + (dir / "file/run")), std::string::npos) << e.what();
  }
}
