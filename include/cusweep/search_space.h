// Search spaces: parameter distributions (uniform, loguniform, randint, choice, quantized
// variants, grid) and deterministic sampling: trial i's values depend only on (seed, i).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cusweep {

enum class ParamKind {
  kUniform,      // {"type":"uniform","low":a,"high":b}
  kQUniform,     // + "q": round(x / q) * q
  kLogUniform,   // {"type":"loguniform","low":a>0,"high":b}
  kQLogUniform,  // + "q"
  kRandInt,      // {"type":"randint","low":a,"high":b}  integer in [low, high) (Ray's convention)
  kQRandInt,     // + "q": multiples of q in [low, high], high INCLUDED (Ray's qrandint)
  kChoice,       // {"type":"choice","values":[...]} any JSON values, uniform pick
  kGrid,         // {"type":"grid","values":[...]} every value, cartesian product across grids
};

struct ParamSpec {
  std::string name;
  ParamKind kind = ParamKind::kUniform;
  double low = 0, high = 0, q = 0;
  std::vector<nlohmann::json> values;  // choice / grid
  // Conditional parameter ("when": {"optim": "sgd"} or {"optim": ["sgd", ...]}): it exists only
  // in trials whose `when_param` took one of `when_values`; otherwise it is not emitted at all.
  std::string when_param;
  std::vector<nlohmann::json> when_values;
};

class SearchSpace {
 public:
  // `allowed` lists the parameter names that may be searched; an unknown name is a UserError
  // naming "<key_path>.<name>" with a did-you-mean suggestion. Every spec key is validated.
  static SearchSpace parse(const nlohmann::json& j, const std::vector<std::string>& allowed,
                           const std::string& key_path = "search_space");

  // The values of trial `index` of a sweep with `seed`: an object {name: value}. Grid
  // parameters cycle through their cartesian product (trial i takes combination i % size,
  // the first grid parameter varying slowest); the others are drawn from a generator seeded
  // by (seed, index) alone, so the result never depends on timing or concurrency.
  nlohmann::json sample(uint64_t seed, uint64_t index) const;

  // Like sample(), but the non-grid parameters come from a Halton sequence (one prime base per
  // parameter, in params() order) shifted by a random offset per parameter drawn from `seed`
  // (a Cranley-Patterson rotation): low-discrepancy points that still differ between seeds.
  nlohmann::json sample_quasi(uint64_t seed, uint64_t index) const;

  // Removes the conditional parameters whose condition `values` does not meet (conditions on
  // removed parameters fail too). sample() and sample_quasi() apply it; samplers that build
  // values themselves call it.
  void drop_inactive(nlohmann::json& values) const;

  // Number of grid combinations (1 when there is no grid parameter).
  uint64_t grid_size() const;

  const std::vector<ParamSpec>& params() const { return params_; }
  bool empty() const { return params_.empty(); }

 private:
  std::vector<ParamSpec> params_;  // in the config's key order
};

// True when `v` is one of the values `p` can produce: in [low, high] for a continuous
// parameter, else a value a draw can equal (JSON equality, numbers by value).
bool in_domain(const ParamSpec& p, const nlohmann::json& v);

// True when `p` exists in a trial with `values`: it has no condition, or its `when_param` took
// one of its `when_values`.
bool condition_holds(const ParamSpec& p, const nlohmann::json& values);
// "its values: 32, 64" or "it is drawn from [0.001, 0.1]", for messages.
std::string describe_domain(const ParamSpec& p);

// A small portable PRNG (splitmix64 seeding + xoshiro256**), identical on every platform, so
// samples and shuffles are reproducible across compilers and standard libraries.
class Rng {
 public:
  explicit Rng(uint64_t seed);
  Rng(uint64_t seed, uint64_t stream);  // independent stream for (seed, stream)
  uint64_t next_u64();
  double uniform();                // [0, 1)
  uint64_t below(uint64_t bound);  // [0, bound), unbiased
  double normal();                 // standard normal

 private:
  uint64_t s_[4];
};

}  // namespace cusweep
