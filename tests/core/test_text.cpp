// Text helpers: columns padded by characters (UTF-8), first lines of multi-line messages.
#include <gtest/gtest.h>

#include "eshift/core/text.h"

using namespace eshift;

TEST(Text, PadRightCountsUtf8CharactersNotBytes) {
  EXPECT_EQ(utf8_length("norm scale (γ, g)"), 17u);  // γ is two bytes
  EXPECT_EQ(pad_right("σ", 3), "σ  ");
  EXPECT_EQ(pad_right("abc", 3), "abc ");   // a full column still gets one space
  EXPECT_EQ(pad_right("abcd", 3), "abcd ");
}

TEST(Text, FirstLineStopsAtTheFirstNewline) {
  EXPECT_EQ(first_line("bad value\nException raised from …"), "bad value");
  EXPECT_EQ(first_line("one line"), "one line");
  EXPECT_EQ(first_line(""), "");
}
