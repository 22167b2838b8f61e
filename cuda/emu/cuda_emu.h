// A CPU execution model for this project's CUDA kernels (issue 21): the kernels' own device code
// (cuda/**/*.cuh), compiled by the host compiler with -DQF_EMU, runs here with the semantics a
// kernel may rely on, and with the misuse a GPU forgives silently turned into an error.
//
// Model
//   - One block at a time, in an order shuffled by a seed (LaunchOptions::seed); a kernel that
//     depends on the order of blocks fails some seeds.
//   - Each CUDA thread of the block is an OS thread (std::thread): threads really run
//     concurrently, so ThreadSanitizer sees every unsynchronised access to shared or global memory.
//   - __syncthreads() is a real barrier of all threads of the block. It is an error (reported with
//     file:line and the thread indices) when threads wait at different __syncthreads() call sites
//     (a barrier in divergent code) or when a thread exits while others wait at a barrier.
//   - Warp-synchronous intrinsics (__shfl_sync, __shfl_up/down/xor_sync, __ballot_sync,
//     __any_sync, __all_sync, __syncwarp) are rendezvous of the non-exited lanes named in the mask
//     (warps are 32 consecutive linear thread indices; lanes of a partial warp that do not exist
//     count as exited, as CUDA's "all non-exited threads named in mask" rule allows). Errors: the
//     calling lane not in its mask; lanes of one mask calling different intrinsics or widths. A
//     shuffle that reads a lane outside its mask or an exited one returns the poison pattern (0xFF
//     bytes: NaN, -1), the value being undefined on the GPU. Arguments are typed as CUDA types
//     them (delta unsigned; srcLane modulo width; only the low 5 bits of an xor lane mask).
//   - Deadlock: when every live thread of the block waits (barrier or rendezvous) and nothing
//     completes for two 50 ms checks, the launch stops with the wait sites of all threads (masks
//     that do not match across lanes end here).
//   - Shared memory (dynamic: QF_DYNAMIC_SHARED; static: QF_SHARED_ARRAY) is allocated per block
//     with its exact size (AddressSanitizer sees overflows) and filled with 0xFF bytes before the
//     block runs: a float or double read that nobody wrote is a NaN, an int is -1.
//   - Atomics (atomicAdd/Max/Min/Exch/CAS) are __atomic builtins; float/double add by CAS.
//   - Built-in variables threadIdx, blockIdx, blockDim, gridDim, warpSize.
//   - Thread-block clusters (LaunchOptions::cluster, CUDA's cluster-dimension launch attribute):
//     all blocks of a cluster run concurrently (every thread of every block an OS thread); the
//     clusters run one at a time in a seeded order. cooperative_groups::this_cluster() as CUDA
//     spells it: sync() (a barrier of all threads of the cluster; errors like __syncthreads':
//     different call sites, a thread of the cluster already exited or exiting while others wait),
//     block_rank(), num_blocks(), dim_blocks(), block_index(), thread_rank(), num_threads(),
//     map_shared_rank(addr, rank) (distributed shared memory: the same variable in the block of
//     that rank; errors: rank outside the cluster, addr not in the caller's shared memory, the
//     target block already exited). When the last thread of a block exits, its shared memory is
//     retired: an error if another block mapped it after the last completed cluster.sync() (the
//     final cluster.sync() is missing); the memory is refilled with the poison pattern (a late
//     access reads NaN, races under TSan with the refill, is use-after-poison under ASan).
// Under ThreadSanitizer the model's locks are hidden from TSan and only the orderings CUDA promises
// are created (explicit release/acquire): all threads' accesses before a barrier happen before all
// threads' accesses after it, and likewise among the lanes of one __syncwarp and among all
// threads of a cluster at cluster.sync() (per barrier generation); a block's threads' accesses
// happen before its shared memory is retired. Stronger than
// the hardware (what it cannot catch): blocks of different clusters never run concurrently, so races between
// them on global memory are not seen (atomics between blocks are still exercised; blocks of one
// cluster do run concurrently). The cluster barrier is not split: barrier.cluster.arrive/wait
// as separate calls are not modelled.
//
// Cost: thread creation and a mutex per rendezvous: ~10-50 ms per 256-thread block, ~10x under
// ThreadSanitizer. Small grids only: this proves logic, not speed.
//
// Not part of the wheel: used by the emulator drivers in tests/kernels/ (docs/gpu.md).
#pragma once

#include <math.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#ifdef __CUDACC__
#error "cuda_emu.h is the CPU stand-in for the CUDA runtime; do not include it in nvcc builds"
#endif

// ---- CUDA qualifiers and vector types --------------------------------------------------------
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__
#define __launch_bounds__(...)
#define __align__(n) alignas(n)

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
struct alignas(8) float2 {
  float x, y;
};
struct alignas(16) double2 {
  double x, y;
};
inline float2 make_float2(float x, float y) { return float2{x, y}; }
inline double2 make_double2(double x, double y) { return double2{x, y}; }

constexpr int warpSize = 32;

// Built-in index variables, one copy per emulated thread.
inline thread_local uint3 threadIdx{0, 0, 0};
inline thread_local uint3 blockIdx{0, 0, 0};
inline thread_local dim3 blockDim{1, 1, 1};
inline thread_local dim3 gridDim{1, 1, 1};

// Fast-math intrinsics: their accurate counterparts (tolerances are the tests' business).
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __fdividef(float a, float b) { return a / b; }

#if defined(__SANITIZE_THREAD__)
#define QF_EMU_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define QF_EMU_TSAN 1
#endif
#endif
#ifdef QF_EMU_TSAN
// ThreadSanitizer's dynamic annotations (exported by its runtime).
extern "C" void AnnotateIgnoreSyncBegin(const char* file, int line);
extern "C" void AnnotateIgnoreSyncEnd(const char* file, int line);
extern "C" void AnnotateIgnoreReadsBegin(const char* file, int line);
extern "C" void AnnotateIgnoreReadsEnd(const char* file, int line);
extern "C" void AnnotateIgnoreWritesBegin(const char* file, int line);
extern "C" void AnnotateIgnoreWritesEnd(const char* file, int line);
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
#endif

#if defined(__SANITIZE_ADDRESS__)
#define QF_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define QF_EMU_ASAN 1
#endif
#endif
#ifdef QF_EMU_ASAN
#include <sanitizer/asan_interface.h>
#define QF_EMU_ASAN_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define QF_EMU_ASAN_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define QF_EMU_ASAN_POISON(p, n) ((void)(p), (void)(n))
#define QF_EMU_ASAN_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace qf_emu {

