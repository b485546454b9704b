// A main() for the libFuzzer targets in this folder where libFuzzer is not
// available (GCC builds): runs LLVMFuzzerTestOneInput on `-runs=N` inputs of
// random bytes and lengths from `-seed=S`, so every build runs the targets'
// properties in the regular suite. Not coverage-guided: the Clang build is
// the real fuzzer.
//   wire_frame_fuzz -runs=20000 -seed=1
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

int main(int argc, char** argv) {
  long runs = 10000;
  unsigned long long seed = 1;
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "-runs=", 6) == 0) {
      runs = std::atol(argv[i] + 6);
    } else if (std::strncmp(argv[i], "-seed=", 6) == 0) {
      seed = std::strtoull(argv[i] + 6, nullptr, 10);
    } else {
      std::fprintf(stderr, "usage: %s [-runs=N] [-seed=S]\n", argv[0]);
      return 2;
    }
  }
  std::mt19937_64 rng(seed);
  std::vector<std::uint8_t> input;
  for (long r = 0; r < runs; ++r) {
    // Mostly short inputs, some long ones.
    const std::size_t size = rng() % 8 == 0 ? rng() % 4096 : rng() % 96;
    input.resize(size);
    for (std::uint8_t& b : input) b = static_cast<std::uint8_t>(rng());
    LLVMFuzzerTestOneInput(input.data(), input.size());
  }
  std::printf("%ld inputs, seed %llu: ok\n", runs, seed);
  return 0;
}
