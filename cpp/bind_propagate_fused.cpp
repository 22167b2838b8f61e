// pybind11 bindings of the fused modulation + propagation kernels (cuda/fused/propagate_fused.cu).
// Present only when the extension was built with CUDA and cuFFTDx (QF_WITH_CUFFTDX). Pointers
// arrive as integers; shapes, dtypes, devices and contiguity are checked in Python
// (python/quaton_fast/functional/fused_propagation.py).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "quaton/device_info.h"
#include "quaton/propagate_fused.h"

namespace py = pybind11;

namespace quaton {

void bind_propagate_fused(py::module_& m) {
#ifdef QF_WITH_CUFFTDX
  m.def("fused_propagate_sizes", []() {
    int count = 0;
    const int* sizes = fused_propagate_sizes(&count);
    return std::vector<int>(sizes, sizes + count);
  }, "Padded sizes P compiled into the fused propagation kernels.");
  m.def("fused_propagate_support", &fused_propagate_support, py::arg("n"), py::arg("p"), py::arg("device"),
        "Whether the fused kernels can run (N, P) on a CUDA device: 0 yes, 1 architecture not compiled, "
        "2 P not compiled, 3 not enough shared memory per block, 4 bad shape, 5 device query failed.");
  m.def(
      "fused_propagate_cuda",
      [](std::int64_t batch, int n, int p, std::uintptr_t u, std::uintptr_t modulation_in,
         std::uintptr_t transfer_t, std::uintptr_t scratch, std::uintptr_t out, std::uintptr_t modulation_out,
         std::uintptr_t saved_u, std::uintptr_t dphi, std::uintptr_t stream) {
        FusedPropagateParams prm;
        prm.batch = batch;
        prm.n = n;
        prm.p = p;
        prm.u = reinterpret_cast<const void*>(u);
        prm.modulation_in = reinterpret_cast<const void*>(modulation_in);
        prm.transfer_t = reinterpret_cast<const void*>(transfer_t);
        prm.scratch = reinterpret_cast<void*>(scratch);
        prm.out = reinterpret_cast<void*>(out);
        prm.modulation_out = reinterpret_cast<const void*>(modulation_out);
        prm.saved_u = reinterpret_cast<const void*>(saved_u);
        prm.dphi = reinterpret_cast<float*>(dphi);
        const int code = fused_propagate_cuda(prm, reinterpret_cast<void*>(stream));
        if (code == -1)
          throw std::invalid_argument("fused_propagate_cuda: unsupported parameters (P not compiled in, N > P, "
                                      "batch > 65535, null pointer, or fused_propagate_support() refused the device or size)");
        if (code != 0)
          throw std::runtime_error("fused_propagate_cuda: CUDA error " + std::to_string(code) + " (" +
                                   cuda_error_string(code) + ")");
      },
      "Modulate by m, propagate by H (three cuFFTDx passes); optionally the adjoint's phase gradient.");
  m.def("fused_quant_slabs", &fused_quant_slabs, py::arg("batch"), py::arg("n"), py::arg("p"), py::arg("device"),
        "Batch slabs S of the quantized adjoint row pass (first dimension of its partial sums), -1 if unsupported.");
  m.def(
      "fused_quant_propagate_cuda",
      [](std::int64_t batch, int n, int p, std::uintptr_t u, std::uintptr_t transfer_t, std::uintptr_t scratch,
         std::uintptr_t out, std::uintptr_t latent, int adjoint, std::uintptr_t saved_u,
         std::uintptr_t grad_latent_partial, std::uintptr_t grad_param_partial, int kind, int complex_table,
         int hard_forward, int num_steps, float base, float period, std::uintptr_t thresholds, std::uintptr_t ends,
         std::uintptr_t d_re, std::uintptr_t d_im, std::uintptr_t v_re, std::uintptr_t v_im, float param,
         std::uintptr_t param_device, std::uintptr_t stream) {
        FusedPropagateParams prm;
        prm.batch = batch;
        prm.n = n;
        prm.p = p;
        prm.u = reinterpret_cast<const void*>(u);
        prm.transfer_t = reinterpret_cast<const void*>(transfer_t);
        prm.scratch = reinterpret_cast<void*>(scratch);
        prm.out = reinterpret_cast<void*>(out);
        prm.latent = reinterpret_cast<const float*>(latent);
        prm.quant_adjoint = adjoint;
        prm.saved_u = reinterpret_cast<const void*>(saved_u);
        prm.grad_latent_partial = reinterpret_cast<float*>(grad_latent_partial);
        prm.grad_param_partial = reinterpret_cast<float*>(grad_param_partial);
        QuantSpec& q = prm.quant;
        q.kind = kind;
        q.complex_table = complex_table;
        q.hard_forward = hard_forward;
        q.num_steps = num_steps;
        q.base = base;
        q.period = period;
        q.thresholds = reinterpret_cast<const float*>(thresholds);
        q.ends = reinterpret_cast<const float*>(ends);
        q.d_re = reinterpret_cast<const float*>(d_re);
        q.d_im = reinterpret_cast<const float*>(d_im);
        q.v_re = reinterpret_cast<const float*>(v_re);
        q.v_im = reinterpret_cast<const float*>(v_im);
        q.param = param;
        q.param_device = reinterpret_cast<const float*>(param_device);
        if (!prm.latent) throw std::invalid_argument("fused_quant_propagate_cuda: latent is a null pointer");
        const int code = fused_propagate_cuda(prm, reinterpret_cast<void*>(stream));
        if (code == -1)
          throw std::invalid_argument("fused_quant_propagate_cuda: unsupported parameters (P not compiled in, N > P, "
                                      "batch > 65535, a null pointer, or the device or size refused)");
        if (code != 0)
          throw std::runtime_error("fused_quant_propagate_cuda: CUDA error " + std::to_string(code) + " (" +
                                   cuda_error_string(code) + ")");
      },
      "The fused passes with the quantizer in the row passes (issue 22 item 1): forward (adjoint=0) or the "
      "adjoint with the per-slab partial sums of dL/dw and dL/dp (adjoint=1).");
#else
  (void)m;
#endif
}

}  // namespace quaton