// A kernel error: misuse of the execution model (message with file:line and thread indices),
// a deadlock, or an exception thrown by the kernel.
struct KernelError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct LaunchOptions {
  std::uint64_t seed = 0;      // permutes the order in which blocks run
  unsigned char poison = 0xFF;  // shared memory fill byte (0xFF: NaN for float and double)
  dim3 cluster{1, 1, 1};        // blocks per thread-block cluster (cudaLaunchAttributeClusterDimension)
  bool non_portable_cluster_size_allowed = false;  // up to 16 blocks per cluster instead of 8
};

namespace detail {

struct Aborted {};  // unwinds a thread after another thread reported the launch's error

enum class Op : int { shfl, shfl_up, shfl_down, shfl_xor, ballot, any, all, syncwarp };
inline const char* op_name(Op op) {
  switch (op) {
    case Op::shfl: return "__shfl_sync";
    case Op::shfl_up: return "__shfl_up_sync";
    case Op::shfl_down: return "__shfl_down_sync";
    case Op::shfl_xor: return "__shfl_xor_sync";
    case Op::ballot: return "__ballot_sync";
    case Op::any: return "__any_sync";
    case Op::all: return "__all_sync";
    case Op::syncwarp: return "__syncwarp";
  }
  return "?";
}

struct Site {
  const char* file = nullptr;
  int line = 0;
  std::string str() const {
    std::ostringstream s;
    const char* base = file ? std::strrchr(file, '/') : nullptr;
    s << (base ? base + 1 : (file ? file : "?")) << ":" << line;
    return s.str();
  }
  bool operator==(const Site& o) const { return line == o.line && file && o.file && std::strcmp(file, o.file) == 0; }
};

struct Rendezvous {
  unsigned mask = 0;
  Op op = Op::shfl;
  int width = 32;
  Site site;
  unsigned arrived = 0;  // lanes that deposited
  unsigned waiting = 0;  // lanes that still have to pick their result
  bool complete = false;
  std::uint64_t value[32] = {};
  long long arg[32] = {};
  std::uint64_t result[32] = {};
};

struct Warp {
  std::mutex m;  // guards pending and exited
  std::condition_variable cv;
  std::vector<std::unique_ptr<Rendezvous>> pending;
  unsigned exited = 0;
  unsigned exists = 0;  // lanes of this warp that are threads of the block (set before launch)
};

// Where a thread is, for deadlock reports (read by other threads: atomics).
struct ThreadState {
  enum Where : int { running, barrier, warp_op, exited, cluster_barrier };
  std::atomic<int> where{running};
  std::atomic<const char*> file{nullptr};
  std::atomic<int> line{0};
  std::atomic<int> op{0};
  void set(Where w, Site s = {}, Op o = Op::shfl) {
    file.store(s.file, std::memory_order_relaxed);
    line.store(s.line, std::memory_order_relaxed);
    op.store(static_cast<int>(o), std::memory_order_relaxed);
    where.store(w, std::memory_order_relaxed);
  }
};

struct Cluster;

// One block's state. Locks: each warp's rendezvous under its Warp::m; the block barrier and the
// static shared memory table under Block::m; the cluster barrier and the cluster's shared-memory
// bookkeeping under Cluster::m; never two at once. The counters used for deadlock detection are
// the cluster's (a launch without cluster dims is a cluster of one block), relaxed atomics (no
// ordering: under ThreadSanitizer they must not order the kernel's accesses); a thread counts
// itself in `blocked` under the lock of what it waits for, and whoever releases waiters uncounts
// them under that same lock, so a running thread is never counted and `blocked == alive` means
// nobody can release anybody.
struct Block {
  Cluster* cl = nullptr;
  unsigned rank = 0;  // block rank in its cluster (x fastest)
  uint3 id{0, 0, 0};  // blockIdx
  dim3 dim;
  int nthreads = 0;
  std::mutex m;
  std::condition_variable bar_cv;
  int bar_arrived = 0;
  unsigned long long bar_gen = 0;
  Site bar_site;
  int bar_first = -1;
  std::atomic<int> alive{0};  // threads of this block still running (a barrier after an exit is an error)
  char bar_sync[3] = {};  // ThreadSanitizer sync objects of barrier generations (gen % 3)
  char exit_sync = 0;     // every thread's accesses happen before its block's shared memory is retired
  std::vector<Warp> warps;
  std::vector<ThreadState> threads;
  // shared memory (static arrays: key -> (memory, bytes))
  unsigned char* dynamic_smem = nullptr;
  std::size_t dynamic_bytes = 0;
  std::map<const void*, std::pair<void*, std::size_t>> static_smem;
  unsigned char poison = 0xFF;
};

// One thread-block cluster: its blocks run concurrently (all their threads at once). Holds what
// the blocks share: the launch's error state, the deadlock counters, the cluster barrier
// (cluster.sync()) and, per block, the last time another block mapped its shared memory.
struct Cluster {
  dim3 dim{1, 1, 1};  // blocks per cluster along x, y, z
  unsigned size = 1;
  std::vector<Block*> blocks;  // by rank
  int nthreads = 0;            // threads of all its blocks
  std::atomic<int> alive{0};
  std::atomic<int> blocked{0};
  std::atomic<unsigned long long> progress{0};  // completed rendezvous, barriers and exits
  std::atomic<bool> aborted{false};
  std::mutex error_m;
  std::string error;
  // cluster barrier (under m)
  std::mutex m;
  std::condition_variable bar_cv;
  int bar_arrived = 0;
  unsigned long long bar_gen = 0;  // completed cluster.sync() calls
  Site bar_site;
  int bar_first_rank = -1, bar_first_thread = -1;
  int exited_threads = 0;
  char bar_sync[3] = {};
  // distributed shared memory (under m): per target rank, the latest mapping by another block
  struct Mapping {
    bool any = false;
    unsigned long long gen = 0;  // bar_gen when it was mapped
    unsigned by_rank = 0;
    Site site;
  };
  std::vector<Mapping> mapped;
  std::vector<char> retired;  // the block's threads all exited: its shared memory is gone
};

// The model takes locks for its own bookkeeping (rendezvous, barriers, static shared memory, a
// thread leaving the kernel). Under ThreadSanitizer a lock orders everything one thread did
// before releasing it before everything the next owner does, so a thread that leaves a barrier
// first and touches shared memory would be ordered before a slow thread that takes the lock later:
// real races would be hidden. Inside this guard TSan ignores the locks and the bookkeeping's own
// accesses; the model then creates exactly the orderings CUDA promises with explicit
// release/acquire (every thread's accesses before a barrier happen before every thread's accesses
// after it; the same among the lanes of one warp rendezvous).
struct UnorderedBookkeeping {
  UnorderedBookkeeping() { begin(); }
  ~UnorderedBookkeeping() {
    if (on_) end();
  }
  void begin() {
#ifdef QF_EMU_TSAN
    AnnotateIgnoreSyncBegin(__FILE__, __LINE__);
    AnnotateIgnoreReadsBegin(__FILE__, __LINE__);
    AnnotateIgnoreWritesBegin(__FILE__, __LINE__);
#endif
    on_ = true;
  }
  void end() {
#ifdef QF_EMU_TSAN
    AnnotateIgnoreWritesEnd(__FILE__, __LINE__);
    AnnotateIgnoreReadsEnd(__FILE__, __LINE__);
    AnnotateIgnoreSyncEnd(__FILE__, __LINE__);
#endif
    on_ = false;
  }
  // Publishes this thread's accesses so far to `sync` (outside the ignored region).
  void release(void* sync) {
    end();
#ifdef QF_EMU_TSAN
    __tsan_release(sync);
#else
    (void)sync;
#endif
    begin();
  }
  // Orders this thread after every release into `sync`.
  void acquire(void* sync) {
    end();
#ifdef QF_EMU_TSAN
    __tsan_acquire(sync);
#else
    (void)sync;
#endif
    begin();
  }
  UnorderedBookkeeping(const UnorderedBookkeeping&) = delete;
  UnorderedBookkeeping& operator=(const UnorderedBookkeeping&) = delete;

