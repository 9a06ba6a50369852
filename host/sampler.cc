// Random search and TPE. The TPE here is univariate, as Optuna's default: each parameter gets
// its own pair of Parzen estimators over the finished trials split at the gamma quantile.
#include "cusweep/sampler.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include <fmt/format.h>

#include "cusweep/error.h"
#include "cusweep/objective.h"
#include "json_util.h"

namespace cusweep {
namespace {

using nlohmann::json;

constexpr uint64_t kTpeStream = 0x747065ull << 40;  // "tpe": apart from random search's streams

// Random search and the Halton sequence: trial i's values depend on (seed, i) alone.
class IndexSampler final : public Sampler {
 public:
  IndexSampler(const SearchSpace& space, uint64_t seed, bool quasi)
      : space_(space), seed_(seed), quasi_(quasi) {}
  bool uses_history() const override { return false; }
  json suggest(uint64_t index, const std::vector<Observation>&, const std::vector<json>&) override {
    return quasi_ ? space_.sample_quasi(seed_, index) : space_.sample(seed_, index);
  }

 private:
  const SearchSpace& space_;
  uint64_t seed_;
  bool quasi_;
};

double normal_cdf(double z) {
  return 0.5 * (1 + std::erf(z / std::sqrt(2.0)));
}

// A mixture of normals truncated to [low, high], one per observation plus a wide prior.
struct Parzen {
  std::vector<double> mu, sigma;
  double low = 0, high = 1;

  // Bandwidths as Optuna's: the larger distance to a neighbour (the bounds count as
  // neighbours), clipped to [range / min(100, 1 + n), range].
  static Parzen fit(std::vector<double> points, double low, double high) {
    Parzen p;
    p.low = low;
    p.high = high;
    const double range = high - low;
    points.push_back(0.5 * (low + high));  // the prior's centre
    std::sort(points.begin(), points.end());
    const double min_sigma = range / std::min(100.0, 1.0 + static_cast<double>(points.size()));
    for (size_t i = 0; i < points.size(); ++i) {
      const double left = i == 0 ? points[i] - low : points[i] - points[i - 1];
      const double right = i + 1 == points.size() ? high - points[i] : points[i + 1] - points[i];
      p.mu.push_back(points[i]);
      p.sigma.push_back(std::clamp(std::max(left, right), min_sigma, range));
    }
    // The prior component is as wide as the domain.
    const auto centre = std::find(p.mu.begin(), p.mu.end(), 0.5 * (low + high));
    p.sigma[static_cast<size_t>(centre - p.mu.begin())] = range;
    return p;
  }

  double sample(Rng& rng) const {
    const size_t k = rng.below(mu.size());
    for (int attempt = 0; attempt < 100; ++attempt) {
      const double x = mu[k] + sigma[k] * rng.normal();
      if (x >= low && x <= high) return x;
    }
    return std::clamp(mu[k], low, high);
  }

  double log_pdf(double x) const {
    double sum = 0;
    for (size_t k = 0; k < mu.size(); ++k) {
      const double z = (x - mu[k]) / sigma[k];
      const double mass =
          normal_cdf((high - mu[k]) / sigma[k]) - normal_cdf((low - mu[k]) / sigma[k]);
      sum += std::exp(-0.5 * z * z) / (sigma[k] * std::sqrt(2 * M_PI) * std::max(mass, 1e-12));
    }
    return std::log(sum / static_cast<double>(mu.size()) + 1e-300);
  }
};

class TpeSampler final : public Sampler {
 public:
  TpeSampler(const SamplerConfig& c, const SearchSpace& space, uint64_t seed)
      : config_(c), space_(space), seed_(seed) {}

  bool uses_history() const override { return true; }

