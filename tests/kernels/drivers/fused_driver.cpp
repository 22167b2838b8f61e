// Runs the three fused propagation passes (cuda/fused/propagate_fused.cuh) on the CPU emulator
// with the stand-in block FFT (cuda/emu/block_fft.h), through the launcher's geometry
// (kernels::FusedGeometry). Kernel: fused_propagate (passes 1-3 as fused_propagate_cuda runs them).
// args: batch n p ept fpb [block_seed]: (p, ept, fpb) must be one of the configurations compiled
// below (P; elements per thread; row FFTs per block). Arrays (complex64 as float pairs): u (B,N,N),
// transfer_t (P,P), [modulation_in] (N,N), [modulation_out] (N,N), [saved_u] (B,N,N); args
// want_dphi. Outputs: out (B,N,N) complex64, [dphi] (B,N,N) float32, scratch (B,N,P) complex64.
//
// Kernels fused_quant_forward / fused_quant_adjoint (issue 22 item 1): the passes with the
// quantizer inside, as fused_propagate_cuda runs them with `latent` set. Extra arrays: latent (N,N)
// float32, the QuantSpec tables thresholds (m), ends (m+1), d_re (m), [d_im] (m), v_re (m+1),
// [v_im] (m+1), [param] (1: the parameter read from device memory); adjoint: saved_u (B,N,N).
// Extra args: kind complex_table hard_forward num_steps base period param [want_grad_param]
// [samples_per_thread] (J; default the launcher's choice).
// Outputs: out, geometry (i32: S, J), and for the adjoint grad_latent_partial (S,N,N),
// grad_param_partial (S,N).
#include "emu/block_fft.h"
#include "fused/propagate_fused.cuh"
#include "fused/quant_rows.cuh"

#include "emu_io.h"