 private:
  bool on_ = false;
};

struct ThreadCtx {
  Block* block = nullptr;
  int linear = 0;
};
inline thread_local ThreadCtx tls;

inline std::string thread_name(const Block& b, int linear) {
  std::ostringstream s;
  s << "thread (" << linear % b.dim.x << "," << (linear / b.dim.x) % b.dim.y << ","
    << linear / (b.dim.x * b.dim.y) << ") of block (" << b.id.x << "," << b.id.y << "," << b.id.z << ")";
  if (b.cl && b.cl->size > 1) s << " (cluster rank " << b.rank << ")";
  return s.str();
}

inline std::string describe_waits(const Cluster& cl) {
  std::ostringstream s;
  std::map<std::string, std::vector<int>> by_site;
  for (const Block* bp : cl.blocks) {
    const Block& b = *bp;
    for (int t = 0; t < b.nthreads; ++t) {
      const ThreadState& st = b.threads[t];
      const Site site{st.file.load(std::memory_order_relaxed), st.line.load(std::memory_order_relaxed)};
      std::string key;
      switch (st.where.load(std::memory_order_relaxed)) {
        case ThreadState::barrier: key = "__syncthreads at " + site.str(); break;
        case ThreadState::cluster_barrier: key = "cluster.sync() at " + site.str(); break;
        case ThreadState::warp_op:
          key = std::string(op_name(static_cast<Op>(st.op.load(std::memory_order_relaxed)))) + " at " + site.str();
          break;
        case ThreadState::exited: key = "exited"; break;
        default: key = "running";
      }
      if (cl.size > 1) key += " in cluster rank " + std::to_string(b.rank);
      by_site[key].push_back(t);
    }
  }
  for (auto& kv : by_site) {
    s << "\n    " << kv.second.size() << " thread(s) " << kv.first << " (linear ids " << kv.second.front();
    if (kv.second.size() > 1) s << " .. " << kv.second.back();
    s << ")";
  }
  return s.str();
}
inline std::string describe_waits(const Block& b) { return describe_waits(*b.cl); }

// Records the launch's first error, wakes every waiter of the cluster and unwinds the calling
// thread. The caller holds `lk` (some lock of the block or cluster), which is released first.
template <class Lock>
[[noreturn]] inline void fail(Block& b, Lock& lk, const std::string& what) {
  if (lk.owns_lock()) lk.unlock();
  Cluster& cl = *b.cl;
  {
    std::lock_guard<std::mutex> g(cl.error_m);
    if (cl.error.empty()) cl.error = what;
  }
  cl.aborted.store(true);
  for (Block* bp : cl.blocks) {
    for (Warp& w : bp->warps) {
      std::lock_guard<std::mutex> g(w.m);
      w.cv.notify_all();
    }
    std::lock_guard<std::mutex> g(bp->m);
    bp->bar_cv.notify_all();
  }
  {
    std::lock_guard<std::mutex> g(cl.m);
    cl.bar_cv.notify_all();
  }
  throw Aborted{};
}

// Waits on `cv` until `done()` (or the launch aborts). Deadlock: every live thread of the cluster
// (of the block, without clusters) waits (blocked >= alive) and nothing completed, seen at two consecutive 50 ms timeouts.
template <class Pred>
inline void wait_or_detect_deadlock(Block& b, std::unique_lock<std::mutex>& lk, std::condition_variable& cv,
                                    Pred done) {
  unsigned long long seen = b.cl->progress.load();
  int strikes = 0;
  while (!done() && !b.cl->aborted.load(std::memory_order_relaxed)) {
    if (cv.wait_for(lk, std::chrono::milliseconds(50)) != std::cv_status::timeout) continue;
    if (done() || b.cl->aborted.load(std::memory_order_relaxed)) break;
    const unsigned long long now = b.cl->progress.load();
    const int alive = b.cl->alive.load(), blocked = b.cl->blocked.load();
    if (now == seen && alive > 0 && blocked >= alive) {
      if (++strikes >= 2) fail(b, lk, std::string("deadlock: every live thread of the ") + (b.cl->size > 1 ? "cluster" : "block") +
                             " waits:" + describe_waits(b));
    } else {
      strikes = 0;
      seen = now;
    }
  }
  if (!done()) throw Aborted{};
}

inline Block& current_block() {
  if (!tls.block) {
    std::fprintf(stderr, "qf_emu: a device intrinsic was called outside an emulated launch\n");
    std::abort();
  }
  return *tls.block;
}

template <class T>
inline std::uint64_t to_bits(T v) {
  static_assert(sizeof(T) <= 8, "warp intrinsics move values of at most 8 bytes");
  std::uint64_t u = 0;
  std::memcpy(&u, &v, sizeof(T));
  return u;
}
template <class T>
inline T from_bits(std::uint64_t u) {
  T v;
  std::memcpy(&v, &u, sizeof(T));
  return v;
}

inline std::string hex(unsigned m) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", m);
  return buf;
}

