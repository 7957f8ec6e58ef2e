// The progress output: plain lines about every tenth of an epoch when stdout is not a terminal, a
// bar redrawn in place when it is, the task's metrics in both, and the epoch's summary line last.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "eshift/observe/progress.h"

using namespace eshift;

namespace {
Metrics running(double loss, double acc) {
  Metrics m;
  m.add({"loss", "loss", false}, loss);
  m.add({"acc", "accuracy", true}, acc);
  return m;
}

// Everything written to a temporary FILE*.
struct Capture {
  FILE* file = std::tmpfile();
  ~Capture() { std::fclose(file); }
  std::string text() {
    std::fflush(file);
    std::rewind(file);
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, file)) > 0) out.append(buf, n);
    return out;
  }
};

int count(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}
}  // namespace

TEST(ProgressBar, PlainLinesEveryTenthOfTheEpochThenTheSummary) {
  Capture out;
  {
    ProgressBar bar("train 1/3", 20, out.file, /*tty=*/0);
    for (int step = 1; step <= 20; ++step) bar.update(step, running(0.5, 0.095), 32 * step);
    bar.finish("train epoch 1/3: done");
  }
  const auto text = out.text();
  EXPECT_EQ(count(text, "\n"), 11);  // steps 2, 4, …, 20 and the summary
  EXPECT_EQ(text.rfind("train 1/3     2/20 loss 0.5000 acc  9.50% ", 0), 0u) << text;
  EXPECT_NE(text.find("train 1/3    20/20 loss 0.5000 acc  9.50% "), std::string::npos) << text;
  EXPECT_NE(text.find(" img/s ETA "), std::string::npos);
  EXPECT_EQ(text.substr(text.size() - 22), "train epoch 1/3: done\n");
  EXPECT_EQ(text.find('\r'), std::string::npos);  // no terminal control in plain mode
}

TEST(ProgressBar, OnATerminalTheLineIsRedrawnWithABar) {
  Capture out;
  {
    ProgressBar bar("eps-L2 2/5", 4, out.file, /*tty=*/1);
    bar.update(4, running(0.25, 0.5), 128);  // the last step is always drawn
    bar.finish("summary");
  }
  const auto text = out.text();
  EXPECT_EQ(text.rfind("\r\033[Keps-L2 2/5     4/4 [====================] loss 0.2500 acc 50.00%", 0), 0u) << text;
  EXPECT_NE(text.find("\r\033[Ksummary\n"), std::string::npos) << text;
}

TEST(ProgressBar, DurationsReadAsClockTimes) {
  EXPECT_EQ(format_duration(3723), "1:02:03");
  EXPECT_EQ(format_duration(59.6), "1:00");
  EXPECT_EQ(format_duration(5), "0:05");
  EXPECT_EQ(format_duration(-1), "?");
  EXPECT_EQ(format_duration(NAN), "?");
}
