#include "keel/base/rendezvous.h"

namespace keel {

std::uint64_t rendezvous_weight(std::string_view place, std::string_view key) {
  std::uint64_t h = 14695981039346656037ull;
  auto mix = [&h](std::string_view s) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  };
  mix(place);
  mix(std::string_view("\0", 1));  // "a" + "bc" and "ab" + "c" differ
  mix(key);
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

}  // namespace keel