// The source lane of lane `lane` for a shuffle, or -1 for "keeps its own value". Arguments as CUDA
// types them: srcLane int (taken modulo width), delta unsigned (up/down), laneMask int (xor; only
// its low 5 bits name a lane).
inline int shuffle_source(Op op, int lane, long long arg, int width) {
  const int base = lane & ~(width - 1), pos = lane - base;
  switch (op) {
    case Op::shfl: return base + static_cast<int>(static_cast<unsigned>(arg) & static_cast<unsigned>(width - 1));
    case Op::shfl_up: {
      const unsigned d = static_cast<unsigned>(arg);
      return static_cast<unsigned>(pos) >= d ? lane - static_cast<int>(d) : -1;
    }
    case Op::shfl_down: {
      const unsigned long long d = static_cast<unsigned>(arg);
      return pos + d < static_cast<unsigned long long>(width) ? lane + static_cast<int>(d) : -1;
    }
    case Op::shfl_xor: {
      const int src = lane ^ (static_cast<int>(arg) & 31);
      return src >= base + width ? -1 : src;  // later groups: own value (CUDA guide)
    }
    default: return -1;
  }
}

// Completes rendezvous `r` of warp `w` with the lanes that arrived (the others named in the mask
// have exited, which CUDA allows): votes count the arrived lanes only, and a shuffle that reads a
// lane outside the mask, or one that exited, gets the poison pattern (0xFF bytes: NaN, -1), an
// undefined value on the GPU. Called with the warp's lock held.
inline void complete_rendezvous(Block& b, int w, Rendezvous& r, bool by_a_lane) {
  const unsigned lanes = r.arrived;
  unsigned ballot = 0;
  for (int l = 0; l < 32; ++l)
    if ((lanes >> l & 1u) && r.value[l] != 0) ballot |= 1u << l;
  for (int l = 0; l < 32; ++l) {
    if (!(lanes >> l & 1u)) continue;
    switch (r.op) {
      case Op::ballot: r.result[l] = ballot; break;
      case Op::any: r.result[l] = ballot != 0; break;
      case Op::all: r.result[l] = ballot == lanes; break;
      case Op::syncwarp: r.result[l] = 0; break;
      default: {
        const int src = shuffle_source(r.op, l, r.arg[l], r.width);
        if (src < 0) r.result[l] = r.value[l];
        else if (src < 32 && (lanes >> src & 1u)) r.result[l] = r.value[src];
        else r.result[l] = ~0ull;  // outside the mask or exited: undefined on the GPU, poison here
      }
    }
  }
  r.complete = true;
  r.waiting = lanes;
  // the waiting lanes are no longer blocked (the completing lane, if it is one, never was)
  b.cl->blocked.fetch_sub(__builtin_popcount(lanes) - (by_a_lane ? 1 : 0), std::memory_order_relaxed);
  b.cl->progress.fetch_add(1);
  for (int l = 0; l < 32; ++l)
    if (lanes >> l & 1u) b.threads[w * 32 + l].set(ThreadState::running);
  b.warps[w].cv.notify_all();
}

// The rendezvous of the lanes in `mask`; returns the calling lane's result. Lanes named in the
// mask that exited (or are not threads of the block) are not waited for (CUDA: "all non-exited
// threads named in mask must execute the same intrinsic").
inline std::uint64_t warp_collective(Op op, unsigned mask, std::uint64_t value, long long arg, int width,
                                     Site site) {
  Block& b = current_block();
  const int me = tls.linear, w = me / 32, lane = me % 32;
  Warp& warp = b.warps[w];
  UnorderedBookkeeping unordered;
  std::unique_lock<std::mutex> lk(warp.m);
  if (b.cl->aborted.load(std::memory_order_relaxed)) throw Aborted{};
  auto who = [&] { return thread_name(b, me) + " (warp " + std::to_string(w) + " lane " + std::to_string(lane) + ")"; };
  if (!(mask >> lane & 1u))
    fail(b, lk, std::string(op_name(op)) + " at " + site.str() + ": " + who() + " is not in its own mask " + hex(mask));
  if (width < 1 || width > 32 || (width & (width - 1)))
    fail(b, lk, std::string(op_name(op)) + " at " + site.str() + ": width " + std::to_string(width) +
                    " is not a power of two in [1, 32]");
  // join the pending rendezvous of the same mask this lane has not joined yet, or open one; lanes
  // of other masks (disjoint, or still finishing another op) do not meet this one
  Rendezvous* r = nullptr;
  for (auto& p : warp.pending)
    if (!p->complete && p->mask == mask && !(p->arrived >> lane & 1u)) {
      r = p.get();
      break;
    }
  if (!r) {
    warp.pending.emplace_back(new Rendezvous);
    r = warp.pending.back().get();
    r->mask = mask;
    r->op = op;
    r->width = width;
    r->site = site;
  } else if (r->op != op || r->width != width) {
    fail(b, lk, std::string(op_name(op)) + " (width " + std::to_string(width) + ") at " + site.str() + ": " + who() +
                    " meets lanes " + hex(r->arrived) + " in " + op_name(r->op) + " (width " +
                    std::to_string(r->width) + ") at " + r->site.str() + " with the same mask " + hex(mask));
  }
  r->arrived |= 1u << lane;
  r->value[lane] = value;
  r->arg[lane] = arg;
  // Only __syncwarp orders memory among its lanes (CUDA Programming Guide: the shuffle and vote
  // intrinsics "do not imply a memory barrier"); the others exchange values, not memory.
  const bool orders_memory = op == Op::syncwarp;
  if (orders_memory) unordered.release(r);  // this lane's accesses before it happen before the others' after it
  const unsigned needed = mask & warp.exists & ~warp.exited;
  if ((r->arrived & needed) != needed) {
    b.threads[me].set(ThreadState::warp_op, site, op);
    b.cl->blocked.fetch_add(1, std::memory_order_relaxed);
    wait_or_detect_deadlock(b, lk, warp.cv, [&] { return r->complete; });
  } else {
    complete_rendezvous(b, w, *r, true);
  }
  if (orders_memory) unordered.acquire(r);
  const std::uint64_t out = r->result[lane];
  r->waiting &= ~(1u << lane);
  if (r->waiting == 0) {
    for (auto it = warp.pending.begin(); it != warp.pending.end(); ++it)
      if (it->get() == r) {
        warp.pending.erase(it);
        break;
      }
  }
  return out;
}

