// Runs the on-chip diffractive layer (cuda/fused/layer_cluster.cuh) on the CPU emulator with the
// stand-in block FFT (cuda/emu/block_fft.h): one thread-block cluster of C blocks per sample, all
// blocks of a cluster concurrently, distributed shared memory through map_shared_rank.
// Kernel: layer_cluster. args: batch n p ept fpb cluster [conj_transfer] [block_seed]; (p, ept, fpb)
// must be one of the configurations compiled below. Arrays (complex64): u (B,N,N), transfer_t (P,P),
// [modulation_in] (N,N), [modulation_out] (N,N), [saved_u] (B,N,N); args want_dphi.
// Outputs: out (B,N,N) complex64, [dphi] (N,N) float32 (summed over the batch).
#include "emu/block_fft.h"
#include "fused/layer_cluster.cuh"

#include "emu_io.h"

namespace {

using qf_emu::FftDirection;
using qf_emu::StandInBlockFFT;

template <unsigned P, unsigned E, unsigned FPB>
int run_config(const emu_io::Args& a) {
  using Row = StandInBlockFFT<P, FftDirection::forward, E, FPB>;
  using RowInv = StandInBlockFFT<P, FftDirection::inverse, E, FPB>;
  using Geo = quaton::kernels::LayerClusterGeometry<P, Row, RowInv, Row, RowInv>;
  const std::int64_t B = a.i("batch");
  const int n = static_cast<int>(a.i("n"));
  const unsigned C = static_cast<unsigned>(a.i("cluster"));
  if (n < 1 || n > static_cast<int>(P)) throw std::runtime_error("n must be in [1, P]");
  const std::size_t field = static_cast<std::size_t>(B) * n * n;
  const auto u = a.array<float2>("u", field);
  const auto transfer_t = a.array<float2>("transfer_t", static_cast<std::size_t>(P) * P);
  std::vector<float2> m_in, m_out, saved_u;
  if (a.has_array("modulation_in")) m_in = a.array<float2>("modulation_in", static_cast<std::size_t>(n) * n);
  if (a.has_array("modulation_out")) m_out = a.array<float2>("modulation_out", static_cast<std::size_t>(n) * n);
  if (a.has_array("saved_u")) saved_u = a.array<float2>("saved_u", field);
  const bool want_dphi = a.i("want_dphi", 0) != 0;
  auto out = emu_io::poisoned<float2>(field);
  std::vector<float> dphi;
  if (want_dphi) dphi.assign(static_cast<std::size_t>(n) * n, 0.f);  // the kernel accumulates into it

  quaton::kernels::LayerClusterParams p;
  p.batch = B;
  p.n = n;
  p.u = u.data();
  p.modulation_in = m_in.empty() ? nullptr : m_in.data();
  p.transfer_t = transfer_t.data();
  p.conj_transfer = a.i("conj_transfer", 0) != 0;
  p.modulation_out = m_out.empty() ? nullptr : m_out.data();
  p.saved_u = saved_u.empty() ? nullptr : saved_u.data();
  p.dphi = want_dphi ? dphi.data() : nullptr;
  p.out = out.data();
  qf_emu::LaunchOptions opt;
  opt.seed = static_cast<std::uint64_t>(a.i("block_seed", 0));
  opt.cluster = Geo::cluster_dims(C);
  if (B > 0)
    qf_emu::launch(Geo::grid(B, C), Row::block_dim, Geo::smem(n, C),
                   [&] { quaton::kernels::layer_cluster_kernel<P, Row, RowInv, Row, RowInv>(p); }, opt);
  a.write("out", out);
  if (want_dphi) a.write("dphi", dphi);
  return 0;
}

// (P, elements per thread, FFTs per block): slots beyond P (24 = 5 x 5 - 1), a partial last step
// of rows and columns, power-of-two and direct-DFT stand-ins.
#define EMU_LAYER_CONFIGS(X) X(16, 4, 2) X(24, 5, 2) X(32, 4, 3) X(64, 8, 2)

int run(const std::string& kernel, const emu_io::Args& a) {
  if (kernel != "layer_cluster") throw std::runtime_error("unknown kernel '" + kernel + "'");
  const long long P = a.i("p"), E = a.i("ept"), F = a.i("fpb");
#define EMU_LAYER_CASE(p_, e_, f_) \
  if (P == p_ && E == e_ && F == f_) return run_config<p_, e_, f_>(a);
  EMU_LAYER_CONFIGS(EMU_LAYER_CASE)
#undef EMU_LAYER_CASE
  throw std::runtime_error("configuration (p, ept, fpb) = (" + std::to_string(P) + ", " + std::to_string(E) + ", " +
                           std::to_string(F) + ") is not compiled into this driver");
}

}  // namespace

EMU_DRIVER_MAIN(run)
