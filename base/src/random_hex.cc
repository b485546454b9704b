#include "keel/base/random_hex.h"

#include <random>

namespace keel {

std::string random_hex(std::size_t bytes) {
  std::random_device rd;  // getrandom(2) on Linux
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * bytes);
  for (std::size_t i = 0; i < bytes; ++i) {
    auto b = static_cast<unsigned>(rd() & 0xff);
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

}  // namespace keel