inline void block_barrier(Site site) {
  Block& b = current_block();
  const int me = tls.linear;
  UnorderedBookkeeping unordered;
  std::unique_lock<std::mutex> lk(b.m);
  if (b.cl->aborted.load(std::memory_order_relaxed)) throw Aborted{};
  if (b.alive.load(std::memory_order_relaxed) < b.nthreads)
    fail(b, lk, "__syncthreads at " + site.str() + " reached by " + thread_name(b, me) +
                    " after other threads of the block exited (a barrier after an early return):" +
                    describe_waits(b));
  if (b.bar_arrived == 0) {
    b.bar_site = site;
    b.bar_first = me;
  } else if (!(b.bar_site == site)) {
    fail(b, lk, "__syncthreads in divergent code: " + thread_name(b, me) + " waits at " + site.str() + " while " +
                    thread_name(b, b.bar_first) + " waits at " + b.bar_site.str());
  }
  const unsigned long long gen = b.bar_gen;
  void* sync = &b.bar_sync[gen % 3];  // a thread cannot reach generation gen + 3 before all left gen
  unordered.release(sync);
  if (++b.bar_arrived == b.nthreads) {
    b.bar_arrived = 0;
    ++b.bar_gen;
    b.cl->blocked.fetch_sub(b.nthreads - 1, std::memory_order_relaxed);
    b.cl->progress.fetch_add(1);
    for (ThreadState& t : b.threads) t.set(ThreadState::running);
    b.bar_cv.notify_all();
  } else {
    b.threads[me].set(ThreadState::barrier, site);
    b.cl->blocked.fetch_add(1, std::memory_order_relaxed);
    wait_or_detect_deadlock(b, lk, b.bar_cv, [&] { return b.bar_gen != gen; });
  }
  unordered.acquire(sync);
}

inline void* static_shared_of(Block& b, const void* key, std::size_t bytes) {
  UnorderedBookkeeping unordered;
  std::lock_guard<std::mutex> lk(b.m);
  auto it = b.static_smem.find(key);
  if (it != b.static_smem.end()) return it->second.first;
  void* p = ::operator new(bytes, std::align_val_t(16));
  std::memset(p, b.poison, bytes);
  b.static_smem.emplace(key, std::make_pair(p, bytes));
  return p;
}
inline void* static_shared(const void* key, std::size_t bytes) { return static_shared_of(current_block(), key, bytes); }

// The last thread of a block of a cluster (of more than one block) left: the block's shared
// memory is gone (on the GPU the SM may give it to another block). An error if another block
// mapped it (map_shared_rank) after the last completed cluster.sync(): nothing then orders that
// block's accesses before this exit. The memory is refilled with the poison pattern (a late
// access reads NaN; under ThreadSanitizer the refill races with any access not ordered before
// the exit by a cluster.sync(), under AddressSanitizer the region is poisoned: use-after-poison).
// Called by the exiting thread inside an UnorderedBookkeeping region, holding no lock.
inline void retire_block_shared_memory(Block& b, UnorderedBookkeeping& unordered) {
  Cluster& cl = *b.cl;
  {
    std::unique_lock<std::mutex> lk(cl.m);
    const Cluster::Mapping& mp = cl.mapped[b.rank];
    if (mp.any && mp.gen == cl.bar_gen && !cl.aborted.load(std::memory_order_relaxed)) {
      std::ostringstream s;
      s << "block (" << b.id.x << "," << b.id.y << "," << b.id.z << ") (cluster rank " << b.rank
        << ") exited while cluster rank " << mp.by_rank << " may still access its shared memory: rank "
        << mp.by_rank << " mapped it with map_shared_rank at " << mp.site.str()
        << " after the last completed cluster.sync() (a block whose shared memory other blocks access must "
           "not exit before a cluster.sync() that follows those accesses)";
      fail(b, lk, s.str());
    }
    cl.retired[b.rank] = 1;
  }
  std::vector<std::pair<void*, std::size_t>> regions;
  if (b.dynamic_smem) regions.emplace_back(b.dynamic_smem, b.dynamic_bytes);
  {
    std::lock_guard<std::mutex> lk(b.m);
    for (auto& kv : b.static_smem) regions.push_back(kv.second);
  }
  unordered.acquire(&b.exit_sync);  // after every access of this block's own threads
  unordered.end();
  for (auto& r : regions) {
    std::memset(r.first, b.poison, r.second);
    QF_EMU_ASAN_POISON(r.first, r.second);
  }
  unordered.begin();
}

// A thread leaves the kernel (normally or by an exception). A rendezvous that was waiting only for
// it completes without it (CUDA allows exited lanes in a mask); a barrier cannot (an error), nor
// can a cluster barrier.
inline void thread_exit(Block& b, int me, bool by_abort) {
  UnorderedBookkeeping unordered;
  unordered.release(&b.exit_sync);
  b.threads[me].set(ThreadState::exited);
  const int left_in_block = b.alive.fetch_sub(1, std::memory_order_relaxed) - 1;
  b.cl->alive.fetch_sub(1, std::memory_order_relaxed);
  b.cl->progress.fetch_add(1);
  const int w = me / 32;
  Warp& warp = b.warps[w];
  std::unique_lock<std::mutex> wl(warp.m);
  warp.exited |= 1u << (me % 32);
  if (b.cl->aborted.load(std::memory_order_relaxed) || by_abort) return;
  const unsigned alive_lanes = warp.exists & ~warp.exited;
  for (auto& p : warp.pending)
    if (!p->complete && p->arrived && (p->arrived & alive_lanes & p->mask) == (p->mask & alive_lanes))
      complete_rendezvous(b, w, *p, false);
  wl.unlock();
  try {
    std::unique_lock<std::mutex> bl(b.m);
    if (b.bar_arrived > 0)
      fail(b, bl, thread_name(b, me) + " exited while " + std::to_string(b.bar_arrived) +
                      " thread(s) wait at __syncthreads at " + b.bar_site.str() + " (a barrier in divergent code):" +
                      describe_waits(b));
    bl.unlock();
    Cluster& cl = *b.cl;
    std::unique_lock<std::mutex> cll(cl.m);
    ++cl.exited_threads;
    if (cl.bar_arrived > 0)
      fail(b, cll, thread_name(b, me) + " exited while " + std::to_string(cl.bar_arrived) +
                       " thread(s) wait at cluster.sync() at " + cl.bar_site.str() + ":" + describe_waits(b));
    cll.unlock();
    if (left_in_block == 0 && cl.size > 1) retire_block_shared_memory(b, unordered);
  } catch (Aborted&) {
  }
}

