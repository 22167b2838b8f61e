// File exchange between the emulator tests (tests/kernels/emu_runner.py) and the drivers that
// run this project's CUDA kernels on the CPU emulator (cuda/emu/cuda_emu.h).
//
// A request is a directory: args.txt holds "key value" lines; each input array NAME is NAME.bin,
// raw little-endian values of the dtype and count the driver expects (checked exactly, so the
// driver's buffers have exactly the sizes a GPU launch would see: AddressSanitizer catches any
// read past them). Outputs are written as NAME.bin beside them. Output and scratch buffers start
// filled with NaN (0xFF bytes): an element the kernel should write but does not stays NaN.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace emu_io {

struct Args {
  std::string dir;
  std::map<std::string, std::string> kv;

  explicit Args(const std::string& d) : dir(d) {
    std::ifstream f(dir + "/args.txt");
    if (!f) throw std::runtime_error("cannot open " + dir + "/args.txt");
    std::string line;
    while (std::getline(f, line)) {
      std::istringstream s(line);
      std::string k, v;
      if (s >> k >> v) kv[k] = v;
    }
  }
  bool has(const std::string& k) const { return kv.count(k) != 0; }
  const std::string& str(const std::string& k) const {
    auto it = kv.find(k);
    if (it == kv.end()) throw std::runtime_error("args.txt: missing key '" + k + "'");
    return it->second;
  }
  long long i(const std::string& k) const { return std::stoll(str(k)); }
  long long i(const std::string& k, long long dflt) const { return has(k) ? i(k) : dflt; }
  double d(const std::string& k) const { return std::stod(str(k)); }
  double d(const std::string& k, double dflt) const { return has(k) ? d(k) : dflt; }
  std::uint64_t u64(const std::string& k) const { return std::stoull(str(k)); }

  bool has_array(const std::string& name) const {
    std::ifstream f(dir + "/" + name + ".bin", std::ios::binary);
    return static_cast<bool>(f);
  }

  // Reads NAME.bin as exactly `count` values of T.
  template <class T>
  std::vector<T> array(const std::string& name, std::size_t count) const {
    const std::string path = dir + "/" + name + ".bin";
    std::ifstream f(path, std::ios::binary | std::ios::ate);
    if (!f) throw std::runtime_error("cannot open " + path);
    const std::streamsize bytes = f.tellg();
    if (bytes != static_cast<std::streamsize>(count * sizeof(T)))
      throw std::runtime_error(path + ": expected " + std::to_string(count * sizeof(T)) + " bytes, got " +
                               std::to_string(bytes));
    std::vector<T> v(count);
    f.seekg(0);
    if (count) f.read(reinterpret_cast<char*>(v.data()), bytes);
    return v;
  }

  template <class T>
  void write(const std::string& name, const std::vector<T>& v) const {
    const std::string path = dir + "/" + name + ".bin";
    std::ofstream f(path, std::ios::binary);
    if (!v.empty()) f.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(T)));
    if (!f) throw std::runtime_error("cannot write " + path);
  }
};

// `count` values of T filled with 0xFF bytes (NaN for float/double, -1 for integers).
template <class T>
std::vector<T> poisoned(std::size_t count) {
  std::vector<T> v(count);
  if (count) std::memset(static_cast<void*>(v.data()), 0xFF, count * sizeof(T));
  return v;
}

}  // namespace emu_io

// The drivers' main: run(args) does the work; kernel errors exit 3 with the message on stderr.
#define EMU_DRIVER_MAIN(run)                                                          \
  int main(int argc, char** argv) {                                                   \
    if (argc != 3) {                                                                  \
      std::fprintf(stderr, "usage: %s KERNEL REQUEST_DIR\n", argv[0]);                \
      return 2;                                                                       \
    }                                                                                 \
    try {                                                                             \
      emu_io::Args args(argv[2]);                                                     \
      return run(std::string(argv[1]), args);                                         \
    } catch (const qf_emu::KernelError& e) {                                          \
      std::fprintf(stderr, "KERNEL ERROR: %s\n", e.what());                           \
      return 3;                                                                       \
    } catch (const std::exception& e) {                                               \
      std::fprintf(stderr, "DRIVER ERROR: %s\n", e.what());                           \
      return 4;                                                                       \
    }                                                                                 \
  }
