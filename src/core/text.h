#pragma once
// Small text helpers shared by the tables and error messages.
#include <string>

namespace eshift {

// The first line of a message (LibTorch's errors carry a long C++ backtrace after it).
inline std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

// Characters of UTF-8 text (λ, ε, σ, γ count as one each).
inline size_t utf8_length(const std::string& text) {
  size_t chars = 0;
  for (unsigned char c : text) chars += (c & 0xC0) != 0x80;
  return chars;
}

// Left-aligns UTF-8 text in a column of `width` characters (at least one space follows it).
inline std::string pad_right(const std::string& text, size_t width) {
  const size_t chars = utf8_length(text);
  return text + std::string(chars < width ? width - chars : 1, ' ');
}

}  // namespace eshift
