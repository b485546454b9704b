// keel/wire/value_tree.h: Value, a dynamic tree of any self-describing
// encoded value, and its JSON rendering. This is how a tool reads payloads
// without the program that wrote them (the journal inspector, logs).
//
//   std::string bytes = keel::wire::encode_value(order);   // keel/wire/value.h
//   KEEL_ASSIGN_OR_RETURN(std::string json, keel::wire::value_to_json(bytes));
//   // json == R"({"id":"A-17","qty":3})"
//   KEEL_ASSIGN_OR_RETURN(keel::wire::Value v, keel::wire::parse_value(bytes));
//   if (const keel::wire::Value* qty = v.find("qty")) use(qty->sint_value);
//
// JSON rendering (compact, no spaces): null, true/false; integers as exact
// decimal numbers; floats in shortest round-trip form, with NaN and
// infinities as the strings "NaN", "Infinity", "-Infinity"; strings escaped
// (invalid UTF-8 becomes U+FFFD); bytes as a base64 string (RFC 4648, with
// padding); lists and tuples as arrays; structs as objects in field order;
// maps as objects when every key is a string, otherwise as arrays of
// [key, value] pairs.
//
// parse_value and value_to_json are thread-safe (no shared state).
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "keel/base/status.h"
#include "keel/wire/detail/value_format.h"
#include "keel/wire/detail/value_io.h"

namespace keel::wire {

enum class ValueKind : std::uint8_t {
  kNull,
  kBool,
  kUint,
  kSint,
  kFloat32,
  kFloat64,
  kString,
  kBytes,
  kList,
  kMap,
  kTuple,
  kStruct,
};

struct ValueEntry;
struct ValueField;

// One decoded value of any type. Only the members of its kind are
// meaningful. A copyable, comparable value; thread-compatible.
struct Value {
  ValueKind kind = ValueKind::kNull;
  bool bool_value = false;
  std::uint64_t uint_value = 0;
  std::int64_t sint_value = 0;
  double float_value = 0;        // kFloat32 (widened exactly) and kFloat64
  std::string text;              // kString and kBytes
  std::vector<Value> items;      // kList and kTuple
  std::vector<ValueEntry> entries;  // kMap, in encoded order
  std::vector<ValueField> fields;   // kStruct, in encoded order

  // The struct field called `name`, or null (also when not a struct).
  const Value* find(std::string_view name) const;
  // Compact JSON, as described at the top of this header.
  std::string to_json() const;

  // Same kind and content; floats compare by bit pattern (NaN equals an
  // identical NaN; 0.0 and -0.0 differ).
  friend bool operator==(const Value& a, const Value& b);
};

// Writes v.to_json() (for logs and test failures).
std::ostream& operator<<(std::ostream& os, const Value& v);

struct ValueEntry {
  Value key;
  Value value;
  friend bool operator==(const ValueEntry&, const ValueEntry&) = default;
};

struct ValueField {
  std::string name;
  Value value;
  friend bool operator==(const ValueField&, const ValueField&) = default;
};

// Decodes any self-describing value into a tree. Errors: kCorruption for
// truncated input, reserved tags, trailing bytes after the value, or nesting
// deeper than kMaxValueDepth; the message gives the byte offset.
Result<Value> parse_value(std::string_view bytes);

// Renders any self-describing value as compact JSON. Errors: as parse_value.
Result<std::string> value_to_json(std::string_view bytes);

// Parses JSON text (RFC 8259) into a tree that encode_value turns into
// bytes a typed decode_value accepts: null; true/false; integers as kUint
// (or kSint when negative), so they decode into any integer type they fit;
// numbers with a fraction or exponent (or beyond 64 bits) as kFloat64;
// strings; arrays as kList (they decode into std::vector, not tuples);
// objects as kStruct with fields in order (they decode into structs by
// field name, not into maps). Errors: kInvalidArgument naming the byte
// offset (malformed JSON, a duplicate key, nesting deeper than
// kMaxValueDepth, trailing characters).
Result<Value> value_from_json(std::string_view json);

namespace detail {
// Value as a member of typed values (e.g. std::map<std::string, Value>):
// it encodes back to the bytes it was parsed from.
template <>
struct ValueCodec<Value> {
  static void encode(ValueWriter& w, const Value& v);
  static bool decode(ValueReader& r, Value& v);
};
}  // namespace detail

}  // namespace keel::wire
