// Self-tests of the CPU execution model (cuda/emu/cuda_emu.h) and of the stand-in block FFT
// (cuda/emu/block_fft.h), run by tests/kernels/test_emu_selftest.py. Each "kernel" below is a tiny
// CUDA kernel written for one semantic of the model (checked against values computed by hand in
// the test) or for one misuse the model must report (a deliberately broken kernel).
#include "emu/block_fft.h"
#include "platform.cuh"

#include "emu_io.h"

namespace {

// ---- semantics: every lane writes what each intrinsic returned ---------------------------------
__global__ void intrinsics_kernel(int* out, int width) {
  const int t = threadIdx.x, lane = t % 32;
  int* o = out + t * 9;
  o[0] = __shfl_sync(0xffffffffu, t * 10, 3, width);
  o[1] = __shfl_up_sync(0xffffffffu, t * 10, 2, width);
  o[2] = __shfl_down_sync(0xffffffffu, t * 10, 2, width);
  o[3] = __shfl_xor_sync(0xffffffffu, t * 10, 5, width);
  o[4] = static_cast<int>(__ballot_sync(0xffffffffu, lane % 3 == 0));
  o[5] = __any_sync(0xffffffffu, t == 7);
  o[6] = __all_sync(0xffffffffu, t < 1000);
  o[7] = __all_sync(0xffffffffu, lane != 5);
  // two disjoint half-warp masks in flight at once (legal: divergent halves)
  const unsigned half = lane < 16 ? 0x0000ffffu : 0xffff0000u;
  o[8] = __shfl_sync(half, t, lane < 16 ? 0 : 16);
  __syncwarp();
}

// block reduction through static shared memory + one float atomicAdd per block
__global__ void reduce_kernel(const float* x, float* total, int count) {
  QF_SHARED_ARRAY(float, part, 64);
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  part[threadIdx.x] = i < count ? x[i] : 0.f;
  __syncthreads();
  for (int w = 32; w > 0; w >>= 1) {
    if (static_cast<int>(threadIdx.x) < w) part[threadIdx.x] += part[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) atomicAdd(total, part[0]);
}

// ---- misuse the model must report (each a deliberately broken kernel) -------------------------
__global__ void missing_barrier_kernel(const float* x, float* out) {  // race: TSan
  QF_SHARED_ARRAY(float, buf, 64);
  buf[threadIdx.x] = x[threadIdx.x];
  out[threadIdx.x] = buf[63 - threadIdx.x];  // no __syncthreads between the write and the read
}
__global__ void divergent_barrier_kernel(float* out) {
  if (threadIdx.x < 16) {
    __syncthreads();
  } else {
    __syncthreads();
  }
  out[threadIdx.x] = 1.f;
}
__global__ void barrier_after_return_kernel(float* out) {
  if (threadIdx.x == 0) return;
  __syncthreads();
  out[threadIdx.x] = 1.f;
}
__global__ void out_of_bounds_kernel(const float* x, float* out, int count) {  // ASan
  out[threadIdx.x] = x[threadIdx.x + 1];  // the last thread reads x[count]
  (void)count;
}
__global__ void unwritten_shared_kernel(float* out) {  // NaN from the poisoned shared memory
  QF_SHARED_ARRAY(float, buf, 64);
  if (threadIdx.x % 2 == 0) buf[threadIdx.x] = 1.f;
  __syncthreads();
  out[threadIdx.x] = buf[threadIdx.x];
}
__global__ void shuffle_outside_mask_kernel(int* out) {  // undefined value: the poison pattern (-1)
  const int lane = threadIdx.x % 32;
  out[threadIdx.x] = lane < 16 ? __shfl_sync(0x0000ffffu, 100 + lane, 20) : 7;  // lane 20 is not in the mask
}
__global__ void lane_not_in_mask_kernel(int* out) {
  out[threadIdx.x] = __shfl_sync(0x0000ffffu, 1, 0);  // lanes 16..31 call with a mask without them
}
__global__ void exited_lanes_kernel(int* out) {  // legal: exited lanes named in the mask are not waited for
  const int lane = threadIdx.x % 32;
  if (lane >= 20) return;
  out[threadIdx.x * 3 + 0] = static_cast<int>(__ballot_sync(0xffffffffu, 1));
  out[threadIdx.x * 3 + 1] = __all_sync(0xffffffffu, 1);
  out[threadIdx.x * 3 + 2] = __shfl_sync(0xffffffffu, 100 + lane, 25);  // an exited lane: poison
}
__global__ void halves_kernel(int* out) {  // legal: a half-warp op, then a full-warp op
  const int lane = threadIdx.x % 32;
  int v = lane;
  if (lane < 16) v += __shfl_down_sync(0x0000ffffu, v, 1, 16);
  out[threadIdx.x] = __shfl_sync(0xffffffffu, v, 0);
}
__global__ void offsets_kernel(int* out) {  // CUDA's argument types: delta unsigned, xor mask's low 5 bits
  const int t = threadIdx.x;
  out[t * 4 + 0] = __shfl_up_sync(0xffffffffu, t, -1);    // delta 2^32 - 1 >= width: own value
  out[t * 4 + 1] = __shfl_xor_sync(0xffffffffu, t, -1);   // lane ^ 31
  out[t * 4 + 2] = __shfl_down_sync(0xffffffffu, t, 40);  // beyond the width: own value
  out[t * 4 + 3] = __shfl_sync(0xffffffffu, t, -1);       // srcLane modulo 32: lane 31
}
__global__ void race_after_barrier_kernel(float* out) {  // TSan: a race in the second barrier interval
  QF_SHARED_ARRAY(float, buf, 64);
  buf[threadIdx.x] = 1.f;
  __syncthreads();
  if (threadIdx.x == 0) buf[1] = 2.f;  // thread 1 wrote buf[1] before the barrier: fine
  if (threadIdx.x == 1) out[1] = buf[0] + buf[1];  // ...but reads buf[1] while thread 0 writes it
}
__global__ void cross_mask_race_kernel(float* g) {  // TSan: rendezvous of other masks order nothing
  const int lane = threadIdx.x % 32;
  if (lane == 16) g[0] = 3.f;
  const unsigned half = lane < 16 ? 0x0000ffffu : 0xffff0000u;
  const int v = __shfl_sync(half, lane, 0);
  if (lane == 0) g[1] = g[0] + static_cast<float>(v);
}
// Lanes 16 and 0 of warp 0 only (a second warp touching g would be a cross-warp race of its own).
__global__ void shuffle_orders_nothing_kernel(float* g) {  // TSan: a shuffle is no memory barrier
  const int lane = threadIdx.x % 32;
  if (threadIdx.x == 16) g[0] = 3.f;
  const int v = __shfl_sync(0xffffffffu, lane, 16);  // every lane meets lane 16 ... but memory is unordered
  if (threadIdx.x == 0) g[1] = g[0] + static_cast<float>(v);
}
__global__ void syncwarp_orders_kernel(float* g) {  // no race: __syncwarp orders memory among its lanes
  if (threadIdx.x == 16) g[0] = 3.f;
  __syncwarp(0xffffffffu);
  if (threadIdx.x == 0) g[1] = g[0] + 16.f;
}
__global__ void deadlock_kernel(int* out) {
  // lanes 0-15 wait at a block barrier that lanes 16-31 never reach: they wait for lane 0 in a
  // full-warp shuffle.
  const int lane = threadIdx.x % 32;
  if (lane < 16) {
    __syncthreads();
  } else {
    out[threadIdx.x] = __shfl_sync(0xffffffffu, lane, 0);
  }
}
__global__ void mixed_intrinsics_kernel(int* out) {
  if (threadIdx.x % 2) out[threadIdx.x] = __any_sync(0xffffffffu, 1);
  else out[threadIdx.x] = static_cast<int>(__ballot_sync(0xffffffffu, 1));
}

// ---- thread-block clusters (cooperative_groups' cluster API, distributed shared memory) ---------
namespace cg = cooperative_groups;
constexpr int kClusterFields = 12;
__device__ unsigned global_thread() { return (blockIdx.y * gridDim.x + blockIdx.x) * blockDim.x + threadIdx.x; }

// Each thread records what the cluster API returns and what it read from the other blocks' shared
// memory: dynamic (a ring read), static (a ring read) and a remote write into the next block.
__global__ void cluster_basics_kernel(int* out) {
  cg::cluster_group cluster = cg::this_cluster();
  QF_DYNAMIC_SHARED(int, dyn);  // [0, 32): own values; [32, 64): written by the previous rank
  QF_SHARED_ARRAY(int, st, 32);
  const unsigned rank = cluster.block_rank(), size = cluster.num_blocks();
  const unsigned t = threadIdx.x;
  dyn[t] = static_cast<int>(rank * 100 + t);
  st[t] = static_cast<int>(rank * 1000 + t);
  cluster.sync();
  const unsigned next = (rank + 1) % size;
  int* dyn_next = cluster.map_shared_rank(dyn, static_cast<int>(next));
  int* st_next = cluster.map_shared_rank(&st[0], static_cast<int>(next));
  const int ring_dyn = dyn_next[(t + 1) % 32];
  const int ring_st = st_next[(t + 1) % 32];
  dyn_next[32 + t] = static_cast<int>(rank * 10 + t);  // a remote write into the next block
  cluster.sync();
  int* o = out + (static_cast<std::size_t>(blockIdx.y) * gridDim.x + blockIdx.x) * blockDim.x * kClusterFields +
           t * kClusterFields;
  const dim3 d = cluster.dim_blocks(), bi = cluster.block_index();
  o[0] = static_cast<int>(rank);
  o[1] = static_cast<int>(size);
  o[2] = static_cast<int>(d.x);
  o[3] = static_cast<int>(d.y);
  o[4] = static_cast<int>(bi.x);
  o[5] = static_cast<int>(bi.y);
  o[6] = static_cast<int>(cluster.thread_rank());
  o[7] = static_cast<int>(cluster.num_threads());
  o[8] = ring_dyn;
  o[9] = ring_st;
  o[10] = dyn[32 + t];  // written by the previous rank before the second sync
  o[11] = cluster.map_shared_rank(dyn, static_cast<int>(rank)) == dyn;  // own rank: the same address
}
__global__ void cluster_rank_out_of_range_kernel(int* out) {
  cg::cluster_group cluster = cg::this_cluster();
  QF_DYNAMIC_SHARED(int, dyn);
  dyn[threadIdx.x] = 1;
  cluster.sync();
  out[threadIdx.x] = *cluster.map_shared_rank(dyn, static_cast<int>(cluster.num_blocks()));  // one past the last rank
  cluster.sync();
}
__global__ void cluster_map_global_kernel(int* out) {
  cg::cluster_group cluster = cg::this_cluster();
  out[threadIdx.x] = *cluster.map_shared_rank(out, 1);  // not a shared-memory address
}
__global__ void cluster_exit_without_sync_kernel(int* out) {  // emulator error: no final cluster.sync()
  cg::cluster_group cluster = cg::this_cluster();
  QF_DYNAMIC_SHARED(int, dyn);
  dyn[threadIdx.x] = static_cast<int>(threadIdx.x);
  cluster.sync();
  const int other = static_cast<int>((cluster.block_rank() + 1) % cluster.num_blocks());
  out[global_thread()] = cluster.map_shared_rank(dyn, other)[threadIdx.x];
  // missing: cluster.sync() before exit (the next block may read this block's shared memory still)
}
__global__ void cluster_missing_sync_kernel(int* out) {  // TSan: a remote write, then a local read
  cg::cluster_group cluster = cg::this_cluster();
  QF_DYNAMIC_SHARED(int, dyn);
  const int next = static_cast<int>((cluster.block_rank() + 1) % cluster.num_blocks());
  cluster.sync();  // every block has started (its shared memory exists)
  cluster.map_shared_rank(dyn, next)[threadIdx.x] = static_cast<int>(threadIdx.x);
  // missing: cluster.sync() between the remote write and the owner's read
  out[global_thread()] = dyn[threadIdx.x];
  cluster.sync();
}
__global__ void cluster_stale_pointer_kernel(int* out) {  // TSan: a mapped pointer used after the last sync
  cg::cluster_group cluster = cg::this_cluster();
  QF_DYNAMIC_SHARED(int, dyn);
  dyn[threadIdx.x] = static_cast<int>(threadIdx.x);
  const int next = static_cast<int>((cluster.block_rank() + 1) % cluster.num_blocks());
  int* remote = cluster.map_shared_rank(dyn, next);  // mapped before the sync: the exit check cannot see the use
  cluster.sync();
  out[global_thread()] = remote[threadIdx.x];  // ...read after it, no final sync
}
__global__ void cluster_divergent_sync_kernel(int* out) {
  cg::cluster_group cluster = cg::this_cluster();
  if (cluster.block_rank() == 0) {
    cluster.sync();
  } else {
    cluster.sync();
  }
  out[threadIdx.x] = 1;
}
__global__ void cluster_sync_after_exit_kernel(int* out) {
  cg::cluster_group cluster = cg::this_cluster();
  if (cluster.block_rank() == 1 && threadIdx.x == 3) return;
  cluster.sync();
  out[threadIdx.x] = 1;
}
__global__ void cluster_deadlock_kernel(int* out) {
  // rank 0: cluster.sync(); rank 1: half its threads at __syncthreads, half at cluster.sync()
  cg::cluster_group cluster = cg::this_cluster();
  if (cluster.block_rank() == 1 && threadIdx.x < 16) {
    __syncthreads();
  } else {
    cluster.sync();
  }
  out[global_thread()] = 1;
}

int run_cluster(const std::string& kernel, const emu_io::Args& a) {
  qf_emu::LaunchOptions opt;
  opt.seed = static_cast<std::uint64_t>(a.i("seed", 0));
  opt.cluster = dim3(static_cast<unsigned>(a.i("cx", 2)), static_cast<unsigned>(a.i("cy", 1)));
  opt.non_portable_cluster_size_allowed = a.i("non_portable", 0) != 0;
  const dim3 grid(static_cast<unsigned>(a.i("gx", 2)), static_cast<unsigned>(a.i("gy", 1)));
  const dim3 block(32);
  auto out = emu_io::poisoned<int>(static_cast<std::size_t>(grid.x) * grid.y * 32 * kClusterFields);
  const std::size_t smem = 64 * sizeof(int);
  const int reps = static_cast<int>(a.i("reps", 1));
  for (int rep = 0; rep < reps; ++rep) {
    if (kernel == "cluster_basics") qf_emu::launch(grid, block, smem, [&] { cluster_basics_kernel(out.data()); }, opt);
    else if (kernel == "cluster_rank_out_of_range") qf_emu::launch(grid, block, smem, [&] { cluster_rank_out_of_range_kernel(out.data()); }, opt);
    else if (kernel == "cluster_map_global") qf_emu::launch(grid, block, smem, [&] { cluster_map_global_kernel(out.data()); }, opt);
    else if (kernel == "cluster_exit_without_sync") qf_emu::launch(grid, block, smem, [&] { cluster_exit_without_sync_kernel(out.data()); }, opt);
    else if (kernel == "cluster_missing_sync") qf_emu::launch(grid, block, smem, [&] { cluster_missing_sync_kernel(out.data()); }, opt);
    else if (kernel == "cluster_stale_pointer") qf_emu::launch(grid, block, smem, [&] { cluster_stale_pointer_kernel(out.data()); }, opt);
    else if (kernel == "cluster_divergent_sync") qf_emu::launch(grid, block, smem, [&] { cluster_divergent_sync_kernel(out.data()); }, opt);
    else if (kernel == "cluster_deadlock") qf_emu::launch(grid, block, smem, [&] { cluster_deadlock_kernel(out.data()); }, opt);
    else if (kernel == "cluster_sync_after_exit") qf_emu::launch(grid, block, smem, [&] { cluster_sync_after_exit_kernel(out.data()); }, opt);
    else throw std::runtime_error("unknown kernel '" + kernel + "'");
  }
  a.write("out", out);
  return 0;
}

template <qf_emu::FftDirection Dir, unsigned P, unsigned E, unsigned FPB>
void run_fft(const emu_io::Args& a) {
  using FFT = qf_emu::StandInBlockFFT<P, Dir, E, FPB>;
  const int rows = static_cast<int>(a.i("rows"));
  const auto x = a.array<float2>("x", static_cast<std::size_t>(rows) * P);
  auto y = emu_io::poisoned<float2>(static_cast<std::size_t>(rows) * P);
  const unsigned blocks = (rows + FPB - 1) / FPB;
  qf_emu::launch(dim3(blocks), FFT::block_dim, FFT::shared_memory_size, [&] {
    QF_DYNAMIC_SHARED(unsigned char, smem);
    const int row = blockIdx.x * FPB + threadIdx.y;
    const bool valid = row < rows;
    float2 td[FFT::storage_size];
    for (unsigned i = 0; i < E; ++i) {
      const unsigned j = threadIdx.x + i * FFT::stride;
      td[i] = (valid && j < P) ? x[static_cast<std::size_t>(row) * P + j] : float2{0.f, 0.f};
    }
    FFT().execute(td, smem);
    for (unsigned i = 0; i < E; ++i) {
      const unsigned j = threadIdx.x + i * FFT::stride;
      if (valid && j < P) y[static_cast<std::size_t>(row) * P + j] = td[i];
    }
  });
  a.write("y", y);
}

int run(const std::string& kernel, const emu_io::Args& a) {
  if (kernel.rfind("cluster_", 0) == 0) return run_cluster(kernel, a);
  const unsigned threads = static_cast<unsigned>(a.i("threads", 64));
  qf_emu::LaunchOptions opt;
  opt.seed = static_cast<std::uint64_t>(a.i("seed", 0));
  auto ints = emu_io::poisoned<int>(threads * 9);
  auto floats = emu_io::poisoned<float>(threads);
  if (kernel == "intrinsics") {
    const int width = static_cast<int>(a.i("width"));
    qf_emu::launch(dim3(1), dim3(threads), 0, [&] { intrinsics_kernel(ints.data(), width); }, opt);
    a.write("out", ints);
    return 0;
  }
  if (kernel == "reduce") {
    const int count = static_cast<int>(a.i("count"));
    const auto x = a.array<float>("x", count);
    std::vector<float> total(1, 0.f);
    qf_emu::launch(dim3((count + 63) / 64), dim3(64), 0, [&] { reduce_kernel(x.data(), total.data(), count); }, opt);
    a.write("total", total);
    return 0;
  }
  if (kernel == "fft") {
    const bool inv = a.i("inverse") != 0;
    const long long P = a.i("p");
#define FFT_CASE(p, e, f)                                                                   \
  if (P == p) {                                                                             \
    if (inv) run_fft<qf_emu::FftDirection::inverse, p, e, f>(a);                            \
    else run_fft<qf_emu::FftDirection::forward, p, e, f>(a);                                \
    return 0;                                                                               \
  }
    FFT_CASE(8, 2, 3) FFT_CASE(24, 5, 2) FFT_CASE(400, 16, 2)
#undef FFT_CASE
    throw std::runtime_error("fft size not compiled");
  }
  // the broken kernels: 64 threads, one block
  const std::vector<float> x(64, 1.f);
  const dim3 one(1), block(64);
  if (kernel == "missing_barrier") qf_emu::launch(one, block, 0, [&] { missing_barrier_kernel(x.data(), floats.data()); }, opt);
  else if (kernel == "divergent_barrier") qf_emu::launch(one, block, 0, [&] { divergent_barrier_kernel(floats.data()); }, opt);
  else if (kernel == "barrier_after_return") qf_emu::launch(one, block, 0, [&] { barrier_after_return_kernel(floats.data()); }, opt);
  else if (kernel == "out_of_bounds") qf_emu::launch(one, block, 0, [&] { out_of_bounds_kernel(x.data(), floats.data(), 64); }, opt);
  else if (kernel == "unwritten_shared") qf_emu::launch(one, block, 0, [&] { unwritten_shared_kernel(floats.data()); }, opt);
  else if (kernel == "shuffle_outside_mask") qf_emu::launch(one, block, 0, [&] { shuffle_outside_mask_kernel(ints.data()); }, opt);
  else if (kernel == "lane_not_in_mask") qf_emu::launch(one, block, 0, [&] { lane_not_in_mask_kernel(ints.data()); }, opt);
  else if (kernel == "exited_lanes") qf_emu::launch(one, block, 0, [&] { exited_lanes_kernel(ints.data()); }, opt);
  else if (kernel == "halves") {
    for (int rep = 0; rep < 30; ++rep) qf_emu::launch(one, block, 0, [&] { halves_kernel(ints.data()); }, opt);
  } else if (kernel == "offsets") qf_emu::launch(one, block, 0, [&] { offsets_kernel(ints.data()); }, opt);
  else if (kernel == "race_after_barrier") qf_emu::launch(one, block, 0, [&] { race_after_barrier_kernel(floats.data()); }, opt);
  else if (kernel == "cross_mask_race") qf_emu::launch(one, block, 0, [&] { cross_mask_race_kernel(floats.data()); }, opt);
  else if (kernel == "shuffle_orders_nothing") qf_emu::launch(one, block, 0, [&] { shuffle_orders_nothing_kernel(floats.data()); }, opt);
  else if (kernel == "syncwarp_orders") qf_emu::launch(one, block, 0, [&] { syncwarp_orders_kernel(floats.data()); }, opt);
  else if (kernel == "deadlock") qf_emu::launch(one, block, 0, [&] { deadlock_kernel(ints.data()); }, opt);
  else if (kernel == "mixed_intrinsics") qf_emu::launch(one, block, 0, [&] { mixed_intrinsics_kernel(ints.data()); }, opt);
  else throw std::runtime_error("unknown kernel '" + kernel + "'");
  a.write("floats", floats);
  a.write("ints", ints);
  return 0;
}

}  // namespace

EMU_DRIVER_MAIN(run)
