// sgemm of one BLAS at the reference workload's training-step shapes: GFLOP/s with `threads`
// threads each running single-threaded GEMMs (the way cusweep runs one trial per thread), and
// the largest error against a double-precision reference. Built once per library
// (CUSWEEP_GEMM_OPENBLAS, CUSWEEP_GEMM_BLIS, CUSWEEP_GEMM_EIGEN), each binary linking only its
// own, since OpenBLAS and BLIS export the same cblas symbols. scripts/bench.sh runs them all.
//   cusweep_blas_<library> [--threads N] [--seconds S] [--json FILE]
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#if defined(CUSWEEP_GEMM_EIGEN)
#define EIGEN_DONT_PARALLELIZE
#include <Eigen/Core>
#else
#include <cblas.h>
#endif
#if defined(CUSWEEP_GEMM_OPENBLAS)
#include "blas_kernels.h"
#endif

namespace {

using Clock = std::chrono::steady_clock;
using Shape = std::array<int, 5>;  // m, n, k, A transposed, B transposed (row-major)

#if defined(CUSWEEP_GEMM_OPENBLAS)
const char* kLibrary = "openblas";
#elif defined(CUSWEEP_GEMM_BLIS)
const char* kLibrary = "blis";
#elif defined(__AVX512F__)
const char* kLibrary = "eigen-avx512";
#else
const char* kLibrary = "eigen-avx2";
#endif

// C = op(A) op(B), row-major, single-threaded.
void gemm(const Shape& s, const float* a, const float* b, float* c) {
  const int m = s[0], n = s[1], k = s[2];
#if defined(CUSWEEP_GEMM_EIGEN)
  using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using Map = Eigen::Map<const Matrix>;
  Eigen::Map<Matrix> out(c, m, n);
  const Map ma(a, s[3] ? k : m, s[3] ? m : k), mb(b, s[4] ? n : k, s[4] ? k : n);
  if (s[3] && s[4]) {
    out.noalias() = ma.transpose() * mb.transpose();
  } else if (s[3]) {
    out.noalias() = ma.transpose() * mb;
  } else if (s[4]) {
    out.noalias() = ma * mb.transpose();
  } else {
    out.noalias() = ma * mb;
  }
#else
  cblas_sgemm(CblasRowMajor, s[3] ? CblasTrans : CblasNoTrans, s[4] ? CblasTrans : CblasNoTrans, m,
              n, k, 1.f, a, s[3] ? m : k, b, s[4] ? k : n, 0.f, c, n);
#endif
}

// The largest |C - reference| relative to sum_k |a_ik b_kj| (the error bound's scale).
double max_relative_error(const Shape& s) {
  const int m = s[0], n = s[1], k = s[2];
  std::mt19937 gen(7);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> a(static_cast<size_t>(m) * k), b(static_cast<size_t>(k) * n),
      c(static_cast<size_t>(m) * n);
  for (float& x : a)
    x = u(gen);
  for (float& x : b)
    x = u(gen);
  gemm(s, a.data(), b.data(), c.data());
  double worst = 0;
  for (int i = 0; i < m; ++i) {
    for (int j = 0; j < n; ++j) {
      double exact = 0, scale = 0;
      for (int p = 0; p < k; ++p) {
        const double x =
            s[3] ? a[static_cast<size_t>(p) * m + i] : a[static_cast<size_t>(i) * k + p];
        const double y =
            s[4] ? b[static_cast<size_t>(j) * k + p] : b[static_cast<size_t>(p) * n + j];
        exact += x * y;
        scale += std::fabs(x * y);
      }
      worst = std::max(worst, std::fabs(c[static_cast<size_t>(i) * n + j] - exact) / scale);
    }
  }
  return worst;
}

double gflops(int threads, const std::vector<Shape>& shapes, double seconds) {
  std::vector<double> rate(static_cast<size_t>(threads), 0);
  const auto run = [&](int t) {
    std::vector<std::vector<float>> a, b, c;
    for (const Shape& s : shapes) {
      a.emplace_back(static_cast<size_t>(s[0]) * s[2], 0.01f);
      b.emplace_back(static_cast<size_t>(s[2]) * s[1], 0.02f);
      c.emplace_back(static_cast<size_t>(s[0]) * s[1], 0.f);
    }
    double flops = 0;
    const auto t0 = Clock::now();
    while (std::chrono::duration<double>(Clock::now() - t0).count() < seconds) {
      for (size_t i = 0; i < shapes.size(); ++i) {
        gemm(shapes[i], a[i].data(), b[i].data(), c[i].data());
        flops += 2.0 * shapes[i][0] * shapes[i][1] * shapes[i][2];
      }
    }
    rate[static_cast<size_t>(t)] = flops / std::chrono::duration<double>(Clock::now() - t0).count();
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back(run, t);
  for (auto& p : pool)
    p.join();
  double total = 0;
  for (double r : rate)
    total += r;
  return total / 1e9;
}

int usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--threads N (1..256)] [--seconds S (0.001..3600)] [--json FILE]\n",
               argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
#if defined(CUSWEEP_GEMM_OPENBLAS)
  cusweep::choose_blas_kernels(argv);  // the kernels cusweep runs, not only those OpenBLAS picks
#endif
  int threads = 2;
  double seconds = 1.0;
  std::string json_path;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) return usage(argv[0]);
    const char* value = argv[++i];
    char* end = nullptr;
    if (arg == "--threads") {
      threads = static_cast<int>(std::strtol(value, &end, 10));
      if (*end != '\0' || threads < 1 || threads > 256) return usage(argv[0]);
    } else if (arg == "--seconds") {
      seconds = std::strtod(value, &end);
      if (*end != '\0' || !(seconds >= 0.001 && seconds <= 3600)) return usage(argv[0]);
    } else if (arg == "--json") {
      json_path = value;
    } else {
      return usage(argv[0]);
    }
  }
