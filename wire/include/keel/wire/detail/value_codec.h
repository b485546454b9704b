// keel/wire/detail/value_codec.h: ValueCodec<T>, the encoder and decoder of
// each supported C++ type. Installed because the templates in
// keel/wire/value.h need it; not API. The byte layout is in
// keel/wire/detail/value_format.h and docs/wire-format.md.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "keel/base/status.h"
#include "keel/wire/detail/value_format.h"
#include "keel/wire/detail/value_io.h"
#include "keel/wire/value_tree.h"
#include "keel/wire/value_types.h"

namespace keel::wire {

namespace detail {

template <class>
inline constexpr bool kAlwaysFalse = false;

template <class T>
concept HasFields = requires { T::kFields; };

template <class T>
struct MemberOf;
template <class C, class V>
struct MemberOf<V C::*> {
  using Type = V;
};

template <class T>
bool decode_one(ValueReader& r, T& out) {
  return ValueCodec<T>::decode(r, out);
}
template <class T>
void encode_one(ValueWriter& w, const T& v) {
  ValueCodec<T>::encode(w, v);
}

// The primary template catches unsupported types with a readable error.
template <class T>
struct ValueCodec {
  static_assert(kAlwaysFalse<T>,
                "keel::wire: this type has no value encoding; give the struct a kFields list "
                "(keel::fields) or use a supported standard type");
};

template <>
struct ValueCodec<bool> {
  static void encode(ValueWriter& w, bool v) { w.tag(v ? ValueTag::kTrue : ValueTag::kFalse); }
  static bool decode(ValueReader& r, bool& v);
};

// Reads either integer tag into a 64-bit value with its sign.
bool read_integer(ValueReader& r, bool& negative, std::uint64_t& magnitude, std::string_view what);

template <class T>
  requires(std::is_integral_v<T> && !std::is_same_v<T, bool>)
struct ValueCodec<T> {
  static void encode(ValueWriter& w, T v) {
    if constexpr (std::is_signed_v<T>) {
      w.tag_varint(ValueTag::kSint, zigzag(static_cast<std::int64_t>(v)));
    } else {
      w.tag_varint(ValueTag::kUint, static_cast<std::uint64_t>(v));
    }
  }
  static bool decode(ValueReader& r, T& v) {
    bool negative = false;
    std::uint64_t m = 0;
    if (!read_integer(r, negative, m, "integer")) return false;
    if (negative) {
      // -m as int64 is representable for every m that read_integer returns.
      const std::int64_t s = -static_cast<std::int64_t>(m - 1) - 1;
      if constexpr (std::is_signed_v<T>) {
        if (s >= static_cast<std::int64_t>(std::numeric_limits<T>::min())) {
          v = static_cast<T>(s);
          return true;
        }
      }
      return r.fail("integer " + std::to_string(s) + " out of range for the type");
    }
    if (m > static_cast<std::uint64_t>(std::numeric_limits<T>::max())) {
      return r.fail("integer " + std::to_string(m) + " out of range for the type");
    }
    v = static_cast<T>(m);
    return true;
  }
};

template <class T>
  requires std::is_enum_v<T>
struct ValueCodec<T> {
  using U = std::underlying_type_t<T>;
  static void encode(ValueWriter& w, T v) { ValueCodec<U>::encode(w, static_cast<U>(v)); }
  static bool decode(ValueReader& r, T& v) {
    U u{};
    if (!ValueCodec<U>::decode(r, u)) return false;
    v = static_cast<T>(u);
    return true;
  }
};

template <>
struct ValueCodec<float> {
  static void encode(ValueWriter& w, float v) {
    w.tag(ValueTag::kFloat32);
    w.raw(&v, sizeof v);
  }
  static bool decode(ValueReader& r, float& v) {
    return r.expect_tag(ValueTag::kFloat32, "float") && r.fixed(&v, sizeof v);
  }
};

template <>
struct ValueCodec<double> {
  static void encode(ValueWriter& w, double v) {
    w.tag(ValueTag::kFloat64);
    w.raw(&v, sizeof v);
  }
  static bool decode(ValueReader& r, double& v);
};

template <>
struct ValueCodec<std::string> {
  static void encode(ValueWriter& w, const std::string& v) {
    w.tag(ValueTag::kString);
    w.sized(v);
  }
  static bool decode(ValueReader& r, std::string& v) {
    std::string_view s;
    if (!r.expect_tag(ValueTag::kString, "string") || !r.sized(s)) return false;
    v.assign(s);
    return true;
  }
};

// Encode-only text types.
template <>
struct ValueCodec<std::string_view> {
  static void encode(ValueWriter& w, std::string_view v) {
    w.tag(ValueTag::kString);
    w.sized(v);
  }
};
template <>
struct ValueCodec<const char*> {
  static void encode(ValueWriter& w, const char* v) {
    ValueCodec<std::string_view>::encode(w, std::string_view(v));
  }
};

template <>
struct ValueCodec<Bytes> {
  static void encode(ValueWriter& w, const Bytes& v) {
    w.tag(ValueTag::kBytes);
    w.sized(v.data);
  }
  static bool decode(ValueReader& r, Bytes& v) {
    std::string_view s;
    if (!r.expect_tag(ValueTag::kBytes, "bytes") || !r.sized(s)) return false;
    v.data.assign(s);
    return true;
  }
};

template <class A>
struct ValueCodec<std::vector<std::byte, A>> {
  static void encode(ValueWriter& w, const std::vector<std::byte, A>& v) {
    w.tag(ValueTag::kBytes);
    w.varint(v.size());
    w.raw(v.data(), v.size());
  }
  static bool decode(ValueReader& r, std::vector<std::byte, A>& v) {
    std::string_view s;
    if (!r.expect_tag(ValueTag::kBytes, "bytes") || !r.sized(s)) return false;
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    v.assign(p, p + s.size());
    return true;
  }
};

// Reads a container header: the tag, then a count of elements that each take
// at least `min_bytes_each` bytes.
inline bool read_header(ValueReader& r, ValueTag tag, std::string_view what, std::uint64_t& n,
                        std::size_t min_bytes_each) {
  return r.expect_tag(tag, what) && r.count(n, min_bytes_each) && r.enter();
}

template <class T, class A>
struct ValueCodec<std::vector<T, A>> {
  static void encode(ValueWriter& w, const std::vector<T, A>& v) {
    w.tag_varint(ValueTag::kList, v.size());
    for (const auto& x : v) encode_one<T>(w, x);
  }
  static bool decode(ValueReader& r, std::vector<T, A>& v) {
    std::uint64_t n = 0;
    if (!read_header(r, ValueTag::kList, "list", n, 1)) return false;
    v.clear();
    v.reserve(static_cast<std::size_t>(n));
    for (std::uint64_t i = 0; i < n; ++i) {
      T x{};
      if (!decode_one(r, x)) return false;
      v.push_back(std::move(x));
    }
    r.leave();
    return true;
  }
};

template <class T, std::size_t N>
struct ValueCodec<std::array<T, N>> {
  static void encode(ValueWriter& w, const std::array<T, N>& v) {
    w.tag_varint(ValueTag::kList, N);
    for (const auto& x : v) encode_one<T>(w, x);
  }
  static bool decode(ValueReader& r, std::array<T, N>& v) {
    std::uint64_t n = 0;
    if (!read_header(r, ValueTag::kList, "list", n, 1)) return false;
    if (n != N) return r.fail("list of " + std::to_string(n) + " for an array of " + std::to_string(N));
    for (auto& x : v) {
      if (!decode_one(r, x)) return false;
    }
    r.leave();
    return true;
  }
};

template <class M>
struct MapCodec {
  using K = typename M::key_type;
  using V = typename M::mapped_type;
  static bool decode(ValueReader& r, M& m) {
    std::uint64_t n = 0;
    if (!read_header(r, ValueTag::kMap, "map", n, 2)) return false;
    m.clear();
    for (std::uint64_t i = 0; i < n; ++i) {
      K k{};
      V v{};
      if (!decode_one(r, k) || !decode_one(r, v)) return false;
      if (!m.emplace(std::move(k), std::move(v)).second) return r.fail("duplicate map key");
    }
    r.leave();
    return true;
  }
};

template <class K, class V, class C, class A>
struct ValueCodec<std::map<K, V, C, A>> : MapCodec<std::map<K, V, C, A>> {
  static void encode(ValueWriter& w, const std::map<K, V, C, A>& m) {
    w.tag_varint(ValueTag::kMap, m.size());
    for (const auto& [k, v] : m) {
      encode_one<K>(w, k);
      encode_one<V>(w, v);
    }
  }
};

// Entries are written sorted by their encoded key, so equal maps encode to
// equal bytes whatever their hash order (journals compare payloads).
template <class K, class V, class H, class E, class A>
struct ValueCodec<std::unordered_map<K, V, H, E, A>> : MapCodec<std::unordered_map<K, V, H, E, A>> {
  static void encode(ValueWriter& w, const std::unordered_map<K, V, H, E, A>& m) {
    w.tag_varint(ValueTag::kMap, m.size());
    std::vector<std::pair<std::string, const V*>> sorted;
    sorted.reserve(m.size());
    for (const auto& [k, v] : m) {
      std::string key;
      ValueWriter kw(key);
      encode_one<K>(kw, k);
      sorted.emplace_back(std::move(key), &v);
    }
    std::sort(sorted.begin(), sorted.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [key, v] : sorted) {
      w.raw(key.data(), key.size());
      encode_one<V>(w, *v);
    }
  }
};

template <class T>
struct ValueCodec<std::optional<T>> {
  static void encode(ValueWriter& w, const std::optional<T>& v) {
    if (v) {
      encode_one<T>(w, *v);
    } else {
      w.tag(ValueTag::kNull);
    }
  }
  static bool decode(ValueReader& r, std::optional<T>& v) {
    std::uint8_t t = 0;
    if (r.peek_tag(t) && t == static_cast<std::uint8_t>(ValueTag::kNull)) {
      r.read_tag(t);
      v.reset();
      return true;
    }
    T x{};
    if (!decode_one(r, x)) return false;
    v = std::move(x);
    return true;
  }
};
template <class T>
struct ValueCodec<std::optional<std::optional<T>>> {
  static_assert(kAlwaysFalse<T>, "keel::wire: std::optional<std::optional<T>> is not encodable");
};

template <class... Ts>
struct ValueCodec<std::tuple<Ts...>> {
  static void encode(ValueWriter& w, const std::tuple<Ts...>& t) {
    w.tag_varint(ValueTag::kTuple, sizeof...(Ts));
    std::apply([&](const auto&... xs) { (encode_one<Ts>(w, xs), ...); }, t);
  }
  static bool decode(ValueReader& r, std::tuple<Ts...>& t) {
    std::uint64_t n = 0;
    if (!read_header(r, ValueTag::kTuple, "tuple", n, 1)) return false;
    if (n != sizeof...(Ts)) {
      return r.fail("tuple of " + std::to_string(n) + " for " + std::to_string(sizeof...(Ts)) +
                    " elements");
    }
    const bool ok = std::apply([&](auto&... xs) { return (decode_one(r, xs) && ...); }, t);
    if (ok) r.leave();
    return ok;
  }
};

template <class A, class B>
struct ValueCodec<std::pair<A, B>> {
  static void encode(ValueWriter& w, const std::pair<A, B>& p) {
    w.tag_varint(ValueTag::kTuple, 2);
    encode_one<A>(w, p.first);
    encode_one<B>(w, p.second);
  }
  static bool decode(ValueReader& r, std::pair<A, B>& p) {
    std::uint64_t n = 0;
    if (!read_header(r, ValueTag::kTuple, "pair", n, 1)) return false;
    if (n != 2) return r.fail("tuple of " + std::to_string(n) + " for a pair");
    if (!decode_one(r, p.first) || !decode_one(r, p.second)) return false;
    r.leave();
    return true;
  }
};

// Struct fields: tag, count, then (name, value) per field in kFields order.
template <class T>
  requires HasFields<T>
struct ValueCodec<T> {
  static constexpr std::size_t kCount = std::tuple_size_v<decltype(T::kFields.items)>;

