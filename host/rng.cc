// Rng: xoshiro256** (Blackman & Vigna, 2018) seeded through splitmix64, written out in full so
// every compiler and standard library produces the same sequence for the same seed.
#include <cmath>
#include <stdexcept>

#include "cusweep/search_space.h"

namespace cusweep {
namespace {

constexpr uint64_t kGoldenGamma = 0x9e3779b97f4a7c15ULL;  // splitmix64's increment, 2^64 / phi

// splitmix64's output function: a bijection on 64-bit words with strong avalanche, so
// consecutive inputs (seeds 0, 1, 2, ...) give unrelated outputs.
uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t splitmix_next(uint64_t& state) {
  state += kGoldenGamma;
  return mix64(state);
}

uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

void seed_state(uint64_t splitmix_state, uint64_t (&s)[4]) {
  for (auto& word : s)
    word = splitmix_next(splitmix_state);
  // xoshiro's only bad state is all zeros; splitmix64 never yields four zero words in a row,
  // but the check costs nothing and keeps the generator correct by construction.
  if ((s[0] | s[1] | s[2] | s[3]) == 0) s[0] = kGoldenGamma;
}

}  // namespace

Rng::Rng(uint64_t seed) {
  seed_state(seed, s_);
}

// The stream is folded into the seed through a second round of mixing: for a fixed seed,
// distinct streams give distinct splitmix starting points (mix64 is a bijection), and those
// points are scattered over 2^64, so the four-word runs drawn from them do not overlap.
Rng::Rng(uint64_t seed, uint64_t stream) {
  seed_state(mix64(mix64(seed) + stream), s_);
}

uint64_t Rng::next_u64() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

// The top 53 bits fill a double's mantissa exactly, so every value is a multiple of 2^-53 and
// 1.0 is never produced.
double Rng::uniform() {
  return static_cast<double>(next_u64() >> 11) * 0x1.0p-53;
}

// Rejection sampling: draws below 2^64 mod bound would favour small residues, so they are
// redrawn. Uses only 64-bit arithmetic (Lemire's method needs a 128-bit product, which not
// every compiler provides). Expected draws per call are under 2.
uint64_t Rng::below(uint64_t bound) {
  if (bound == 0) throw std::invalid_argument("Rng::below: bound must be positive");
  const uint64_t threshold = (0 - bound) % bound;  // == 2^64 mod bound
  for (;;) {
    const uint64_t r = next_u64();
    if (r >= threshold) return r % bound;
  }
}

// Box-Muller, keeping only the cosine half: the class carries no cache for the sine half, and
// sampling speed does not matter here. 1 - uniform() lies in (0, 1], so log() is finite.
// The bits depend on the platform's log/cos/sqrt, which agree to within an ulp or so.
double Rng::normal() {
  constexpr double kTwoPi = 6.283185307179586476925286766559;
  const double u1 = 1.0 - uniform();
  const double u2 = uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(kTwoPi * u2);
}

}  // namespace cusweep
