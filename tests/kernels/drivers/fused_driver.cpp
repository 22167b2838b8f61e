// Runs the three fused propagation passes (cuda/fused/propagate_fused.cuh) on the CPU emulator
// with the stand-in block FFT (cuda/emu/block_fft.h), through the launcher's geometry
// (kernels::FusedGeometry). Kernel: fused_propagate (passes 1-3 as fused_propagate_cuda runs them).
// args: batch n p ept fpb [block_seed]: (p, ept, fpb) must be one of the configurations compiled
// below (P; elements per thread; row FFTs per block). Arrays (complex64 as float pairs): u (B,N,N),
// transfer_t (P,P), [modulation_in] (N,N), [modulation_out] (N,N), [saved_u] (B,N,N); args
// want_dphi. Outputs: out (B,N,N) complex64, [dphi] (B,N,N) float32, scratch (B,N,P) complex64.
#include "emu/block_fft.h"
#include "fused/propagate_fused.cuh"

#include "emu_io.h"

namespace {

using qf_emu::FftDirection;
using qf_emu::StandInBlockFFT;
using quaton::kernels::kColumnsPerBlock;

template <unsigned P, unsigned E, unsigned FPB>
int run_config(const emu_io::Args& a) {
  using Row = StandInBlockFFT<P, FftDirection::forward, E, FPB>;
  using RowInv = StandInBlockFFT<P, FftDirection::inverse, E, FPB>;
  using Col = StandInBlockFFT<P, FftDirection::forward, E, kColumnsPerBlock>;
  using ColInv = StandInBlockFFT<P, FftDirection::inverse, E, kColumnsPerBlock>;
  using Geo = quaton::kernels::FusedGeometry<P, Row, Col, ColInv, RowInv>;
  const std::int64_t B = a.i("batch");
  const int n = static_cast<int>(a.i("n"));
  if (n < 1 || n > static_cast<int>(P)) throw std::runtime_error("n must be in [1, P]");
  const std::size_t field = static_cast<std::size_t>(B) * n * n;
  const auto u = a.array<float2>("u", field);
  const auto transfer_t = a.array<float2>("transfer_t", static_cast<std::size_t>(P) * P);
  std::vector<float2> m_in, m_out, saved_u;
  if (a.has_array("modulation_in")) m_in = a.array<float2>("modulation_in", static_cast<std::size_t>(n) * n);
  if (a.has_array("modulation_out")) m_out = a.array<float2>("modulation_out", static_cast<std::size_t>(n) * n);
  if (a.has_array("saved_u")) saved_u = a.array<float2>("saved_u", field);
  const bool want_dphi = a.i("want_dphi", 0) != 0;
  auto scratch = emu_io::poisoned<float2>(static_cast<std::size_t>(B) * n * P);
  auto out = emu_io::poisoned<float2>(field);
  std::vector<float> dphi;
  if (want_dphi) dphi = emu_io::poisoned<float>(field);

  quaton::FusedPropagateParams p;
  p.batch = B;
  p.n = n;
  p.p = static_cast<int>(P);
  p.u = u.data();
  p.modulation_in = m_in.empty() ? nullptr : m_in.data();
  p.transfer_t = transfer_t.data();
  p.scratch = scratch.data();
  p.out = out.data();
  p.modulation_out = m_out.empty() ? nullptr : m_out.data();
  p.saved_u = saved_u.empty() ? nullptr : saved_u.data();
  p.dphi = want_dphi ? dphi.data() : nullptr;
  qf_emu::LaunchOptions opt;
  opt.seed = static_cast<std::uint64_t>(a.i("block_seed", 0));

  const std::int64_t rows = B * n;
  if (B > 0) {
    qf_emu::launch(dim3(Geo::row_blocks(rows)), Row::block_dim, Row::shared_memory_size,
                   [&] { quaton::kernels::row_modulate_fft_kernel<P, Row>(p); }, opt);
    qf_emu::launch(Geo::col_grid(B), Col::block_dim, Geo::col_smem(n),
                   [&] { quaton::kernels::column_transfer_kernel<P, Col, ColInv>(p); }, opt);
    qf_emu::launch(dim3(Geo::row_inv_blocks(rows)), RowInv::block_dim, RowInv::shared_memory_size,
                   [&] { quaton::kernels::row_ifft_crop_kernel<P, RowInv>(p); }, opt);
  }
  a.write("out", out);
  a.write("scratch", scratch);
  if (want_dphi) a.write("dphi", dphi);
  return 0;
}

// The compiled configurations (P, elements per thread, row FFTs per block): small sizes that hit
// the edge cases (P not a multiple of the column group, slots beyond P, partial row blocks), and
// one production size. fused_arch_driver.cpp compiles cuFFTDx's own per-architecture ones instead.
#ifndef EMU_FUSED_CONFIGS
#define EMU_FUSED_CONFIGS(X) X(16, 4, 2) X(20, 4, 3) X(24, 5, 2) X(64, 8, 2) X(256, 8, 4)
#endif

int run(const std::string& kernel, const emu_io::Args& a) {
  if (kernel != "fused_propagate") throw std::runtime_error("unknown kernel '" + kernel + "'");
  const long long P = a.i("p"), E = a.i("ept"), F = a.i("fpb");
#define EMU_FUSED_CASE(p_, e_, f_) \
  if (P == p_ && E == e_ && F == f_) return run_config<p_, e_, f_>(a);
  EMU_FUSED_CONFIGS(EMU_FUSED_CASE)
#undef EMU_FUSED_CASE
  throw std::runtime_error("configuration (p, ept, fpb) = (" + std::to_string(P) + ", " + std::to_string(E) + ", " +
                           std::to_string(F) + ") is not compiled into this driver");
}

}  // namespace

EMU_DRIVER_MAIN(run)
