// Runs the AOC fixed-point kernels (cuda/fixed_point.cuh) on the CPU emulator, through the same
// instantiation choice and launch geometry as the CUDA launcher (kernels::dispatch_fixed_point,
// kernels::fixed_point_blocks, kernels::fixed_point_forward_noisy). Kernels: fixed_point_forward, fixed_point_adjoint.
// args: dtype (0 float32, 1 float64) systems n W_shared b_shared has_clamp clamp_lo clamp_hi tol
// max_iter [noise_std seed] [block_seed]. Arrays in the dtype: W, b, [s0], alpha_start, alpha_end,
// beta, gamma (forward) | state, grad_state, alpha, beta (adjoint); nonlinearity int8 (n,).
// Outputs: state, iterations (int32), residual | u, W_f, iterations, residual.
#include "fixed_point.cuh"

#include "emu_io.h"

namespace {

using quaton::kernels::kFpThreads;

template <typename T, int TPS, int R>
struct EmuForward {
  static int run(const quaton::FixedPointCudaParams& p, const qf_emu::LaunchOptions* opt) {
    const dim3 grid(quaton::kernels::fixed_point_blocks(p.systems, TPS));
    if (quaton::kernels::fixed_point_forward_noisy(p))
      qf_emu::launch(grid, dim3(kFpThreads), 0,
                     [&] { quaton::kernels::fixed_point_forward_kernel<T, TPS, R, true>(p); }, *opt);
    else
      qf_emu::launch(grid, dim3(kFpThreads), 0,
                     [&] { quaton::kernels::fixed_point_forward_kernel<T, TPS, R, false>(p); }, *opt);
    return 0;
  }
};

template <typename T, int TPS, int R>
struct EmuAdjoint {
  static int run(const quaton::FixedPointAdjointCudaParams& p, const qf_emu::LaunchOptions* opt) {
    qf_emu::launch(dim3(quaton::kernels::fixed_point_blocks(p.systems, TPS)), dim3(kFpThreads), 0,
                   [&] { quaton::kernels::fixed_point_adjoint_kernel<T, TPS, R>(p); }, *opt);
    return 0;
  }
};

// The fields the forward and adjoint parameter structs share.
template <typename T, class Params>
void set_common(Params& p, const emu_io::Args& a, const std::vector<T>& W, const std::vector<T>& b,
                const std::vector<std::int8_t>& code, std::vector<std::int32_t>& iterations,
                std::vector<T>& residual) {
  p.dtype = std::is_same<T, float>::value ? quaton::kFpFloat32 : quaton::kFpFloat64;
  p.systems = a.i("systems");
  p.n = static_cast<int>(a.i("n"));
  p.W = W.data();
  p.W_shared = a.i("W_shared") != 0;
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
  const auto W = a.array<T>("W", (W_shared ? 1 : S) * n * n);
  const auto b = a.array<T>("b", (b_shared ? 1 : S) * n);
  const auto code = a.array<std::int8_t>("nonlinearity", n);
  qf_emu::LaunchOptions opt;
  opt.seed = static_cast<std::uint64_t>(a.i("block_seed", 0));
  auto iterations = emu_io::poisoned<std::int32_t>(S);
  auto residual = emu_io::poisoned<T>(S);

  if (kernel == "fixed_point_forward") {
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
    p.noise_std = a.d("noise_std", 0.0);
    p.seed = a.has("seed") ? a.u64("seed") : 0;
    p.state = state.data();
    const int rc = quaton::kernels::dispatch_fixed_point<quaton::FixedPointCudaParams, EmuForward>(p, &opt);
    if (rc != 0) throw std::runtime_error("dispatch_fixed_point refused the parameters (" + std::to_string(rc) + ")");
    a.write("state", state);
    a.write("iterations", iterations);
    a.write("residual", residual);
    return 0;
  }
  if (kernel == "fixed_point_adjoint") {
    const auto state = a.array<T>("state", S * n), grad_state = a.array<T>("grad_state", S * n);
    const auto alpha = a.array<T>("alpha", S), beta = a.array<T>("beta", S);
    auto u = emu_io::poisoned<T>(S * n), W_f = emu_io::poisoned<T>(S * n);
    quaton::FixedPointAdjointCudaParams p;
    set_common<T>(p, a, W, b, code, iterations, residual);
    p.state = state.data();
    p.grad_state = grad_state.data();
    p.alpha = alpha.data();
    p.beta = beta.data();
    p.u = u.data();
    p.W_f = W_f.data();
    const int rc = quaton::kernels::dispatch_fixed_point<quaton::FixedPointAdjointCudaParams, EmuAdjoint>(p, &opt);
    if (rc != 0) throw std::runtime_error("dispatch_fixed_point refused the parameters (" + std::to_string(rc) + ")");
    a.write("u", u);
    a.write("W_f", W_f);
    a.write("iterations", iterations);
    a.write("residual", residual);
    return 0;
  }
  throw std::runtime_error("unknown kernel '" + kernel + "'");
}

int run(const std::string& kernel, const emu_io::Args& a) {
  return a.i("dtype") == 0 ? run_typed<float>(kernel, a) : run_typed<double>(kernel, a);
}

}  // namespace

EMU_DRIVER_MAIN(run)
