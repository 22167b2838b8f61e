// Runs the PSQ / hard-staircase quantizer kernels (cuda/quantizer.cuh) on the CPU emulator.
// Kernels: psq_forward, psq_backward. Arrays (float32): latent, thresholds, steps, [sharpness]
// (1 value: k read from device memory), [grad_phase]; outputs phase | grad_latent, grad_sharpness.
// args: count num_steps base period sharpness hard [blocks] [seed] [want_grad_latent]
// [want_grad_sharpness]. `blocks` overrides the launcher's grid (fewer blocks exercise the
// grid-stride loop); the block size is the launcher's (kThreadsPerBlock).
#include "quantizer.cuh"

#include "emu_io.h"

namespace {

using quaton::LevelThresholds;

int run(const std::string& kernel, const emu_io::Args& a) {
  const std::int64_t count = a.i("count");
  const int steps_n = static_cast<int>(a.i("num_steps"));
  const auto latent = a.array<float>("latent", count);
  const auto thresholds = a.array<float>("thresholds", steps_n);
  const auto steps = a.array<float>("steps", steps_n);
  std::vector<float> k_device;
  if (a.has_array("sharpness")) k_device = a.array<float>("sharpness", 1);
  LevelThresholds t{thresholds.data(), steps.data(), steps_n, static_cast<float>(a.d("base")),
                    static_cast<float>(a.d("period"))};
  const unsigned blocks = static_cast<unsigned>(a.i("blocks", quaton::blocks_for(count)));
  qf_emu::LaunchOptions opt;
  opt.seed = static_cast<std::uint64_t>(a.i("seed", 0));
  const dim3 block(quaton::kThreadsPerBlock);

  if (kernel == "psq_forward") {
    auto phase = emu_io::poisoned<float>(count);
    quaton::PsqForwardParams p{};
    p.latent = latent.data();
    p.phase = phase.data();
    p.count = count;
    p.table = t;
    p.sharpness = static_cast<float>(a.d("sharpness"));
    p.sharpness_device = k_device.empty() ? nullptr : k_device.data();
    p.hard = static_cast<int>(a.i("hard"));
    if (count) qf_emu::launch(dim3(blocks), block, 0, [&] { quaton::kernels::psq_forward_kernel(p); }, opt);
    a.write("phase", phase);
    return 0;
  }
  if (kernel == "psq_backward") {
    const auto grad_phase = a.array<float>("grad_phase", count);
    auto grad_latent = emu_io::poisoned<float>(count);
    std::vector<float> grad_k(1, 0.f);  // the caller zeroes it (header contract)
    quaton::PsqBackwardParams p{};
    p.latent = latent.data();
    p.grad_phase = grad_phase.data();
    p.grad_latent = a.i("want_grad_latent", 1) ? grad_latent.data() : nullptr;
    p.grad_sharpness = a.i("want_grad_sharpness", 1) ? grad_k.data() : nullptr;
    p.count = count;
    p.table = t;
    p.sharpness = static_cast<float>(a.d("sharpness"));
    p.sharpness_device = k_device.empty() ? nullptr : k_device.data();
    if (count) qf_emu::launch(dim3(blocks), block, 0, [&] { quaton::kernels::psq_backward_kernel(p); }, opt);
    a.write("grad_latent", grad_latent);
    a.write("grad_sharpness", grad_k);
    return 0;
  }
  throw std::runtime_error("unknown kernel '" + kernel + "'");
}

}  // namespace

EMU_DRIVER_MAIN(run)