// cluster.sync(): a barrier of every thread of every block of the cluster (barrier.cluster.arrive
// + wait, release/acquire: all accesses before it, distributed shared memory included, happen
// before all accesses after it). Errors as __syncthreads: threads at different call sites, a
// thread of the cluster already exited.
inline void cluster_barrier(Site site) {
  Block& b = current_block();
  Cluster& cl = *b.cl;
  const int me = tls.linear;
  UnorderedBookkeeping unordered;
  std::unique_lock<std::mutex> lk(cl.m);
  if (cl.aborted.load(std::memory_order_relaxed)) throw Aborted{};
  if (cl.exited_threads > 0)
    fail(b, lk, "cluster.sync() at " + site.str() + " reached by " + thread_name(b, me) +
                    " after other threads of the cluster exited:" + describe_waits(b));
  if (cl.bar_arrived == 0) {
    cl.bar_site = site;
    cl.bar_first_rank = static_cast<int>(b.rank);
    cl.bar_first_thread = me;
  } else if (!(cl.bar_site == site)) {
    fail(b, lk, "cluster.sync() in divergent code: " + thread_name(b, me) + " waits at " + site.str() + " while " +
                    thread_name(*cl.blocks[cl.bar_first_rank], cl.bar_first_thread) + " waits at " +
                    cl.bar_site.str());
  }
  const unsigned long long gen = cl.bar_gen;
  void* sync = &cl.bar_sync[gen % 3];
  unordered.release(sync);
  if (++cl.bar_arrived == cl.nthreads) {
    cl.bar_arrived = 0;
    ++cl.bar_gen;
    cl.blocked.fetch_sub(cl.nthreads - 1, std::memory_order_relaxed);
    cl.progress.fetch_add(1);
    for (Block* bp : cl.blocks)
      for (ThreadState& t : bp->threads) t.set(ThreadState::running);
    cl.bar_cv.notify_all();
  } else {
    b.threads[me].set(ThreadState::cluster_barrier, site);
    cl.blocked.fetch_add(1, std::memory_order_relaxed);
    wait_or_detect_deadlock(b, lk, cl.bar_cv, [&] { return cl.bar_gen != gen; });
  }
  unordered.acquire(sync);
}

// map_shared_rank(addr, rank): the address of the same shared-memory variable in the block of
// cluster rank `rank`. Errors: rank outside [0, blocks in the cluster); addr not in the calling
// block's shared memory; the target block has exited (its shared memory is gone).
inline void* map_shared_rank(const void* addr, long long rank, Site site) {
  Block& b = current_block();
  Cluster& cl = *b.cl;
  const int me = tls.linear;
  std::unique_lock<std::mutex> none;
  if (rank < 0 || rank >= static_cast<long long>(cl.size))
    fail(b, none, "map_shared_rank at " + site.str() + ": " + thread_name(b, me) + " asks for rank " +
                      std::to_string(rank) + ", outside [0, " + std::to_string(cl.size) + ") (the cluster's blocks)");
  const unsigned char* p = static_cast<const unsigned char*>(addr);
  const void* key = nullptr;
  std::size_t offset = 0, bytes = 0;
  bool found = false;
  if (b.dynamic_smem && p >= b.dynamic_smem && p < b.dynamic_smem + b.dynamic_bytes) {
    offset = static_cast<std::size_t>(p - b.dynamic_smem);
    found = true;
  } else {
    UnorderedBookkeeping unordered;
    std::lock_guard<std::mutex> lk(b.m);
    for (auto& kv : b.static_smem) {
      const unsigned char* base = static_cast<const unsigned char*>(kv.second.first);
      if (p >= base && p < base + kv.second.second) {
        key = kv.first;
        bytes = kv.second.second;
        offset = static_cast<std::size_t>(p - base);
        found = true;
        break;
      }
    }
  }
  if (!found)
    fail(b, none, "map_shared_rank at " + site.str() + ": " + thread_name(b, me) +
                      " passes an address that is not in its block's shared memory");
  const unsigned target = static_cast<unsigned>(rank);
  if (target == b.rank) return const_cast<void*>(addr);
  Block& t = *cl.blocks[target];
  {
    UnorderedBookkeeping unordered;
    std::unique_lock<std::mutex> lk(cl.m);
    if (cl.retired[target])
      fail(b, lk, "map_shared_rank at " + site.str() + ": " + thread_name(b, me) + " maps the shared memory of cluster rank " +
                      std::to_string(target) + ", whose threads have all exited (its shared memory is gone: a "
                      "cluster.sync() before that block's exit is missing)");
    Cluster::Mapping& mp = cl.mapped[target];
    mp.any = true;
    mp.gen = cl.bar_gen;
    mp.by_rank = b.rank;
    mp.site = site;
  }
  unsigned char* base = key ? static_cast<unsigned char*>(static_shared_of(t, key, bytes)) : t.dynamic_smem;
  return base + offset;
}

}  // namespace detail

// Dynamic shared memory of the running block (nullptr when the launch asked for none).
inline void* dynamic_shared() { return detail::current_block().dynamic_smem; }

template <class T, std::size_t N>
inline T (&shared_array(const void* key))[N] {
  return *static_cast<T(*)[N]>(detail::static_shared(key, sizeof(T) * N));
}

