// Samplers: where the next trial's configuration comes from. Random search draws each trial
// from (seed, index) alone. TPE (tree-structured Parzen estimator; Bergstra et al., NeurIPS 2011,
// as Optuna's default sampler) models the good and the bad finished trials per parameter and
// proposes the candidate that maximizes l(x) / g(x). With several objectives it is the
// multi-objective TPE (Ozaki et al., GECCO 2020): "good" are the trials of the best
// non-domination ranks, the last rank taken cut by crowding distance.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cusweep/search_space.h"

namespace cusweep {

struct SamplerConfig {
  std::string type = "random";  // random | halton | tpe
  int n_startup_trials = 10;    // tpe: random trials before the model is used
  int n_ei_candidates = 24;     // tpe: candidates drawn from l(x) per parameter
};

// Parses `sampler` (a type name or an object); errors name "sampler.<key>".
SamplerConfig parse_sampler_config(const nlohmann::json& j);

// A finished trial as a sampler sees it: its values and its objectives, each oriented so that
// lower is better. `failed` trials (errors, pruned) count as bad, without values.
struct Observation {
  nlohmann::json params;
  std::vector<double> loss;  // one per objective
  bool failed = false;
};

class Sampler {
 public:
  virtual ~Sampler() = default;
  // True when suggestions depend on finished trials (then trial i is suggested after trials
  // 0..i-1 were suggested and trials 0..i-slots finished, so results do not depend on timing).
  virtual bool uses_history() const = 0;
  // The values of trial `index`, from the finished trials and the points of those running.
  virtual nlohmann::json suggest(uint64_t index, const std::vector<Observation>& finished,
                                 const std::vector<nlohmann::json>& running) = 0;
};

std::unique_ptr<Sampler> make_sampler(const SamplerConfig& config, const SearchSpace& space,
                                      uint64_t seed);

}  // namespace cusweep
