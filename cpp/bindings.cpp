// PYBIND11_MODULE(_C): build_info(), and one def per op x device. Pointers arrive as integers
// (tensor.data_ptr()); shapes, dtypes and devices are checked in Python before the call.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <thread>

#include "quaton/device_info.h"
#include "quaton/quantizer.h"

namespace py = pybind11;

namespace quaton {
void bind_fixed_point(py::module_& m);       // cpp/bind_fixed_point.cpp
void bind_fixed_point_cuda(py::module_& m);  // cpp/bind_fixed_point_cuda.cpp (CUDA builds only)
void bind_propagate_fused(py::module_& m);   // cpp/bind_propagate_fused.cpp (CUDA + cuFFTDx builds only)
void bind_layer_cluster(py::module_& m);     // cpp/bind_layer_cluster.cpp (CUDA + cuFFTDx builds only)
void bind_solver(py::module_& m);            // cpp/bind_solver.cpp
void bind_aoc_hardware(py::module_& m);      // cpp/bind_aoc_hardware.cpp
}

namespace {

#ifndef QF_VERSION_INFO
#define QF_VERSION_INFO "unknown"
#endif

py::dict build_info() {
  py::dict info;
  info["version"] = QF_VERSION_INFO;
  info["compiler"] = std::string(
#if defined(__clang__)
      "clang " __clang_version__
#elif defined(__GNUC__)
      "gcc " __VERSION__
#else
      "unknown"
#endif
  );
  info["cxx_standard"] = static_cast<long>(__cplusplus);
  info["cpu_threads"] = static_cast<int>(std::thread::hardware_concurrency());
#ifdef QF_WITH_CUDA
  info["cuda"] = true;
  info["cuda_architectures"] = std::string(QF_CUDA_ARCHS);
  info["cuda_compiler_version"] = std::string(QF_CUDA_COMPILER_VERSION);
  info["cuda_runtime_version"] = quaton::cuda_runtime_version();
  info["cuda_driver_version"] = quaton::cuda_driver_version();
  const int devices = quaton::cuda_device_count();
  info["cuda_device_count"] = devices;
  py::list names;
  for (int i = 0; i < devices; ++i) names.append(quaton::cuda_device_name(i));
  info["cuda_devices"] = names;
#ifdef QF_WITH_CUFFTDX
  info["fused_propagation"] = true;  // cuFFTDx kernels, sm_90
#else
  info["fused_propagation"] = false;
#endif
#else
  info["cuda"] = false;
  info["fused_propagation"] = false;
  info["cuda_architectures"] = std::string("");
  info["cuda_device_count"] = 0;
#endif
  return info;
}

#ifdef QF_WITH_CUDA
void check_launch(int code, const char* what) {
  if (code != 0) {
    throw std::runtime_error(std::string(what) + ": CUDA error " + std::to_string(code) + " (" +
                             quaton::cuda_error_string(code) + ")");
  }
}

quaton::LevelThresholds make_table(std::uintptr_t thresholds, std::uintptr_t steps, int num_steps,
                                   float base, float period) {
  return {reinterpret_cast<const float*>(thresholds), reinterpret_cast<const float*>(steps),
          num_steps, base, period};
}
#endif

}  // namespace

PYBIND11_MODULE(_C, m) {
  m.doc() = "quaton_fast native kernels (C++ CPU and, when built, CUDA)";
  m.def("build_info", &build_info, "What this extension was compiled with (CUDA, architectures, versions).");
  m.attr("with_cuda") = py::bool_(
#ifdef QF_WITH_CUDA
      true
#else
      false
#endif
  );

#ifdef QF_WITH_CUDA
  m.def("cuda_device_count", &quaton::cuda_device_count);
  m.def(
      "psq_forward_cuda",
      [](std::uintptr_t latent, std::uintptr_t phase, std::int64_t count, std::uintptr_t thresholds,
         std::uintptr_t steps, int num_steps, float base, float sharpness, std::uintptr_t sharpness_ptr,
         float period, bool hard, std::uintptr_t stream) {
        quaton::PsqForwardParams p{reinterpret_cast<const float*>(latent), reinterpret_cast<float*>(phase),
                                   count, make_table(thresholds, steps, num_steps, base, period), sharpness,
                                   reinterpret_cast<const float*>(sharpness_ptr), hard ? 1 : 0};
        check_launch(quaton::psq_forward_cuda(p, reinterpret_cast<void*>(stream)), "psq_forward_cuda");
      },
      py::arg("latent"), py::arg("phase"), py::arg("count"), py::arg("thresholds"), py::arg("steps"),
      py::arg("num_steps"), py::arg("base"), py::arg("sharpness"), py::arg("sharpness_ptr"), py::arg("period"),
      py::arg("hard"), py::arg("stream"));
  m.def(
      "psq_backward_cuda",
      [](std::uintptr_t latent, std::uintptr_t grad_phase, std::uintptr_t grad_latent,
         std::uintptr_t grad_sharpness, std::int64_t count, std::uintptr_t thresholds, std::uintptr_t steps,
         int num_steps, float base, float sharpness, std::uintptr_t sharpness_ptr, float period,
         std::uintptr_t stream) {
        quaton::PsqBackwardParams p{reinterpret_cast<const float*>(latent),
                                    reinterpret_cast<const float*>(grad_phase),
                                    reinterpret_cast<float*>(grad_latent),
                                    reinterpret_cast<float*>(grad_sharpness), count,
                                    make_table(thresholds, steps, num_steps, base, period), sharpness,
                                    reinterpret_cast<const float*>(sharpness_ptr)};
        check_launch(quaton::psq_backward_cuda(p, reinterpret_cast<void*>(stream)), "psq_backward_cuda");
      },
      py::arg("latent"), py::arg("grad_phase"), py::arg("grad_latent"), py::arg("grad_sharpness"),
      py::arg("count"), py::arg("thresholds"), py::arg("steps"), py::arg("num_steps"), py::arg("base"),
      py::arg("sharpness"), py::arg("sharpness_ptr"), py::arg("period"), py::arg("stream"));
#endif

  quaton::bind_fixed_point(m);
  quaton::bind_fixed_point_cuda(m);
  quaton::bind_propagate_fused(m);
  quaton::bind_layer_cluster(m);
  quaton::bind_solver(m);
  quaton::bind_aoc_hardware(m);
}
