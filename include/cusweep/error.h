// Two tiers of errors (STYLE.md habit 6).
// UserError: the user's input is wrong (config, data, command line); the CLI prints it and
// exits with status 2. DeviceError: a library or device call failed (cuBLAS, CUDA, BLAS).
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace cusweep {

// `text` with each byte that is not part of well-formed UTF-8, or is a control character other
// than a newline or tab, written as \xNN: a value quoted from a file with stray bytes (a
// Latin-1 CSV, a binary file given as a config) would otherwise reach the terminal raw (a NUL
// would even cut the message short). Every UserError's text goes through it.
std::string escape_ill_formed(const std::string& text);

// A mistake in what the user gave us. `what()` names the file/line/key, the bad value and
// what is allowed; `hint()` (may be empty) says what to do about it.
class UserError : public std::runtime_error {
 public:
  explicit UserError(const std::string& message, const std::string& hint = "")
      : std::runtime_error(escape_ill_formed(message)), hint_(escape_ill_formed(hint)) {}
  const std::string& hint() const { return hint_; }

 private:
  std::string hint_;
};

// A failed status from a device or a library: carries file:line, the call and the status text.
class DeviceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The closest of `candidates` to `word` by edit distance, or "" when none is close enough to
// be a plausible typo. Used for "unknown key 'learning_rte'; did you mean 'learning_rate'?".
std::string closest_match(const std::string& word, const std::vector<std::string>& candidates);

// " did you mean 'x'?" or "" when there is no close candidate.
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace cusweep
