// The one switch between the GPU and the CPU execution model (issue 21). Device code in
// cuda/**/*.cuh includes this header (through common.cuh) and is compiled two ways:
//   - by nvcc, as CUDA, into the extension (the launchers cuda/**/*.cu include the .cuh files);
//   - by the host compiler with -DQF_EMU, into the emulator drivers of tests/kernels/, where
//     cuda/emu/cuda_emu.h provides threads, barriers, warp intrinsics and shared memory on the CPU.
// Shared memory is declared through two macros so that both builds can give it its meaning:
//   QF_SHARED_ARRAY(T, name, count)   a static __shared__ T name[count]
//   QF_DYNAMIC_SHARED(T, name)        the block's dynamic shared memory as T* name (16-byte aligned)
// Thread-block clusters (sm_90+): kernels use cooperative_groups' cluster API as CUDA spells it
// (cg::this_cluster(), .sync(), .block_rank(), .num_blocks(), .dim_blocks(), .map_shared_rank());
// nvcc gets <cooperative_groups.h>, the CPU build the emulator's stand-in (cuda/emu/cuda_emu.h).
#pragma once

// QF_HAS_CLUSTERS: whether this compilation pass has the cluster API (the emulator; nvcc's host
// pass and sm_90+ device passes). Cluster kernels compile their bodies only where it is 1.
#ifdef QF_EMU
#include "emu/cuda_emu.h"
#define QF_HAS_CLUSTERS 1
#else
#include <cooperative_groups.h>
#include <cuda_runtime.h>
#define QF_SHARED_ARRAY(T, name, count) __shared__ T name[count]
#define QF_DYNAMIC_SHARED(T, name) extern __shared__ __align__(16) T name[]
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 900
#define QF_HAS_CLUSTERS 1
#else
#define QF_HAS_CLUSTERS 0
#endif
#endif