  json suggest(uint64_t index, const std::vector<Observation>& finished,
               const std::vector<json>& running) override {
    json out = space_.sample(seed_, index);  // grid values, and the start-up trials
    if (finished.size() < static_cast<size_t>(config_.n_startup_trials)) return out;

    // Split: the best gamma(n) = min(ceil(0.1 n), 25) are "good" (Optuna's default gamma);
    // the rest, failed trials, and the trials still running (a constant liar that keeps
    // concurrent suggestions apart) are "bad".
    std::vector<const Observation*> ok;
    for (const Observation& o : finished) {
      if (usable(o)) ok.push_back(&o);
    }
    const size_t n_good = std::min<size_t>(
        ok.size(), std::min<size_t>(25, static_cast<size_t>(std::ceil(0.1 * finished.size()))));
    best_first(ok, n_good);
    std::vector<const json*> good, bad;
    for (size_t i = 0; i < ok.size(); ++i)
      (i < n_good ? good : bad).push_back(&ok[i]->params);
    for (const Observation& o : finished) {
      if (!usable(o)) bad.push_back(&o.params);
    }
    for (const json& r : running)
      bad.push_back(&r);
    if (good.empty()) return out;

    Rng rng(seed_ ^ kTpeStream, index);
    for (const ParamSpec& p : space_.params()) {
      if (p.kind == ParamKind::kGrid) continue;  // grids are enumerated, not searched
      out[p.name] = p.kind == ParamKind::kChoice ? suggest_choice(p, good, bad, rng)
                                                 : suggest_number(p, good, bad, rng);
    }
    space_.drop_inactive(out);
    return out;
  }

 private:
  static bool usable(const Observation& o) {
    return !o.failed && !o.loss.empty() &&
           std::all_of(o.loss.begin(), o.loss.end(), [](double v) { return std::isfinite(v); });
  }

  // Orders the trials best first, at least the first `needed` exactly: by loss with one
  // objective; with several, by non-domination rank, and within a rank by crowding distance
  // (most isolated first: they spread the good set along the front), then by trial order.
  static void best_first(std::vector<const Observation*>& ok, size_t needed) {
    if (ok.empty()) return;
    if (ok.front()->loss.size() == 1) {
      std::stable_sort(ok.begin(), ok.end(), [](const Observation* a, const Observation* b) {
        return a->loss[0] < b->loss[0];
      });
      return;
    }
    std::vector<std::vector<double>> points;
    for (const Observation* o : ok)
      points.push_back(o->loss);
    const std::vector<int> rank = nondomination_ranks(points, needed);
    std::vector<size_t> order(ok.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return rank[a] < rank[b]; });
    if (needed > 0 && needed < ok.size()) {
      // Only the rank the good set ends in is cut: its trials, most isolated first.
      const int cut = rank[order[needed - 1]];
      const auto first =
          std::find_if(order.begin(), order.end(), [&](size_t i) { return rank[i] == cut; });
      const auto last = std::find_if(first, order.end(), [&](size_t i) { return rank[i] != cut; });
      std::vector<std::vector<double>> front;
      for (auto it = first; it != last; ++it)
        front.push_back(points[*it]);
      const std::vector<double> d = crowding_distances(front);
      std::vector<double> crowding(ok.size());
      for (auto it = first; it != last; ++it)
        crowding[*it] = d[static_cast<size_t>(it - first)];
      std::stable_sort(first, last, [&](size_t a, size_t b) { return crowding[a] > crowding[b]; });
    }
    std::vector<const Observation*> sorted;
    for (size_t i : order)
      sorted.push_back(ok[i]);
    ok = std::move(sorted);
  }

  static bool is_log(const ParamSpec& p) {
    return p.kind == ParamKind::kLogUniform || p.kind == ParamKind::kQLogUniform;
  }

  static std::vector<double> points(const ParamSpec& p, const std::vector<const json*>& trials) {
    std::vector<double> v;
    for (const json* t : trials) {
      if (!t->contains(p.name) || !(*t)[p.name].is_number()) continue;
      const double x = (*t)[p.name].get<double>();
      v.push_back(is_log(p) ? std::log(x) : x);
    }
    return v;
  }

