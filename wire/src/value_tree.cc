// Value: parsing any self-describing value into a tree, encoding a tree back,
// and rendering it as JSON.
#include "keel/wire/value_tree.h"

#include <bit>
#include <charconv>
#include <ostream>
#include <cmath>
#include <string>

namespace keel::wire {
namespace {

using detail::ValueReader;
using detail::ValueWriter;

bool parse_list(ValueReader& r, std::size_t n, std::vector<Value>& items);

bool parse(ValueReader& r, Value& v) {
  std::uint8_t t = 0;
  if (!r.read_tag(t)) return false;
  std::uint64_t n = 0;
  std::string_view s;
  switch (static_cast<ValueTag>(t)) {
    case ValueTag::kNull:
      v.kind = ValueKind::kNull;
      return true;
    case ValueTag::kFalse:
    case ValueTag::kTrue:
      v.kind = ValueKind::kBool;
      v.bool_value = static_cast<ValueTag>(t) == ValueTag::kTrue;
      return true;
    case ValueTag::kUint:
      v.kind = ValueKind::kUint;
      return r.varint(v.uint_value);
    case ValueTag::kSint:
      v.kind = ValueKind::kSint;
      if (!r.varint(n)) return false;
      v.sint_value = detail::unzigzag(n);
      return true;
    case ValueTag::kFloat32: {
      v.kind = ValueKind::kFloat32;
      float f = 0;
      if (!r.fixed(&f, sizeof f)) return false;
      v.float_value = f;
      return true;
    }
    case ValueTag::kFloat64:
      v.kind = ValueKind::kFloat64;
      return r.fixed(&v.float_value, sizeof v.float_value);
    case ValueTag::kString:
    case ValueTag::kBytes:
      v.kind = static_cast<ValueTag>(t) == ValueTag::kString ? ValueKind::kString : ValueKind::kBytes;
      if (!r.sized(s)) return false;
      v.text.assign(s);
      return true;
    case ValueTag::kList:
    case ValueTag::kTuple:
      v.kind = static_cast<ValueTag>(t) == ValueTag::kList ? ValueKind::kList : ValueKind::kTuple;
      if (!r.count(n, 1) || !r.enter()) return false;
      if (!parse_list(r, static_cast<std::size_t>(n), v.items)) return false;
      r.leave();
      return true;
    case ValueTag::kMap:
      v.kind = ValueKind::kMap;
      if (!r.count(n, 2) || !r.enter()) return false;
      v.entries.resize(static_cast<std::size_t>(n));
      for (ValueEntry& e : v.entries) {
        if (!parse(r, e.key) || !parse(r, e.value)) return false;
      }
      r.leave();
      return true;
    case ValueTag::kStruct:
      v.kind = ValueKind::kStruct;
      if (!r.count(n, 2) || !r.enter()) return false;
      v.fields.resize(static_cast<std::size_t>(n));
      for (ValueField& f : v.fields) {
        if (!r.sized(s)) return false;
        f.name.assign(s);
        if (!parse(r, f.value)) return false;
      }
      r.leave();
      return true;
  }
  return r.fail("reserved tag");
}

bool parse_list(ValueReader& r, std::size_t n, std::vector<Value>& items) {
  items.resize(n);
  for (Value& item : items) {
    if (!parse(r, item)) return false;
  }
  return true;
}

void encode_tree(ValueWriter& w, const Value& v) {
  switch (v.kind) {
    case ValueKind::kNull: w.tag(ValueTag::kNull); return;
    case ValueKind::kBool: w.tag(v.bool_value ? ValueTag::kTrue : ValueTag::kFalse); return;
    case ValueKind::kUint: w.tag_varint(ValueTag::kUint, v.uint_value); return;
    case ValueKind::kSint: w.tag_varint(ValueTag::kSint, detail::zigzag(v.sint_value)); return;
    case ValueKind::kFloat32: {
      const auto f = static_cast<float>(v.float_value);
      w.tag(ValueTag::kFloat32);
      w.raw(&f, sizeof f);
      return;
    }
    case ValueKind::kFloat64:
      w.tag(ValueTag::kFloat64);
      w.raw(&v.float_value, sizeof v.float_value);
      return;
    case ValueKind::kString:
    case ValueKind::kBytes:
      w.tag(v.kind == ValueKind::kString ? ValueTag::kString : ValueTag::kBytes);
      w.sized(v.text);
      return;
    case ValueKind::kList:
    case ValueKind::kTuple:
      w.tag_varint(v.kind == ValueKind::kList ? ValueTag::kList : ValueTag::kTuple, v.items.size());
      for (const Value& item : v.items) encode_tree(w, item);
      return;
    case ValueKind::kMap:
      w.tag_varint(ValueTag::kMap, v.entries.size());
      for (const ValueEntry& e : v.entries) {
        encode_tree(w, e.key);
        encode_tree(w, e.value);
      }
      return;
    case ValueKind::kStruct:
      w.tag_varint(ValueTag::kStruct, v.fields.size());
      for (const ValueField& f : v.fields) {
        w.sized(f.name);
        encode_tree(w, f.value);
      }
      return;
  }
}

// ---- JSON ----------------------------------------------------------------

// The length of the valid UTF-8 sequence at s[i], or 0 if it is invalid
// (overlong forms, surrogates and code points past U+10FFFF are invalid).
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  std::size_t n = 0;
  unsigned char lo = 0x80, hi = 0xBF;  // bounds for the second byte
  if (b0 < 0x80) return 1;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    n = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    n = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    n = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if (k == 1 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) return 0;
  }
  return n;
}