#if defined(CUSWEEP_GEMM_OPENBLAS)
  openblas_set_num_threads(1);
#endif
#if defined(CUSWEEP_GEMM_EIGEN)
  // Eigen is compiled for one instruction set; never run it on a CPU without it.
#if defined(__AVX512F__)
  const bool supported = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                         __builtin_cpu_supports("avx512vl");
#else
  const bool supported = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
  if (!supported) {
    std::printf("%-10s skipped: this CPU lacks the instruction set it was compiled for\n",
                kLibrary);
    return 0;
  }
#endif
  // BLIS reads its thread count when first called (the OpenMP build: the OpenMP count too).
  setenv("BLIS_NUM_THREADS", "1", 1);
  setenv("OMP_NUM_THREADS", "1", 1);

  nlohmann::json j = {
      {"library", kLibrary}, {"threads", threads}, {"shapes", nlohmann::json::array()}};
#if defined(CUSWEEP_GEMM_OPENBLAS)
  j["blas"] = openblas_get_config();  // the build and the kernels it picked on this CPU
  j["core"] = openblas_get_corename();
  j["core_chosen_by"] = cusweep::blas_kernel_choice();
#endif
  std::printf("%-10s %-34s %10s %12s\n", "library", "shape", "GFLOP/s", "max rel err");
  // The MLP 784-128-10 training step at each batch size: forward, layer 2 dW and dX, layer 1 dW.
  for (int batch : {32, 64, 128, 256}) {
    const std::vector<Shape> step = {{batch, 128, 784, 0, 0},
                                     {batch, 10, 128, 0, 0},
                                     {128, 10, batch, 1, 0},
                                     {batch, 128, 10, 0, 1},
                                     {784, 128, batch, 1, 0}};
    double error = 0;
    for (const Shape& s : step)
      error = std::max(error, max_relative_error(s));
    const double g = gflops(threads, step, seconds);
    const std::string name = "workload step, batch " + std::to_string(batch);
    std::printf("%-10s %-34s %10.1f %12.1e\n", kLibrary, name.c_str(), g, error);
    j["shapes"].push_back(
        {{"name", "step_b" + std::to_string(batch)}, {"gflops", g}, {"max_relative_error", error}});
    // float accumulation over k <= 784 terms: anything near 1e-4 means a wrong kernel.
    if (!(error < 1e-4)) {
      std::fprintf(stderr, "%s: results differ from the double-precision reference (%.2e)\n",
                   kLibrary, error);
      return 1;
    }
  }
  const double square = gflops(threads, {{1024, 1024, 1024, 0, 0}}, seconds);
  std::printf("%-10s %-34s %10.1f %12s\n", kLibrary, "square 1024", square, "");
  j["shapes"].push_back({{"name", "square_1024"}, {"gflops", square}});
  if (!json_path.empty()) std::ofstream(json_path) << j.dump(2) << "\n";
  return 0;
}
