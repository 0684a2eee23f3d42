// Quoting of untrusted text in the readers' error messages.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace shannon::io::detail {

inline constexpr std::size_t kMaxShownChars = 40;

/// `s` in single quotes, with non-printable bytes as \xHH and long text cut short.
inline std::string quoted(std::string_view s) {
  std::string out = "'";
  for (std::size_t i = 0; i < s.size() && i < kMaxShownChars; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  if (s.size() > kMaxShownChars) out += "...";
  return out + "'";
}

}  // namespace shannon::io::detail
