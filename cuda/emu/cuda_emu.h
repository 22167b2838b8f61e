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
// Under ThreadSanitizer the model's locks are hidden from TSan and only the orderings CUDA promises
// are created (explicit release/acquire): all threads' accesses before a barrier happen before all
// threads' accesses after it, and likewise among the lanes of one warp rendezvous. Stronger than
// the hardware (what it cannot catch): a rendezvous orders memory among its lanes (on the GPU only
// __syncwarp does), so a shared-memory race between lanes of one warp that is "ordered" only by a
// shuffle is not reported; blocks never run concurrently, so inter-block races on global memory
// are not seen (atomics between blocks are still exercised).
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

namespace qf_emu {

// A kernel error: misuse of the execution model (message with file:line and thread indices),
// a deadlock, or an exception thrown by the kernel.
struct KernelError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct LaunchOptions {
  std::uint64_t seed = 0;      // permutes the order in which blocks run
  unsigned char poison = 0xFF;  // shared memory fill byte (0xFF: NaN for float and double)
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
  enum Where : int { running, barrier, warp_op, exited };
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

// One block's state. Locks: each warp's rendezvous under its Warp::m; the block barrier and the
// static shared memory table under Block::m; never two at once. The counters used for deadlock
// detection are relaxed atomics (no ordering: under ThreadSanitizer they must not order the
// kernel's accesses); a thread counts itself in `blocked` under the lock of what it waits for,
// and whoever releases waiters uncounts them under that same lock, so a running thread is never
// counted and `blocked == alive` means nobody can release anybody.
struct Block {
  dim3 dim;
  int nthreads = 0;
  std::mutex m;
  std::condition_variable bar_cv;
  int bar_arrived = 0;
  unsigned long long bar_gen = 0;
  Site bar_site;
  int bar_first = -1;
  std::atomic<int> alive{0};
  std::atomic<int> blocked{0};
  std::atomic<unsigned long long> progress{0};  // completed rendezvous, barriers and exits
  char bar_sync[3] = {};  // ThreadSanitizer sync objects of barrier generations (gen % 3)
  std::atomic<bool> aborted{false};
  std::mutex error_m;
  std::string error;
  std::vector<Warp> warps;
  std::vector<ThreadState> threads;
  // shared memory
  unsigned char* dynamic_smem = nullptr;
  std::size_t dynamic_bytes = 0;
  std::map<const void*, void*> static_smem;
  unsigned char poison = 0xFF;
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
    << linear / (b.dim.x * b.dim.y) << ") of block (" << blockIdx.x << "," << blockIdx.y << "," << blockIdx.z
    << ")";
  return s.str();
}

inline std::string describe_waits(const Block& b) {
  std::ostringstream s;
  std::map<std::string, std::vector<int>> by_site;
  for (int t = 0; t < b.nthreads; ++t) {
    const ThreadState& st = b.threads[t];
    const Site site{st.file.load(std::memory_order_relaxed), st.line.load(std::memory_order_relaxed)};
    std::string key;
    switch (st.where.load(std::memory_order_relaxed)) {
      case ThreadState::barrier: key = "__syncthreads at " + site.str(); break;
      case ThreadState::warp_op:
        key = std::string(op_name(static_cast<Op>(st.op.load(std::memory_order_relaxed)))) + " at " + site.str();
        break;
      case ThreadState::exited: key = "exited"; break;
      default: key = "running";
    }
    by_site[key].push_back(t);
  }
  for (auto& kv : by_site) {
    s << "\n    " << kv.second.size() << " thread(s) " << kv.first << " (linear ids " << kv.second.front();
    if (kv.second.size() > 1) s << " .. " << kv.second.back();
    s << ")";
  }
  return s.str();
}

// Records the launch's first error, wakes every waiter and unwinds the calling thread. The caller
// holds `lk` (some lock of the block), which is released first.
template <class Lock>
[[noreturn]] inline void fail(Block& b, Lock& lk, const std::string& what) {
  if (lk.owns_lock()) lk.unlock();
  {
    std::lock_guard<std::mutex> g(b.error_m);
    if (b.error.empty()) b.error = what;
  }
  b.aborted.store(true);
  for (Warp& w : b.warps) {
    std::lock_guard<std::mutex> g(w.m);
    w.cv.notify_all();
  }
  {
    std::lock_guard<std::mutex> g(b.m);
    b.bar_cv.notify_all();
  }
  throw Aborted{};
}

// Waits on `cv` until `done()` (or the launch aborts). Deadlock: every live thread of the block
// waits (blocked >= alive) and nothing completed, seen at two consecutive 50 ms timeouts.
template <class Pred>
inline void wait_or_detect_deadlock(Block& b, std::unique_lock<std::mutex>& lk, std::condition_variable& cv,
                                    Pred done) {
  unsigned long long seen = b.progress.load();
  int strikes = 0;
  while (!done() && !b.aborted.load(std::memory_order_relaxed)) {
    if (cv.wait_for(lk, std::chrono::milliseconds(50)) != std::cv_status::timeout) continue;
    if (done() || b.aborted.load(std::memory_order_relaxed)) break;
    const unsigned long long now = b.progress.load();
    const int alive = b.alive.load(), blocked = b.blocked.load();
    if (now == seen && alive > 0 && blocked >= alive) {
      if (++strikes >= 2) fail(b, lk, "deadlock: every live thread of the block waits:" + describe_waits(b));
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
  b.blocked.fetch_sub(__builtin_popcount(lanes) - (by_a_lane ? 1 : 0), std::memory_order_relaxed);
  b.progress.fetch_add(1);
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
  if (b.aborted.load(std::memory_order_relaxed)) throw Aborted{};
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
  unordered.release(r);  // this lane's accesses before the intrinsic happen before the others' after it
  const unsigned needed = mask & warp.exists & ~warp.exited;
  if ((r->arrived & needed) != needed) {
    b.threads[me].set(ThreadState::warp_op, site, op);
    b.blocked.fetch_add(1, std::memory_order_relaxed);
    wait_or_detect_deadlock(b, lk, warp.cv, [&] { return r->complete; });
  } else {
    complete_rendezvous(b, w, *r, true);
  }
  unordered.acquire(r);
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
  if (b.aborted.load(std::memory_order_relaxed)) throw Aborted{};
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
    b.blocked.fetch_sub(b.nthreads - 1, std::memory_order_relaxed);
    b.progress.fetch_add(1);
    for (ThreadState& t : b.threads) t.set(ThreadState::running);
    b.bar_cv.notify_all();
  } else {
    b.threads[me].set(ThreadState::barrier, site);
    b.blocked.fetch_add(1, std::memory_order_relaxed);
    wait_or_detect_deadlock(b, lk, b.bar_cv, [&] { return b.bar_gen != gen; });
  }
  unordered.acquire(sync);
}

// A thread leaves the kernel (normally or by an exception). A rendezvous that was waiting only for
// it completes without it (CUDA allows exited lanes in a mask); a barrier cannot (an error).
inline void thread_exit(Block& b, int me, bool by_abort) {
  UnorderedBookkeeping unordered;
  b.threads[me].set(ThreadState::exited);
  b.alive.fetch_sub(1, std::memory_order_relaxed);
  b.progress.fetch_add(1);
  const int w = me / 32;
  Warp& warp = b.warps[w];
  std::unique_lock<std::mutex> wl(warp.m);
  warp.exited |= 1u << (me % 32);
  if (b.aborted.load(std::memory_order_relaxed) || by_abort) return;
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
  } catch (Aborted&) {
  }
}

inline void* static_shared(const void* key, std::size_t bytes) {
  Block& b = current_block();
  UnorderedBookkeeping unordered;
  std::lock_guard<std::mutex> lk(b.m);
  auto it = b.static_smem.find(key);
  if (it != b.static_smem.end()) return it->second;
  void* p = ::operator new(bytes, std::align_val_t(16));
  std::memset(p, b.poison, bytes);
  b.static_smem.emplace(key, p);
  return p;
}

}  // namespace detail

// Dynamic shared memory of the running block (nullptr when the launch asked for none).
inline void* dynamic_shared() { return detail::current_block().dynamic_smem; }

template <class T, std::size_t N>
inline T (&shared_array(const void* key))[N] {
  return *static_cast<T(*)[N]>(detail::static_shared(key, sizeof(T) * N));
}

// Runs `body` (a callable that invokes the kernel) as a grid of `grid` blocks of `block` threads,
// with `dynamic_smem_bytes` of dynamic shared memory per block. Throws KernelError with the first
// error of the launch.
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
  std::vector<uint3> blocks;
  const unsigned long long total = 1ull * grid.x * grid.y * grid.z;
  if (total > (1ull << 22)) throw KernelError("launch: more than 2^22 blocks is not a small grid");
  blocks.reserve(total);
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) blocks.push_back(uint3{x, y, z});
  std::mt19937_64 rng(opt.seed);
  if (opt.seed) std::shuffle(blocks.begin(), blocks.end(), rng);

  for (const uint3& bid : blocks) {
    detail::Block b;
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
    std::vector<std::thread> threads;
    threads.reserve(b.nthreads);
    for (int t = 0; t < b.nthreads; ++t) {
      threads.emplace_back([&b, &body, t, bid, grid, block] {
        threadIdx = uint3{t % block.x, (t / block.x) % block.y, t / (block.x * block.y)};
        blockIdx = bid;
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
    for (std::thread& th : threads) th.join();
    if (b.dynamic_smem) ::operator delete(b.dynamic_smem, std::align_val_t(16));
    for (auto& kv : b.static_smem) ::operator delete(kv.second, std::align_val_t(16));
    if (b.aborted.load()) {
      std::ostringstream s;
      s << "kernel error in block (" << bid.x << "," << bid.y << "," << bid.z << "): " << b.error;
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