  template <std::size_t I>
  static constexpr std::string_view name() {
    return std::get<I>(T::kFields.items).name;
  }
  template <std::size_t I>
  static constexpr auto member() {
    return member_of(std::get<I>(T::kFields.items));
  }
  template <auto M>
  static constexpr auto member_of(Field<M>) {
    return M;
  }

  static constexpr bool names_unique() {
    return []<std::size_t... I>(std::index_sequence<I...>) {
      std::array<std::string_view, kCount> names{name<I>()...};
      for (std::size_t a = 0; a < kCount; ++a) {
        for (std::size_t b = a + 1; b < kCount; ++b) {
          if (names[a] == names[b]) return false;
        }
      }
      return true;
    }(std::make_index_sequence<kCount>{});
  }
  static_assert(names_unique(), "keel::wire: two fields in kFields share a name");

  static void encode(ValueWriter& w, const T& v) {
    w.tag_varint(ValueTag::kStruct, kCount);
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((w.sized(name<I>()), encode_member<I>(w, v)), ...);
    }(std::make_index_sequence<kCount>{});
  }
  template <std::size_t I>
  static void encode_member(ValueWriter& w, const T& v) {
    using M = typename MemberOf<decltype(member<I>())>::Type;
    encode_one<M>(w, v.*member<I>());
  }
  template <std::size_t I>
  static bool decode_member(ValueReader& r, T& v) {
    return decode_one(r, v.*member<I>());
  }