namespace {

using qf_emu::FftDirection;
using qf_emu::StandInBlockFFT;
using quaton::kernels::kColumnsPerBlock;

template <unsigned P, class Row, class Col, class ColInv, class RowInv>
int run_quant(const std::string& kernel, const emu_io::Args& a, quaton::FusedPropagateParams p,
              std::vector<float2>& scratch, std::vector<float2>& out, const qf_emu::LaunchOptions& opt) {
  using Geo = quaton::kernels::FusedGeometry<P, Row, Col, ColInv, RowInv>;
  const bool adjoint = kernel == "fused_quant_adjoint";
  if (!adjoint && kernel != "fused_quant_forward") throw std::runtime_error("unknown kernel '" + kernel + "'");
  const std::int64_t B = p.batch;
  const int n = p.n;
  const int m = static_cast<int>(a.i("num_steps"));
  const auto latent = a.array<float>("latent", static_cast<std::size_t>(n) * n);
  const auto thresholds = a.array<float>("thresholds", m);
  const auto ends = a.array<float>("ends", m + 1);
  const auto d_re = a.array<float>("d_re", m);
  const auto v_re = a.array<float>("v_re", m + 1);
  std::vector<float> d_im, v_im, param;
  if (a.has_array("d_im")) d_im = a.array<float>("d_im", m);
  if (a.has_array("v_im")) v_im = a.array<float>("v_im", m + 1);
  if (a.has_array("param")) param = a.array<float>("param", 1);
  quaton::QuantSpec& q = p.quant;
  q.kind = static_cast<int>(a.i("kind"));
  q.complex_table = static_cast<int>(a.i("complex_table"));
  q.hard_forward = static_cast<int>(a.i("hard_forward"));
  q.num_steps = m;
  q.base = static_cast<float>(a.d("base"));
  q.period = static_cast<float>(a.d("period"));
  q.thresholds = thresholds.data();
  q.ends = ends.data();
  q.d_re = d_re.data();
  q.d_im = d_im.empty() ? nullptr : d_im.data();
  q.v_re = v_re.data();
  q.v_im = v_im.empty() ? nullptr : v_im.data();
  q.param = static_cast<float>(a.d("param"));
  q.param_device = param.empty() ? nullptr : param.data();
  p.latent = latent.data();
  p.modulation_in = p.modulation_out = nullptr;
  p.dphi = nullptr;
  using QRow = quaton::kernels::QuantRowGeometry<Row>;
  using QInv = quaton::kernels::QuantRowGeometry<RowInv>;
  // samples_per_thread overrides the launcher's choice (small test grids would always get J = 1)
  const unsigned J = static_cast<unsigned>(
      a.i("samples_per_thread", adjoint ? QInv::samples_per_thread(B, n) : QRow::samples_per_thread(B, n)));
  const unsigned S = adjoint ? QInv::slabs(B, J) : QRow::slabs(B, J);
  p.quant_samples_per_thread = static_cast<int>(J);
  std::vector<float> glp, gpp;
  if (adjoint) {
    p.quant_adjoint = 1;
    glp = emu_io::poisoned<float>(static_cast<std::size_t>(S) * n * n);
    gpp = emu_io::poisoned<float>(static_cast<std::size_t>(S) * n);
    p.grad_latent_partial = glp.data();
    p.grad_param_partial = a.i("want_grad_param", 1) ? gpp.data() : nullptr;
    if (!p.saved_u) throw std::runtime_error("fused_quant_adjoint needs saved_u");
  }
  if (B > 0) {
    if (adjoint) {
      qf_emu::launch(dim3(Geo::row_blocks(B * n)), Row::block_dim, Row::shared_memory_size,
                     [&] { quaton::kernels::row_modulate_fft_kernel<P, Row>(p); }, opt);
    } else {
      qf_emu::launch(QRow::grid(B, n, J), Row::block_dim, QRow::forward_smem(n),
                     [&] { quaton::kernels::row_quant_modulate_fft_kernel<P, Row>(p); }, opt);
    }
    qf_emu::launch(Geo::col_grid(B), Col::block_dim, Geo::col_smem(n),
                   [&] { quaton::kernels::column_transfer_kernel<P, Col, ColInv>(p); }, opt);
    if (adjoint) {
      qf_emu::launch(QInv::grid(B, n, J), RowInv::block_dim, QInv::adjoint_smem(n),
                     [&] { quaton::kernels::row_ifft_crop_quant_kernel<P, RowInv>(p); }, opt);
    } else {
      qf_emu::launch(dim3(Geo::row_inv_blocks(B * n)), RowInv::block_dim, RowInv::shared_memory_size,
                     [&] { quaton::kernels::row_ifft_crop_kernel<P, RowInv>(p); }, opt);
    }
  }
  a.write("out", out);
  a.write("geometry", std::vector<std::int32_t>{static_cast<std::int32_t>(S), static_cast<std::int32_t>(J)});
  if (adjoint) {
    a.write("grad_latent_partial", glp);
    a.write("grad_param_partial", gpp);
  }
  (void)scratch;
  return 0;
}

template <unsigned P, unsigned E, unsigned FPB>
int run_config(const std::string& kernel, const emu_io::Args& a) {
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
  if (kernel != "fused_propagate") return run_quant<P, Row, Col, ColInv, RowInv>(kernel, a, p, scratch, out, opt);
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
  const long long P = a.i("p"), E = a.i("ept"), F = a.i("fpb");
#define EMU_FUSED_CASE(p_, e_, f_) \
  if (P == p_ && E == e_ && F == f_) return run_config<p_, e_, f_>(kernel, a);
  EMU_FUSED_CONFIGS(EMU_FUSED_CASE)
#undef EMU_FUSED_CASE
  throw std::runtime_error("configuration (p, ept, fpb) = (" + std::to_string(P) + ", " + std::to_string(E) + ", " +
                           std::to_string(F) + ") is not compiled into this driver");
}

}  // namespace

EMU_DRIVER_MAIN(run)