  json suggest_number(const ParamSpec& p, const std::vector<const json*>& good,
                      const std::vector<const json*>& bad, Rng& rng) const {
    const bool integer = p.kind == ParamKind::kRandInt || p.kind == ParamKind::kQRandInt;
    // Integers live on [low - 0.5, high + 0.5) so every value has the same width.
    double low = is_log(p) ? std::log(p.low) : p.low;
    double high = is_log(p) ? std::log(p.high) : p.high;
    if (integer) {
      low -= 0.5;
      high = (p.kind == ParamKind::kRandInt ? p.high - 1 : p.high) + 0.5;
    }
    const Parzen l = Parzen::fit(points(p, good), low, high);
    const Parzen g = Parzen::fit(points(p, bad), low, high);
    double best_x = l.sample(rng), best_score = -1e300;
    for (int c = 0; c < config_.n_ei_candidates; ++c) {
      const double x = c == 0 ? best_x : l.sample(rng);
      const double score = l.log_pdf(x) - g.log_pdf(x);
      if (score > best_score) {
        best_score = score;
        best_x = x;
      }
    }
    double value = is_log(p) ? std::exp(best_x) : best_x;
    if (p.q > 0) value = std::round(value / p.q) * p.q;
    if (integer) {
      const double top = p.kind == ParamKind::kRandInt ? p.high - 1 : p.high;
      return static_cast<int64_t>(std::clamp(std::round(value), p.low, top));
    }
    return std::clamp(value, p.low, p.high);
  }

  // Categories: l and g are smoothed counts (a prior of one observation spread evenly).
  json suggest_choice(const ParamSpec& p, const std::vector<const json*>& good,
                      const std::vector<const json*>& bad, Rng& rng) const {
    const size_t k = p.values.size();
    auto weights = [&](const std::vector<const json*>& trials) {
      std::vector<double> w(k, 1.0 / static_cast<double>(k));
      for (const json* t : trials) {
        if (!t->contains(p.name)) continue;
        for (size_t i = 0; i < k; ++i) {
          if ((*t)[p.name] == p.values[i]) w[i] += 1;
        }
      }
      double sum = 0;
      for (double x : w)
        sum += x;
      for (double& x : w)
        x /= sum;
      return w;
    };
    const std::vector<double> wl = weights(good), wg = weights(bad);
    size_t best = 0;
    double best_score = -1e300;
    for (int c = 0; c < config_.n_ei_candidates; ++c) {
      double u = rng.uniform();
      size_t i = 0;
      while (i + 1 < k && u >= wl[i])
        u -= wl[i++];
      const double score = std::log(wl[i]) - std::log(wg[i]);
      if (score > best_score) {
        best_score = score;
        best = i;
      }
    }
    return p.values[best];
  }

  SamplerConfig config_;
  const SearchSpace& space_;
  uint64_t seed_;
};

}  // namespace

SamplerConfig parse_sampler_config(const json& j) {
  SamplerConfig c;
  if (j.is_null()) return c;
  const json spec = j.is_string() ? json{{"type", j}} : j;
  if (!spec.is_object()) {
    throw UserError(
        fmt::format("sampler must be a type name or an object, got {}", json_excerpt(j)));
  }
  check_known_keys(spec, {"type", "n_startup_trials", "n_ei_candidates"}, "sampler");
  const std::vector<std::string> types = {"random", "halton", "tpe"};
  if (spec.contains("type")) c.type = json_one_of(spec["type"], "sampler.type", types);
  auto count = [&](const char* key, int* out, int min) {
    if (spec.contains(key)) {
      *out = static_cast<int>(json_int_in(spec[key], std::string("sampler.") + key, min, 100000));
    }
  };
  for (const char* key : {"n_startup_trials", "n_ei_candidates"}) {
    if (spec.contains(key) && c.type != "tpe") {
      throw UserError(
          fmt::format("sampler.{} does not apply to type \"{}\" (it is for \"tpe\")", key, c.type),
          fmt::format("remove it, or set \"type\": \"tpe\""));
    }
  }
  count("n_startup_trials", &c.n_startup_trials, 1);
  count("n_ei_candidates", &c.n_ei_candidates, 1);
  return c;
}

std::unique_ptr<Sampler> make_sampler(const SamplerConfig& config, const SearchSpace& space,
                                      uint64_t seed) {
  if (config.type == "tpe") return std::make_unique<TpeSampler>(config, space, seed);
  return std::make_unique<IndexSampler>(space, seed, config.type == "halton");
}

}  // namespace cusweep