  // The index of the field called `n`, trying `hint` (the next in order)
  // first; kCount when T has no such field.
  static std::size_t find(std::string_view n, std::size_t hint) {
    static constexpr auto kNames = []<std::size_t... I>(std::index_sequence<I...>) {
      return std::array<std::string_view, kCount>{name<I>()...};
    }(std::make_index_sequence<kCount>{});
    if (hint < kCount && kNames[hint] == n) return hint;
    for (std::size_t i = 0; i < kCount; ++i) {
      if (kNames[i] == n) return i;
    }
    return kCount;
  }

  static bool decode_field(ValueReader& r, std::size_t index, T& v) {
    return [&]<std::size_t... I>(std::index_sequence<I...>) {
      bool ok = false;
      // Short-circuits at the matching field.
      static_cast<void>(((index == I ? (ok = decode_member<I>(r, v), true) : false) || ...));
      return ok;
    }(std::make_index_sequence<kCount>{});
  }

  static bool decode(ValueReader& r, T& v) {
    std::uint64_t n = 0;
    if (!read_header(r, ValueTag::kStruct, "struct", n, 2)) return false;
    std::array<bool, kCount + 1> seen{};
    std::size_t next = 0;
    for (std::uint64_t i = 0; i < n; ++i) {
      std::string_view field_name;
      if (!r.sized(field_name)) return false;
      const std::size_t index = find(field_name, next);
      if (index == kCount) {
        if (!r.skip_value()) return false;  // written by a newer version
        continue;
      }
      if (seen[index]) return r.fail("field \"" + std::string(field_name) + "\" appears twice");
      seen[index] = true;
      if (!decode_field(r, index, v)) return false;
      next = index + 1;
    }
    r.leave();
    return true;
  }
};

// Arguments as given to encode_args: string literals become text.
template <class T>
using ArgType = std::conditional_t<std::is_array_v<T> || std::is_same_v<T, char*>, const char*, T>;

template <class T>
Result<T> decode_whole(std::string_view bytes) {
  ValueReader r(bytes);
  T value{};
  if (!ValueCodec<T>::decode(r, value)) return r.status();
  if (!r.at_end()) {
    r.fail(std::to_string(r.remaining()) + " trailing bytes after the value");
    return r.status();
  }
  return value;
}

}  // namespace detail

}  // namespace keel::wire
