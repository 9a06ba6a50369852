// Spelling suggestions for user errors, and their text made printable.
#include "cusweep/error.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

namespace cusweep {
namespace {

// Edit distance counting a swap of two neighbouring letters as one edit ("trail" for "trial"),
// case-insensitive (optimal string alignment). Inputs are short config keys.
size_t edit_distance(const std::string& a, const std::string& b) {
  const size_t n = a.size(), m = b.size();
  std::vector<std::vector<size_t>> d(n + 1, std::vector<size_t>(m + 1));
  for (size_t i = 0; i <= n; ++i)
    d[i][0] = i;
  for (size_t j = 0; j <= m; ++j)
    d[0][j] = j;
  auto lower = [](char c) { return std::tolower(static_cast<unsigned char>(c)); };
  for (size_t i = 1; i <= n; ++i) {
    for (size_t j = 1; j <= m; ++j) {
      const size_t cost = lower(a[i - 1]) == lower(b[j - 1]) ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
          lower(a[i - 2]) == lower(b[j - 1])) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[n][m];
}

}  // namespace

std::string closest_match(const std::string& word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = std::string::npos;
  for (const auto& candidate : candidates) {
    const size_t d = edit_distance(word, candidate);
    if (d < best_distance) {
      best_distance = d;
      best = candidate;
    }
  }
  // A typo changes a few characters; anything further is a different word.
  const size_t limit = std::max<size_t>(2, word.size() / 3);
  if (best_distance > limit) return "";
  return best;
}

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  const std::string match = closest_match(word, candidates);
  return match.empty() ? "" : " did you mean '" + match + "'?";
}

std::string escape_ill_formed(const std::string& text) {
  std::string out;
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(text[i]); };
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = byte(i);
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xE  ? 3
                 : (c >> 3) == 0x1E ? 4
                                    : 0;
    if (len > 1 && (c == 0xC0 || c == 0xC1 || c > 0xF4)) len = 0;  // overlong or beyond U+10FFFF
    for (size_t k = 1; k < len; ++k) {
      if (i + k >= text.size() || (byte(i + k) & 0xC0) != 0x80) len = 0;
    }
    if (len == 0 || (len == 1 && ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7F))) {
      out += fmt::format("\\x{:02X}", c);
      ++i;
    } else {
      out.append(text, i, len);
      i += len;
    }
  }
  return out;
}

}  // namespace cusweep
