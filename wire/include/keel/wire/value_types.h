// keel/wire/value_types.h: the vocabulary of the self-describing value
// encoding (keel/wire/value.h): keel::field / keel::fields, with which a
// struct lists its serialized members, and wire::Bytes, a byte string.
//
//   struct Order {
//     std::string id;
//     int qty = 0;
//     static constexpr auto kFields =
//         keel::fields(keel::field<&Order::id>("id"), keel::field<&Order::qty>("qty"));
//   };
//   keel::wire::Bytes blob{std::string("\x00\x01", 2)};  // base64 in JSON
#pragma once

#include <compare>
#include <string>
#include <string_view>
#include <tuple>

namespace keel {

// One serialized field of a struct: a data member and its stable name (the
// name is written into every encoding and appears in JSON).
template <auto M>
struct Field {
  std::string_view name;
};
template <auto M>
constexpr Field<M> field(std::string_view name) {
  return Field<M>{name};
}
template <class... Fs>
struct FieldList {
  std::tuple<Fs...> items;
};
// A struct lists its fields as
//   static constexpr auto kFields = keel::fields(keel::field<&Order::id>("id"), ...);
template <class... Fs>
constexpr FieldList<Fs...> fields(Fs... fs) {
  return FieldList<Fs...>{{fs...}};
}

}  // namespace keel

namespace keel::wire {

// A byte string: encoded with the bytes tag (base64 in JSON), unlike
// std::string, which is text.
struct Bytes {
  std::string data;
  friend bool operator==(const Bytes&, const Bytes&) = default;
  friend auto operator<=>(const Bytes&, const Bytes&) = default;
};

}  // namespace keel::wire