// Runs `body` (a callable that invokes the kernel) as a grid of `grid` blocks of `block` threads,
// with `dynamic_smem_bytes` of dynamic shared memory per block, in clusters of
// `opt.cluster` blocks (CUDA's cluster-dimension launch attribute; 1x1x1: no clusters). Throws
// KernelError with the first error of the launch.
inline void launch(dim3 grid, dim3 block, std::size_t dynamic_smem_bytes, const std::function<void()>& body,
                   const LaunchOptions& opt = {}) {
  const long long nthreads = static_cast<long long>(block.x) * block.y * block.z;
  if (nthreads < 1 || nthreads > 1024 || block.z > 64)
    throw KernelError("launch: invalid block shape (" + std::to_string(block.x) + "," + std::to_string(block.y) +
                      "," + std::to_string(block.z) + "): 1 .. 1024 threads, z <= 64");
  if (grid.x < 1 || grid.y < 1 || grid.z < 1 || grid.y > 65535 || grid.z > 65535)
    throw KernelError("launch: invalid grid shape");
  if (dynamic_smem_bytes > 227u * 1024u)
    throw KernelError("launch: " + std::to_string(dynamic_smem_bytes) +
                      " bytes of dynamic shared memory exceed the 227 KB of any supported GPU");
  const dim3 cd = opt.cluster;
  const unsigned long long csize = 1ull * cd.x * cd.y * cd.z;
  const unsigned max_cluster = opt.non_portable_cluster_size_allowed ? 16u : 8u;
  if (cd.x < 1 || cd.y < 1 || cd.z < 1 || csize > max_cluster)
    throw KernelError("launch: cluster dims (" + std::to_string(cd.x) + "," + std::to_string(cd.y) + "," +
                      std::to_string(cd.z) + "): 1 .. " + std::to_string(max_cluster) + " blocks per cluster" +
                      (max_cluster == 8 ? " (8 is the portable limit; 16 needs the non-portable attribute)" : ""));
  if (grid.x % cd.x || grid.y % cd.y || grid.z % cd.z)
    throw KernelError("launch: the grid (" + std::to_string(grid.x) + "," + std::to_string(grid.y) + "," +
                      std::to_string(grid.z) + ") is not a multiple of the cluster dims (" + std::to_string(cd.x) +
                      "," + std::to_string(cd.y) + "," + std::to_string(cd.z) + ")");
  if (csize * nthreads > 4096)
    throw KernelError("launch: more than 4096 threads per cluster is beyond this emulator (small launches only)");
  const unsigned long long total = 1ull * grid.x * grid.y * grid.z;
  if (total > (1ull << 22)) throw KernelError("launch: more than 2^22 blocks is not a small grid");
  std::vector<uint3> clusters;  // first block of each cluster
  clusters.reserve(total / csize);
  for (unsigned z = 0; z < grid.z; z += cd.z)
    for (unsigned y = 0; y < grid.y; y += cd.y)
      for (unsigned x = 0; x < grid.x; x += cd.x) clusters.push_back(uint3{x, y, z});
  std::mt19937_64 rng(opt.seed);
  if (opt.seed) std::shuffle(clusters.begin(), clusters.end(), rng);

  for (const uint3& origin : clusters) {
    detail::Cluster cl;
    cl.dim = cd;
    cl.size = static_cast<unsigned>(csize);
    cl.nthreads = static_cast<int>(csize * nthreads);
    cl.alive.store(cl.nthreads);
    cl.mapped.resize(cl.size);
    cl.retired.assign(cl.size, 0);
    std::vector<std::unique_ptr<detail::Block>> blocks;
    for (unsigned r = 0; r < cl.size; ++r) {
      blocks.emplace_back(new detail::Block);
      detail::Block& b = *blocks.back();
      b.cl = &cl;
      b.rank = r;
      b.id = uint3{origin.x + r % cd.x, origin.y + (r / cd.x) % cd.y, origin.z + r / (cd.x * cd.y)};
      b.dim = block;
      b.nthreads = static_cast<int>(nthreads);
      b.alive.store(b.nthreads);
      b.poison = opt.poison;
      b.warps = std::vector<detail::Warp>((b.nthreads + 31) / 32);
      for (int t = 0; t < b.nthreads; ++t) b.warps[t / 32].exists |= 1u << (t % 32);
      b.threads = std::vector<detail::ThreadState>(b.nthreads);
      if (dynamic_smem_bytes) {
        b.dynamic_bytes = dynamic_smem_bytes;
        b.dynamic_smem = static_cast<unsigned char*>(::operator new(dynamic_smem_bytes, std::align_val_t(16)));
        std::memset(b.dynamic_smem, b.poison, dynamic_smem_bytes);
      }
      cl.blocks.push_back(&b);
    }
    std::vector<std::thread> threads;
    threads.reserve(cl.nthreads);
    for (detail::Block* bp : cl.blocks) {
      for (int t = 0; t < bp->nthreads; ++t) {
        threads.emplace_back([bp, &body, t, grid, block] {
          detail::Block& b = *bp;
          threadIdx = uint3{t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
          blockIdx = b.id;
          blockDim = block;
          gridDim = grid;
          detail::tls.block = &b;
          detail::tls.linear = t;
          bool aborted = false;
          try {
            body();
          } catch (detail::Aborted&) {
            aborted = true;
          } catch (std::exception& e) {
            std::unique_lock<std::mutex> lk;  // holds nothing
            try {
              detail::fail(b, lk, detail::thread_name(b, t) + " threw: " + e.what());
            } catch (detail::Aborted&) {
            }
            aborted = true;
          }
          detail::thread_exit(b, t, aborted);
          detail::tls.block = nullptr;
        });
      }
    }
    for (std::thread& th : threads) th.join();
    for (detail::Block* bp : cl.blocks) {
      if (bp->dynamic_smem) {
        QF_EMU_ASAN_UNPOISON(bp->dynamic_smem, bp->dynamic_bytes);
        ::operator delete(bp->dynamic_smem, std::align_val_t(16));
      }
      for (auto& kv : bp->static_smem) {
        QF_EMU_ASAN_UNPOISON(kv.second.first, kv.second.second);
        ::operator delete(kv.second.first, std::align_val_t(16));
      }
    }
    if (cl.aborted.load()) {
      std::ostringstream s;
      if (cl.size == 1)
        s << "kernel error in block (" << origin.x << "," << origin.y << "," << origin.z << "): " << cl.error;
      else
        s << "kernel error in the cluster of " << cl.size << " blocks from block (" << origin.x << "," << origin.y
          << "," << origin.z << "): " << cl.error;
      throw KernelError(s.str());
    }
  }
}

// ---- atomics (device memory is host memory here) ------------------------------------------------
namespace detail {
template <class T, class U>
inline T atomic_fp_add(T* addr, T val) {
  U* p = reinterpret_cast<U*>(addr);
  U old_bits = __atomic_load_n(p, __ATOMIC_RELAXED);
  for (;;) {
    T old;
    std::memcpy(&old, &old_bits, sizeof(T));
    const T nv = old + val;
    U new_bits;
    std::memcpy(&new_bits, &nv, sizeof(T));
    if (__atomic_compare_exchange_n(p, &old_bits, new_bits, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) return old;
  }
}
}  // namespace detail

}  // namespace qf_emu

inline float atomicAdd(float* a, float v) { return qf_emu::detail::atomic_fp_add<float, std::uint32_t>(a, v); }
inline double atomicAdd(double* a, double v) { return qf_emu::detail::atomic_fp_add<double, std::uint64_t>(a, v); }
inline int atomicAdd(int* a, int v) { return __atomic_fetch_add(a, v, __ATOMIC_RELAXED); }
inline unsigned atomicAdd(unsigned* a, unsigned v) { return __atomic_fetch_add(a, v, __ATOMIC_RELAXED); }
inline unsigned long long atomicAdd(unsigned long long* a, unsigned long long v) {
  return __atomic_fetch_add(a, v, __ATOMIC_RELAXED);
}
inline int atomicExch(int* a, int v) { return __atomic_exchange_n(a, v, __ATOMIC_RELAXED); }
inline int atomicCAS(int* a, int expected, int v) {
  __atomic_compare_exchange_n(a, &expected, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
  return expected;
}
inline int atomicMax(int* a, int v) {
  int old = __atomic_load_n(a, __ATOMIC_RELAXED);
  while (old < v && !__atomic_compare_exchange_n(a, &old, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  return old;
}
inline int atomicMin(int* a, int v) {
  int old = __atomic_load_n(a, __ATOMIC_RELAXED);
  while (old > v && !__atomic_compare_exchange_n(a, &old, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
  }
  return old;
}

// ---- barrier and warp intrinsics, with their call site -----------------------------------------
#define __syncthreads() ::qf_emu::detail::block_barrier(::qf_emu::detail::Site{__FILE__, __LINE__})
#define __shfl_sync(...) ::qf_emu::shfl_sync_at(::qf_emu::detail::Site{__FILE__, __LINE__}, ::qf_emu::detail::Op::shfl, __VA_ARGS__)
#define __shfl_up_sync(...) ::qf_emu::shfl_sync_at(::qf_emu::detail::Site{__FILE__, __LINE__}, ::qf_emu::detail::Op::shfl_up, __VA_ARGS__)
#define __shfl_down_sync(...) ::qf_emu::shfl_sync_at(::qf_emu::detail::Site{__FILE__, __LINE__}, ::qf_emu::detail::Op::shfl_down, __VA_ARGS__)
#define __shfl_xor_sync(...) ::qf_emu::shfl_sync_at(::qf_emu::detail::Site{__FILE__, __LINE__}, ::qf_emu::detail::Op::shfl_xor, __VA_ARGS__)
#define __ballot_sync(mask, pred) \
  static_cast<unsigned>(::qf_emu::detail::warp_collective(::qf_emu::detail::Op::ballot, (mask), (pred) ? 1u : 0u, 0, 32, ::qf_emu::detail::Site{__FILE__, __LINE__}))
#define __any_sync(mask, pred) \
  (::qf_emu::detail::warp_collective(::qf_emu::detail::Op::any, (mask), (pred) ? 1u : 0u, 0, 32, ::qf_emu::detail::Site{__FILE__, __LINE__}) != 0)
#define __all_sync(mask, pred) \
  (::qf_emu::detail::warp_collective(::qf_emu::detail::Op::all, (mask), (pred) ? 1u : 0u, 0, 32, ::qf_emu::detail::Site{__FILE__, __LINE__}) != 0)
#define __syncwarp(...) ::qf_emu::SyncwarpAt{::qf_emu::detail::Site{__FILE__, __LINE__}}(__VA_ARGS__)

namespace qf_emu {
template <class T>
inline T shfl_sync_at(detail::Site site, detail::Op op, unsigned mask, T var, long long arg, int width = warpSize) {
  return detail::from_bits<T>(detail::warp_collective(op, mask, detail::to_bits(var), arg, width, site));
}
struct SyncwarpAt {  // __syncwarp(mask = all lanes) with its call site
  detail::Site site;
  void operator()(unsigned mask = 0xffffffffu) const {
    detail::warp_collective(detail::Op::syncwarp, mask, 0, 0, 32, site);
  }
};
}  // namespace qf_emu

// ---- shared memory declarations (see cuda/platform.cuh for the nvcc spelling) -------------------
#define QF_SHARED_ARRAY(T, name, count)           \
  static const char name##_qf_shared_key = 0;     \
  T(&name)[count] = ::qf_emu::shared_array<T, count>(&name##_qf_shared_key)
#define QF_DYNAMIC_SHARED(T, name) T* name = static_cast<T*>(::qf_emu::dynamic_shared())

// ---- thread-block clusters: cooperative_groups' cluster API as CUDA spells it ------------------
// Kernels write `namespace cg = cooperative_groups; cg::cluster_group cluster = cg::this_cluster();`
// (cuda/platform.cuh includes <cooperative_groups.h> under nvcc). A launch without cluster dims is a
// cluster of one block, as on sm_90. Call sites come from __builtin_FILE/__builtin_LINE.
namespace cooperative_groups {
struct cluster_group {
  // barrier of all threads of all blocks of the cluster, with release/acquire ordering
  void sync(const char* file = __builtin_FILE(), int line = __builtin_LINE()) const {
    ::qf_emu::detail::cluster_barrier(::qf_emu::detail::Site{file, line});
  }
  unsigned block_rank() const { return ::qf_emu::detail::current_block().rank; }
  unsigned num_blocks() const { return ::qf_emu::detail::current_block().cl->size; }
  dim3 dim_blocks() const { return ::qf_emu::detail::current_block().cl->dim; }
  dim3 block_index() const {
    const dim3 d = dim_blocks();
    const unsigned r = block_rank();
    return dim3(r % d.x, (r / d.x) % d.y, r / (d.x * d.y));
  }
  unsigned num_threads() const { return static_cast<unsigned>(::qf_emu::detail::current_block().cl->nthreads); }
  unsigned thread_rank() const {
    const auto& b = ::qf_emu::detail::current_block();
    return b.rank * static_cast<unsigned>(b.nthreads) + static_cast<unsigned>(::qf_emu::detail::tls.linear);
  }
  bool is_valid() const { return true; }
  // the address of *addr (a shared-memory variable of this block) in the block of cluster rank `rank`
  template <class T>
  T* map_shared_rank(T* addr, int rank, const char* file = __builtin_FILE(), int line = __builtin_LINE()) const {
    return static_cast<T*>(::qf_emu::detail::map_shared_rank(addr, rank, ::qf_emu::detail::Site{file, line}));
  }
};
inline cluster_group this_cluster() { return cluster_group{}; }
}  // namespace cooperative_groups
