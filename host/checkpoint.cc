// Checkpoint bytes: magic, format version, CRC-32 (zlib) of everything after it, then epoch,
// step, model key, trial key, array shape and the float values. Hosts are little-endian (x86-64,
// ARM64), so the values are written as they lie in memory.
#include "checkpoint.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <limits>

#include <fmt/format.h>

namespace cusweep {
namespace {

constexpr char kMagic[8] = {'c', 'u', 's', 'w', 'c', 'k', 'p', 't'};
constexpr uint32_t kFormat = 2;  // 1 had no trial key
constexpr size_t kCrcOffset = sizeof(kMagic) + sizeof(uint32_t);
constexpr size_t kMaxModelKey = 4096;
constexpr size_t kMaxTrialKey = 1 << 20;
constexpr int32_t kMaxArrays = 8;  // parameters and optimizer state: 3 today

template <class T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof(v));
}

// Reads values from the bytes in order; CheckpointError when they end early.
class Reader {
 public:
  explicit Reader(const std::string& bytes) : bytes_(bytes) {}
  template <class T>
  T get(const char* what) {
    T v;
    need(sizeof(v), what);
    std::memcpy(&v, bytes_.data() + at_, sizeof(v));
    at_ += sizeof(v);
    return v;
  }
  std::string text(size_t n, const char* what) {
    need(n, what);
    std::string s = bytes_.substr(at_, n);
    at_ += n;
    return s;
  }
  void floats(float* out, size_t n) {
    need(n * sizeof(float), "values");
    std::memcpy(out, bytes_.data() + at_, n * sizeof(float));
    at_ += n * sizeof(float);
  }
  size_t left() const { return bytes_.size() - at_; }

 private:
  void need(size_t n, const char* what) {
    if (left() < n) {
      throw CheckpointError(fmt::format("checkpoint ends at byte {} in its {} ({} bytes in all)",
                                        at_, what, bytes_.size()));
    }
  }
  const std::string& bytes_;
  size_t at_ = 0;
};

uint32_t crc_of(const std::string& bytes, size_t from) {
  uLong crc = crc32(0L, Z_NULL, 0);
  const auto* p = reinterpret_cast<const Bytef*>(bytes.data() + from);
  size_t n = bytes.size() - from;
  while (n > 0) {  // crc32 takes a uInt length
    const uInt chunk = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    crc = crc32(crc, p, chunk);
    p += chunk;
    n -= chunk;
  }
  return static_cast<uint32_t>(crc);
}

}  // namespace

std::string encode_checkpoint(const CheckpointState& s) {
  if (s.values.size() != static_cast<size_t>(s.arrays) * static_cast<size_t>(s.param_count)) {
    throw std::invalid_argument("encode_checkpoint: values are not arrays x param_count");
  }
  std::string out(kMagic, sizeof(kMagic));
  put<uint32_t>(out, kFormat);
  put<uint32_t>(out, 0);  // the CRC, filled in last
  put<int64_t>(out, s.epoch);
  put<int64_t>(out, s.step);
  put<uint32_t>(out, static_cast<uint32_t>(s.model.size()));
  out += s.model;
  put<uint32_t>(out, static_cast<uint32_t>(s.trial.size()));
  out += s.trial;
  put<int64_t>(out, s.param_count);
  put<int32_t>(out, s.arrays);
  out.append(reinterpret_cast<const char*>(s.values.data()), s.values.size() * sizeof(float));
  const uint32_t crc = crc_of(out, kCrcOffset + sizeof(uint32_t));
  std::memcpy(&out[kCrcOffset], &crc, sizeof(crc));
  return out;
}

CheckpointState decode_checkpoint(const std::string& bytes) {
  Reader in(bytes);
  if (in.text(sizeof(kMagic), "header") != std::string(kMagic, sizeof(kMagic))) {
    throw CheckpointError("not a cusweep checkpoint (its first bytes differ)");
  }
  const uint32_t format = in.get<uint32_t>("header");
  if (format != kFormat) {
    throw CheckpointError(
        fmt::format("checkpoint format {}; this cusweep reads format {}", format, kFormat));
  }
  const uint32_t crc = in.get<uint32_t>("header");
  if (crc != crc_of(bytes, kCrcOffset + sizeof(uint32_t))) {
    throw CheckpointError("checkpoint damaged: its CRC-32 does not match its bytes");
  }
  CheckpointState s;
  const int64_t epoch = in.get<int64_t>("header");
  s.step = in.get<int64_t>("header");
  const uint32_t key = in.get<uint32_t>("header");
  if (key > kMaxModelKey) throw CheckpointError("checkpoint damaged: model key too long");
  s.model = in.text(key, "model key");
  const uint32_t trial = in.get<uint32_t>("header");
  if (trial > kMaxTrialKey) throw CheckpointError("checkpoint damaged: trial key too long");
  s.trial = in.text(trial, "trial key");
  s.param_count = in.get<int64_t>("header");
  s.arrays = in.get<int32_t>("header");
  // param_count is bounded by the bytes first, so that the product of damaged counts cannot
  // wrap around to the right size.
  const size_t floats = in.left() / sizeof(float);
  const bool shape_fits = in.left() % sizeof(float) == 0 && s.arrays >= 0 &&
                          s.arrays <= kMaxArrays && s.param_count >= 0 &&
                          static_cast<uint64_t>(s.param_count) <= floats &&
                          static_cast<uint64_t>(s.arrays) * s.param_count == floats;
  if (epoch < 1 || epoch > std::numeric_limits<int>::max() || s.step < 0 || !shape_fits) {
    throw CheckpointError(fmt::format(
        "checkpoint damaged: epoch {}, step {}, {} arrays of {} values in {} bytes of values",
        epoch, s.step, s.arrays, s.param_count, in.left()));
  }
  s.epoch = static_cast<int>(epoch);
  s.values.resize(floats);
  in.floats(s.values.data(), s.values.size());
  return s;
}

}  // namespace cusweep
