// keel/wire/detail/value_format.h: the constants of Keel's self-describing
// value encoding (keel/wire/value.h). Installed because the templates in
// keel/wire/value.h need them; not API. docs/wire-format.md describes the
// bytes.
//
// Every value starts with a one-byte tag; what follows depends on the tag.
// Lengths and counts are unsigned LEB128 varints; signed integers are
// zig-zag varints; floats are IEEE 754 little-endian.
//
//   tag      name     body
//   0x00     null     (none)                  std::optional without a value
//   0x01     false    (none)
//   0x02     true     (none)
//   0x03     uint     varint
//   0x04     sint     zig-zag varint
//   0x05     float32  4 bytes
//   0x06     float64  8 bytes
//   0x07     string   varint length, bytes    UTF-8 expected, not enforced
//   0x08     bytes    varint length, bytes
//   0x09     list     varint count, values
//   0x0A     map      varint count, key value key value ...
//   0x0B     tuple    varint count, values
//   0x0C     struct   varint count, (varint name length, name, value) ...
//
// Tags 0x0D-0xFF are reserved: a decoder reports them as corruption.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace keel::wire {

enum class ValueTag : std::uint8_t {
  kNull = 0x00,
  kFalse = 0x01,
  kTrue = 0x02,
  kUint = 0x03,
  kSint = 0x04,
  kFloat32 = 0x05,
  kFloat64 = 0x06,
  kString = 0x07,
  kBytes = 0x08,
  kList = 0x09,
  kMap = 0x0A,
  kTuple = 0x0B,
  kStruct = 0x0C,
};
inline constexpr std::uint8_t kMaxValueTag = 0x0C;

// Containers, tuples and structs nested deeper than this fail to decode
// (kCorruption), which bounds the decoder's recursion.
inline constexpr int kMaxValueDepth = 64;

// A varint is at most 10 bytes (64 bits, 7 per byte).
inline constexpr std::size_t kMaxVarintBytes = 10;

// "uint", "struct", ...; "reserved" for an unknown tag.
constexpr std::string_view value_tag_name(std::uint8_t tag) {
  constexpr std::string_view kNames[] = {"null",   "false", "true",  "uint",  "sint",
                                         "float32", "float64", "string", "bytes", "list",
                                         "map",    "tuple", "struct"};
  return tag <= kMaxValueTag ? kNames[tag] : "reserved";
}

}  // namespace keel::wire
