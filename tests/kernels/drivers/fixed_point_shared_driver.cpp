// Runs the shared-W AOC fixed-point kernels (cuda/fixed_point_shared.cuh) on the CPU emulator,
// through the CUDA launcher's instantiation choice and grid (kernels::dispatch_fixed_point_shared,
// kernels::fixed_point_shared_grid, kernels::fixed_point_shared_full). Kernels:
// fixed_point_shared_forward, fixed_point_shared_adjoint.
// args: dtype (0 float32, 1 float64) systems n W_shared W_cells b_shared has_clamp clamp_lo clamp_hi
// tol max_iter [momentum noise_std seed] [block_seed]. Arrays in the dtype: W ((1 or W_cells) x n x n),
// b, [s0], alpha_start, alpha_end, beta, gamma (forward) | state, grad_state, alpha, beta (adjoint);
// nonlinearity int8 (n,). Outputs: state, iterations (int32), residual | u, W_f, iterations,
// residual, grad_alpha, grad_beta, grad_W (cells x n x n: the per-block partials summed over the
// tiles in order, as the caller does) and tiles (int32, 1).
#include "fixed_point_shared.cuh"

#include "emu_io.h"

namespace {

namespace k = quaton::kernels;

template <typename T, int NP, int RM>
struct EmuSharedForward {
  static int run(const quaton::FixedPointCudaParams& p, const qf_emu::LaunchOptions* opt) {
    using G = k::SwGeometry<T, NP, RM>;
    const dim3 grid = k::fixed_point_shared_grid<T, NP, RM>(p.systems, k::fixed_point_shared_cells(p.W_shared, p.W_cells));
    if (k::fixed_point_shared_full(p))
      qf_emu::launch(grid, dim3(G::kThreads), 0, [&] { k::fixed_point_shared_forward_kernel<T, NP, RM, true>(p); }, *opt);
    else
      qf_emu::launch(grid, dim3(G::kThreads), 0, [&] { k::fixed_point_shared_forward_kernel<T, NP, RM, false>(p); }, *opt);
    return 0;
  }
};

template <typename T, int NP, int RM>
struct EmuSharedAdjoint {
  static int run(const quaton::FixedPointAdjointCudaParams& p, const qf_emu::LaunchOptions* opt) {
    using G = k::SwGeometry<T, NP, RM>;
    const dim3 grid = k::fixed_point_shared_grid<T, NP, RM>(p.systems, k::fixed_point_shared_cells(p.W_shared, p.W_cells));
    qf_emu::launch(grid, dim3(G::kThreads), 0, [&] { k::fixed_point_shared_adjoint_kernel<T, NP, RM>(p); }, *opt);
    return 0;
  }
};

template <typename T, class Params>
void set_common(Params& p, const emu_io::Args& a, const std::vector<T>& W, const std::vector<T>& b,
                const std::vector<std::int8_t>& code, std::vector<std::int32_t>& iterations,
                std::vector<T>& residual) {
  p.dtype = std::is_same<T, float>::value ? quaton::kFpFloat32 : quaton::kFpFloat64;
  p.systems = a.i("systems");
  p.n = static_cast<int>(a.i("n"));
  p.W = W.data();
  p.W_shared = a.i("W_shared") != 0;
  p.W_cells = static_cast<int>(a.i("W_cells", 0));
  p.b = b.data();
  p.b_shared = a.i("b_shared") != 0;
  p.nonlinearity = code.data();
  p.has_clamp = static_cast<int>(a.i("has_clamp"));
  p.clamp_lo = a.d("clamp_lo");
  p.clamp_hi = a.d("clamp_hi");
  p.tol = a.d("tol");
  p.max_iter = static_cast<int>(a.i("max_iter"));
  p.iterations = iterations.data();
  p.residual = residual.data();
}

template <typename T>
int run_typed(const std::string& kernel, const emu_io::Args& a) {
  const std::int64_t S = a.i("systems");
  const int n = static_cast<int>(a.i("n"));
  const bool W_shared = a.i("W_shared") != 0, b_shared = a.i("b_shared") != 0;
  const int cells = k::fixed_point_shared_cells(W_shared, static_cast<int>(a.i("W_cells", 0)));
  const auto W = a.array<T>("W", static_cast<std::size_t>(cells) * n * n);
  const auto b = a.array<T>("b", (b_shared ? 1 : S) * n);
  const auto code = a.array<std::int8_t>("nonlinearity", n);
  qf_emu::LaunchOptions opt;
  opt.seed = static_cast<std::uint64_t>(a.i("block_seed", 0));
  auto iterations = emu_io::poisoned<std::int32_t>(S);
  auto residual = emu_io::poisoned<T>(S);

  if (kernel == "fixed_point_shared_forward") {
    std::vector<T> s0;
    if (a.has_array("s0")) s0 = a.array<T>("s0", S * n);
    const auto alpha_start = a.array<T>("alpha_start", S), alpha_end = a.array<T>("alpha_end", S);
    const auto beta = a.array<T>("beta", S), gamma = a.array<T>("gamma", S);
    auto state = emu_io::poisoned<T>(S * n);
    quaton::FixedPointCudaParams p;
    set_common<T>(p, a, W, b, code, iterations, residual);
    p.s0 = s0.empty() ? nullptr : s0.data();
    p.alpha_start = alpha_start.data();
    p.alpha_end = alpha_end.data();
    p.beta = beta.data();
    p.gamma = gamma.data();
    p.momentum = static_cast<int>(a.i("momentum", 1));
    p.noise_std = a.d("noise_std", 0.0);
    p.seed = a.has("seed") ? a.u64("seed") : 0;
    p.state = state.data();
    const int rc = k::dispatch_fixed_point_shared<quaton::FixedPointCudaParams, EmuSharedForward>(p, &opt);
    if (rc != 0) throw std::runtime_error("dispatch_fixed_point_shared refused the parameters (" + std::to_string(rc) + ")");
    a.write("state", state);
    a.write("iterations", iterations);
    a.write("residual", residual);
    return 0;
  }
  if (kernel == "fixed_point_shared_adjoint") {
    const auto state = a.array<T>("state", S * n), grad_state = a.array<T>("grad_state", S * n);
    const auto alpha = a.array<T>("alpha", S), beta = a.array<T>("beta", S);
    auto u = emu_io::poisoned<T>(S * n), W_f = emu_io::poisoned<T>(S * n);
    auto grad_alpha = emu_io::poisoned<T>(S), grad_beta = emu_io::poisoned<T>(S);
    quaton::FixedPointAdjointCudaParams p;
    set_common<T>(p, a, W, b, code, iterations, residual);
    const int tiles = k::fixed_point_shared_tiles(p);
    if (tiles < 0) throw std::runtime_error("fixed_point_shared_tiles refused the parameters");
    auto partial = emu_io::poisoned<T>(static_cast<std::size_t>(cells) * tiles * n * n);
    p.state = state.data();
    p.grad_state = grad_state.data();
    p.alpha = alpha.data();
    p.beta = beta.data();
    p.u = u.data();
    p.W_f = W_f.data();
    p.grad_alpha = grad_alpha.data();
    p.grad_beta = grad_beta.data();
    p.grad_W_partial = partial.data();
    const int rc = k::dispatch_fixed_point_shared<quaton::FixedPointAdjointCudaParams, EmuSharedAdjoint>(p, &opt);
    if (rc != 0) throw std::runtime_error("dispatch_fixed_point_shared refused the parameters (" + std::to_string(rc) + ")");
    std::vector<T> grad_W(static_cast<std::size_t>(cells) * n * n, T(0));
    for (int c = 0; c < cells; ++c)
      for (int tile = 0; tile < tiles; ++tile)
        for (int e = 0; e < n * n; ++e)
          grad_W[static_cast<std::size_t>(c) * n * n + e] += partial[(static_cast<std::size_t>(c) * tiles + tile) * n * n + e];
    a.write("u", u);
    a.write("W_f", W_f);
    a.write("iterations", iterations);
    a.write("residual", residual);
    a.write("grad_alpha", grad_alpha);
    a.write("grad_beta", grad_beta);
    a.write("grad_W", grad_W);
    a.write("tiles", std::vector<std::int32_t>{tiles});
    return 0;
  }
  throw std::runtime_error("unknown kernel '" + kernel + "'");
}

int run(const std::string& kernel, const emu_io::Args& a) {
  return a.i("dtype") == 0 ? run_typed<float>(kernel, a) : run_typed<double>(kernel, a);
}

}  // namespace

EMU_DRIVER_MAIN(run)
