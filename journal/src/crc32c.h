// crc32c.h: CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected), the
// checksum of every journal record. Uses the SSE4.2 crc32 instruction when the
// CPU has it (checked once at run time), else a slicing-by-8 table.
//
//   std::uint32_t c = keel::internal::crc32c::value("123456789", 9);  // 0xE3069283
//   c = keel::internal::crc32c::extend(c, more.data(), more.size());
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace keel::internal::crc32c {

// Returns the CRC-32C of data[0, n) appended to a stream whose CRC-32C so far
// is `crc` (0 for an empty stream). Thread-safe.
std::uint32_t extend(std::uint32_t crc, const char* data, std::size_t n);

// Returns the CRC-32C of data[0, n). Thread-safe.
inline std::uint32_t value(const char* data, std::size_t n) { return extend(0, data, n); }
inline std::uint32_t value(std::string_view s) { return extend(0, s.data(), s.size()); }

// Combining. crc32c(A + B) == combine(crc32c(A), crc32c(B), shift_for(B.size())):
// so the CRC of a long tail (a record's payload) can be computed on one
// thread, and joined to the CRC of what precedes it on another. shift_for
// depends only on the length and may be computed ahead. Thread-safe.
std::uint32_t shift_for(std::size_t n);
std::uint32_t combine(std::uint32_t crc_a, std::uint32_t crc_b, std::uint32_t shift_b);

// The portable implementation, exposed so tests can compare it with the
// hardware one on the same input. Thread-safe.
std::uint32_t extend_portable(std::uint32_t crc, const char* data, std::size_t n);
// Whether extend() uses the SSE4.2 instruction on this CPU.
bool is_hardware_accelerated();

}  // namespace keel::internal::crc32c
