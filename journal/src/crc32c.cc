#include "crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <nmmintrin.h>
#define KEEL_CRC32C_HAVE_SSE42_PATH 1
#endif

namespace keel::internal::crc32c {
namespace {

constexpr std::uint32_t kPolyReflected = 0x82F63B78u;

// kTables[k][b]: the CRC of byte b followed by k zero bytes (slicing-by-8).
using Tables = std::array<std::array<std::uint32_t, 256>, 8>;

constexpr Tables make_tables() {
  Tables t{};
  for (std::uint32_t b = 0; b < 256; ++b) {
    std::uint32_t c = b;
    for (int i = 0; i < 8; ++i) c = (c & 1) ? (c >> 1) ^ kPolyReflected : c >> 1;
    t[0][b] = c;
  }
  for (std::size_t k = 1; k < 8; ++k) {
    for (std::uint32_t b = 0; b < 256; ++b) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xFF];
  }
  return t;
}

constexpr Tables kTables = make_tables();

std::uint64_t load_le64(const char* p) {
  std::uint64_t v;
  std::memcpy(&v, p, sizeof v);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  return v;
}

#ifdef KEEL_CRC32C_HAVE_SSE42_PATH
__attribute__((target("sse4.2"))) std::uint32_t extend_sse42(std::uint32_t crc, const char* p,
                                                              std::size_t n) {
  std::uint64_t c = ~crc;
  while (n > 0 && (reinterpret_cast<std::uintptr_t>(p) & 7) != 0) {
    c = _mm_crc32_u8(static_cast<std::uint32_t>(c), static_cast<std::uint8_t>(*p++));
    --n;
  }
  for (; n >= 8; n -= 8, p += 8) c = _mm_crc32_u64(c, load_le64(p));
  for (; n > 0; --n) c = _mm_crc32_u8(static_cast<std::uint32_t>(c), static_cast<std::uint8_t>(*p++));
  return ~static_cast<std::uint32_t>(c);
}

bool cpu_has_sse42() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2");
}
#endif

// a(x) * b(x) modulo the polynomial, in the reflected bit order of the CRC
// (bit 31 is x^0). As zlib's multmodp.
constexpr std::uint32_t multiply_mod(std::uint32_t a, std::uint32_t b) {
  std::uint32_t m = 1u << 31, p = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) == 0) break;
    }
    m >>= 1;
    b = (b & 1) ? (b >> 1) ^ kPolyReflected : b >> 1;
  }
  return p;
}

// kPowers[k] = x^(2^k) modulo the polynomial; shift_for needs k up to 3 + 64.
constexpr std::array<std::uint32_t, 72> make_powers() {
  std::array<std::uint32_t, 72> t{};
  std::uint32_t p = 1u << 30;  // x^1
  for (std::size_t k = 0; k < t.size(); ++k) {
    t[k] = p;
    p = multiply_mod(p, p);
  }
  return t;
}

constexpr std::array<std::uint32_t, 72> kPowers = make_powers();

}  // namespace

std::uint32_t shift_for(std::size_t n) {
  // x^(8n): bit k of n contributes x^(2^(k+3)).
  std::uint32_t p = 1u << 31;  // x^0
  for (std::size_t k = 3; n != 0; n >>= 1, ++k) {
    if (n & 1) p = multiply_mod(kPowers[k], p);
  }
  return p;
}

std::uint32_t combine(std::uint32_t crc_a, std::uint32_t crc_b, std::uint32_t shift_b) {
  return multiply_mod(shift_b, crc_a) ^ crc_b;
}

std::uint32_t extend_portable(std::uint32_t crc, const char* p, std::size_t n) {
  std::uint32_t c = ~crc;
  for (; n >= 8; n -= 8, p += 8) {
    std::uint64_t w = load_le64(p) ^ c;
    c = kTables[7][w & 0xFF] ^ kTables[6][(w >> 8) & 0xFF] ^ kTables[5][(w >> 16) & 0xFF] ^
        kTables[4][(w >> 24) & 0xFF] ^ kTables[3][(w >> 32) & 0xFF] ^
        kTables[2][(w >> 40) & 0xFF] ^ kTables[1][(w >> 48) & 0xFF] ^ kTables[0][w >> 56];
  }
  for (; n > 0; --n) c = (c >> 8) ^ kTables[0][(c ^ static_cast<std::uint8_t>(*p++)) & 0xFF];
  return ~c;
}

bool is_hardware_accelerated() {
#ifdef KEEL_CRC32C_HAVE_SSE42_PATH
  static const bool has = cpu_has_sse42();  // initialized once, thread-safe (magic static)
  return has;
#else
  return false;
#endif
}

std::uint32_t extend(std::uint32_t crc, const char* data, std::size_t n) {
#ifdef KEEL_CRC32C_HAVE_SSE42_PATH
  if (is_hardware_accelerated()) return extend_sse42(crc, data, n);
#endif
  return extend_portable(crc, data, n);
}

}  // namespace keel::internal::crc32c
