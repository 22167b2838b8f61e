// pybind11 bindings of the on-chip layer kernel (cuda/fused/layer_cluster.cu; API:
// quaton/layer_cluster.h) and of the device facts the dispatch (functional/_dispatch.py) decides
// from. Present only when the extension was built with CUDA and cuFFTDx (QF_WITH_CUFFTDX).
// Pointers arrive as integers; shapes, dtypes, devices and contiguity are checked in Python
// (python/quaton_fast/functional/layer_cluster.py).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "quaton/device_info.h"
#include "quaton/layer_cluster.h"

namespace py = pybind11;

namespace quaton {

void bind_layer_cluster(py::module_& m) {
#ifdef QF_WITH_CUFFTDX
  m.def("layer_cluster_sizes", []() {
    int count = 0;
    const int* sizes = layer_cluster_sizes(&count);
    return std::vector<int>(sizes, sizes + count);
  }, "Padded sizes P compiled into the on-chip (thread-block cluster) layer kernel.");
  m.def("layer_cluster_workspace", &layer_cluster_workspace, py::arg("p"),
        "Bytes of the block FFTs' shared workspace of the on-chip kernel for padded size P (0: not compiled).");
  m.def(
      "layer_cluster_support",
      [](int n, int p, int device) {
        unsigned cluster = 0;
        const int code = layer_cluster_support(n, p, device, &cluster);
        return py::make_tuple(code, cluster);
      },
      py::arg("n"), py::arg("p"), py::arg("device"),
      "(code, cluster): whether the on-chip kernel can run (N, P) on a CUDA device (0 yes, 1 not sm_90 or no "
      "cluster launch or no sm_90 image, 2 P not compiled, 3 shared memory, 4 bad shape, 5 device query failed, "
      "6 no resident cluster) and its cluster size. Queried once per key and cached; call with `device` current.");
  m.def(
      "cuda_device_facts",
      [](int device) {
        const CudaDeviceFacts f = cuda_device_facts(device);
        py::dict d;
        d["major"] = f.major;
        d["minor"] = f.minor;
        d["sm_count"] = f.sm_count;
        d["smem_per_block_optin"] = f.smem_per_block_optin;
        d["smem_per_sm"] = f.smem_per_sm;
        d["cluster_launch"] = f.cluster_launch;
        d["clock_khz"] = f.clock_khz;
        d["memory_clock_khz"] = f.memory_clock_khz;
        d["memory_bus_width_bits"] = f.memory_bus_width_bits;
        return d;
      },
      py::arg("device"),
      "The CUDA attributes the dispatch decides from (-1 where the runtime could not answer); the caller caches them.");
  m.def(
      "layer_cluster_cuda",
      [](std::int64_t batch, int n, int p, std::uintptr_t u, std::uintptr_t modulation_in, std::uintptr_t transfer_t,
         int conj_transfer, std::uintptr_t modulation_out, std::uintptr_t saved_u, std::uintptr_t dphi,
         std::uintptr_t out, std::uintptr_t stream) {
        LayerClusterLaunch l;
        l.batch = batch;
        l.n = n;
        l.p = p;
        l.u = reinterpret_cast<const void*>(u);
        l.modulation_in = reinterpret_cast<const void*>(modulation_in);
        l.transfer_t = reinterpret_cast<const void*>(transfer_t);
        l.conj_transfer = conj_transfer;
        l.modulation_out = reinterpret_cast<const void*>(modulation_out);
        l.saved_u = reinterpret_cast<const void*>(saved_u);
        l.dphi = reinterpret_cast<float*>(dphi);
        l.out = reinterpret_cast<void*>(out);
        const int code = layer_cluster_cuda(l, reinterpret_cast<void*>(stream));
        if (code == -1)
          throw std::invalid_argument("layer_cluster_cuda: unsupported parameters (P not compiled in, N > P, batch "
                                      "outside 1..65535, a null pointer, dphi without saved_u, or "
                                      "layer_cluster_support() refused the device or size)");
        if (code != 0)
          throw std::runtime_error("layer_cluster_cuda: CUDA error " + std::to_string(code) + " (" +
                                   cuda_error_string(code) + ")");
      },
      "One on-chip layer: forward (conj_transfer=0) or adjoint (conj_transfer=1, modulation_out, saved_u, dphi "
      "accumulated over the batch) on the given stream.");
#else
  (void)m;
#endif
}

}  // namespace quaton
