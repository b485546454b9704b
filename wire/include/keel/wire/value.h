// keel/wire/value.h: a compact, self-describing encoding for plain C++
// values, used for durable message arguments and journal payloads. Every
// value carries a type tag (and structs carry their field names), so any
// encoded value can be rendered as JSON without the program that wrote it
// (keel/wire/value_tree.h). The bytes are in docs/wire-format.md.
//
// Supported: bool; all integer widths (zig-zag varints when signed); enums
// (as their underlying integer); float and double; std::string (and
// std::string_view / const char* for encoding); byte strings (wire::Bytes or
// std::vector<std::byte>); std::vector, std::array, std::map,
// std::unordered_map, std::optional, std::pair, std::tuple; wire::Value; and
// structs that list their fields:
//
//   struct Order {
//     std::string id;
//     int qty = 0;
//     static constexpr auto kFields =
//         keel::fields(keel::field<&Order::id>("id"), keel::field<&Order::qty>("qty"));
//   };
//   std::string bytes = keel::wire::encode_value(Order{"A-17", 3});
//   KEEL_ASSIGN_OR_RETURN(Order o, keel::wire::decode_value<Order>(bytes));
//   std::string args = keel::wire::encode_args(std::string("A-17"), 3);
//   KEEL_ASSIGN_OR_RETURN(auto t, (keel::wire::decode_args<std::string, int>(args)));
//
// Decoding is tolerant where evolution needs it and strict elsewhere:
// - an integer decodes from either integer tag when its value fits the type;
//   a double decodes from float32 or float64;
// - struct fields match by name: fields missing from the bytes keep their
//   default value and unknown fields are skipped, so fields can be added and
//   removed; a field present twice is corruption;
// - anything else that does not match the type, truncated or garbage bytes,
//   trailing bytes and nesting deeper than kMaxValueDepth return
//   kCorruption. Decoding never reads out of bounds and never throws.
// Decoded types must be default-constructible. std::optional<std::optional<T>>
// is not supported (both empty states would encode as null).
//
// Every function here is thread-safe: none keeps state between calls.
#pragma once

#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>

#include "keel/base/status.h"
#include "keel/wire/detail/value_codec.h"
#include "keel/wire/detail/value_format.h"
#include "keel/wire/detail/value_io.h"
#include "keel/wire/value_tree.h"
#include "keel/wire/value_types.h"

namespace keel::wire {

// Encodes `value` with its type tags (and field names). Never fails. Values
// nested deeper than kMaxValueDepth encode, but do not decode.
template <class T>
std::string encode_value(const T& value) {
  std::string out;
  detail::ValueWriter w(out);
  detail::ValueCodec<detail::ArgType<T>>::encode(w, value);
  return out;
}

// Appends the encoding of `value` to `out` (reuses its capacity).
template <class T>
void append_value(std::string& out, const T& value) {
  detail::ValueWriter w(out);
  detail::ValueCodec<detail::ArgType<T>>::encode(w, value);
}

// Decodes a whole value of type T. Errors: kCorruption when the bytes are not
// exactly one value of a type that decodes into T (see the rules at the top),
// with the byte offset in the message.
template <class T>
Result<T> decode_value(std::string_view bytes) {
  return detail::decode_whole<T>(bytes);
}

// Encodes handler arguments as one tuple value, as durable messages carry
// them. Renders in JSON as an array.
template <class... Args>
std::string encode_args(const Args&... args) {
  std::string out;
  detail::ValueWriter w(out);
  w.tag_varint(ValueTag::kTuple, sizeof...(Args));
  (detail::ValueCodec<detail::ArgType<Args>>::encode(w, args), ...);
  return out;
}

// Decodes what encode_args wrote into a tuple of the argument types (cv and
// references are removed). Errors: as decode_value, including a tuple of a
// different length.
template <class... Args>
Result<std::tuple<std::remove_cvref_t<Args>...>> decode_args(std::string_view bytes) {
  return detail::decode_whole<std::tuple<std::remove_cvref_t<Args>...>>(bytes);
}

}  // namespace keel::wire