void json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"': out += "\\\""; ++i; continue;
      case '\\': out += "\\\\"; ++i; continue;
      case '\n': out += "\\n"; ++i; continue;
      case '\r': out += "\\r"; ++i; continue;
      case '\t': out += "\\t"; ++i; continue;
      case '\b': out += "\\b"; ++i; continue;
      case '\f': out += "\\f"; ++i; continue;
      default: break;
    }
    if (c < 0x20) {
      out += "\\u00";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
      ++i;
      continue;
    }
    const std::size_t n = utf8_sequence_length(s, i);
    if (n == 0) {
      out += "\\ufffd";
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  out.push_back('"');
}

void json_base64(std::string& out, std::string_view s) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  out.push_back('"');
  std::size_t i = 0;
  auto byte = [&](std::size_t k) { return static_cast<std::uint32_t>(static_cast<unsigned char>(s[k])); };
  for (; i + 3 <= s.size(); i += 3) {
    const std::uint32_t v = byte(i) << 16 | byte(i + 1) << 8 | byte(i + 2);
    for (int shift = 18; shift >= 0; shift -= 6) out.push_back(kAlphabet[(v >> shift) & 63]);
  }
  if (const std::size_t rest = s.size() - i; rest > 0) {
    const std::uint32_t v = byte(i) << 16 | (rest == 2 ? byte(i + 1) << 8 : 0);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(rest == 2 ? kAlphabet[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  out.push_back('"');
}

template <class F>
void json_float(std::string& out, F f) {
  if (std::isnan(f)) {
    out += "\"NaN\"";
  } else if (std::isinf(f)) {
    out += f > 0 ? "\"Infinity\"" : "\"-Infinity\"";
  } else {
    char buf[64];
    const auto res = std::to_chars(buf, buf + sizeof buf, f);
    out.append(buf, res.ptr);
  }
}

template <class I>
void json_integer(std::string& out, I i) {
  char buf[24];
  const auto res = std::to_chars(buf, buf + sizeof buf, i);
  out.append(buf, res.ptr);
}

void json(std::string& out, const Value& v) {
  switch (v.kind) {
    case ValueKind::kNull: out += "null"; return;
    case ValueKind::kBool: out += v.bool_value ? "true" : "false"; return;
    case ValueKind::kUint: json_integer(out, v.uint_value); return;
    case ValueKind::kSint: json_integer(out, v.sint_value); return;
    case ValueKind::kFloat32: json_float(out, static_cast<float>(v.float_value)); return;
    case ValueKind::kFloat64: json_float(out, v.float_value); return;
    case ValueKind::kString: json_string(out, v.text); return;
    case ValueKind::kBytes: json_base64(out, v.text); return;
    case ValueKind::kList:
    case ValueKind::kTuple:
      out.push_back('[');
      for (std::size_t i = 0; i < v.items.size(); ++i) {
        if (i > 0) out.push_back(',');
        json(out, v.items[i]);
      }
      out.push_back(']');
      return;
    case ValueKind::kMap: {
      bool string_keys = true;
      for (const ValueEntry& e : v.entries) string_keys &= e.key.kind == ValueKind::kString;
      out.push_back(string_keys ? '{' : '[');
      for (std::size_t i = 0; i < v.entries.size(); ++i) {
        if (i > 0) out.push_back(',');
        if (!string_keys) out.push_back('[');
        json(out, v.entries[i].key);
        out.push_back(string_keys ? ':' : ',');
        json(out, v.entries[i].value);
        if (!string_keys) out.push_back(']');
      }
      out.push_back(string_keys ? '}' : ']');
      return;
    }
    case ValueKind::kStruct:
      out.push_back('{');
      for (std::size_t i = 0; i < v.fields.size(); ++i) {
        if (i > 0) out.push_back(',');
        json_string(out, v.fields[i].name);
        out.push_back(':');
        json(out, v.fields[i].value);
      }
      out.push_back('}');
      return;
  }
}

}  // namespace

const Value* Value::find(std::string_view name) const {
  if (kind != ValueKind::kStruct) return nullptr;
  for (const ValueField& f : fields) {
    if (f.name == name) return &f.value;
  }
  return nullptr;
}

std::string Value::to_json() const {
  std::string out;
  json(out, *this);
  return out;
}

bool operator==(const Value& a, const Value& b) {
  if (a.kind != b.kind) return false;
  switch (a.kind) {
    case ValueKind::kNull: return true;
    case ValueKind::kBool: return a.bool_value == b.bool_value;
    case ValueKind::kUint: return a.uint_value == b.uint_value;
    case ValueKind::kSint: return a.sint_value == b.sint_value;
    case ValueKind::kFloat32:
    case ValueKind::kFloat64:  // bitwise: NaN equals itself, 0.0 differs from -0.0
      return std::bit_cast<std::uint64_t>(a.float_value) ==
             std::bit_cast<std::uint64_t>(b.float_value);
    case ValueKind::kString:
    case ValueKind::kBytes: return a.text == b.text;
    case ValueKind::kList:
    case ValueKind::kTuple: return a.items == b.items;
    case ValueKind::kMap: return a.entries == b.entries;
    case ValueKind::kStruct: return a.fields == b.fields;
  }
  return false;
}

std::ostream& operator<<(std::ostream& os, const Value& v) { return os << v.to_json(); }

Result<Value> parse_value(std::string_view bytes) {
  ValueReader r(bytes);
  Value v;
  if (!parse(r, v)) return r.status();
  if (!r.at_end()) {
    r.fail(std::to_string(r.remaining()) + " trailing bytes after the value");
    return r.status();
  }
  return v;
}

Result<std::string> value_to_json(std::string_view bytes) {
  KEEL_ASSIGN_OR_RETURN(Value v, parse_value(bytes));
  return v.to_json();
}

namespace detail {
void ValueCodec<Value>::encode(ValueWriter& w, const Value& v) { encode_tree(w, v); }
bool ValueCodec<Value>::decode(ValueReader& r, Value& v) {
  v = Value();
  return parse(r, v);
}
}  // namespace detail

}  // namespace keel::wire
