// Types shared by the wire value tests: structs that list their fields, and
// enums.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "keel/wire/value.h"

namespace keel::wire::testing {

enum class Color : std::uint8_t { kRed = 1, kBlue = 200 };
enum Temperature : std::int16_t { kCold = -40, kHot = 300 };

struct Order {
  std::string id;
  int qty = 0;
  static constexpr auto kFields =
      keel::fields(keel::field<&Order::id>("id"), keel::field<&Order::qty>("qty"));
  friend bool operator==(const Order&, const Order&) = default;
};

// Order with a field added: old bytes decode with the new field defaulted.
struct OrderV2 {
  std::string id;
  int qty = 0;
  std::string note = "none";
  static constexpr auto kFields =
      keel::fields(keel::field<&OrderV2::id>("id"), keel::field<&OrderV2::qty>("qty"),
                   keel::field<&OrderV2::note>("note"));
  friend bool operator==(const OrderV2&, const OrderV2&) = default;
};

struct Line {
  std::string sku;
  std::uint32_t count = 0;
  double price = 0;
  static constexpr auto kFields =
      keel::fields(keel::field<&Line::sku>("sku"), keel::field<&Line::count>("count"),
                   keel::field<&Line::price>("price"));
  friend bool operator==(const Line&, const Line&) = default;
};

struct Basket {
  std::string owner;
  std::vector<Line> lines;
  std::map<std::string, std::int64_t> tags;
  std::optional<Order> last;
  Color color = Color::kRed;
  Bytes blob;
  static constexpr auto kFields = keel::fields(
      keel::field<&Basket::owner>("owner"), keel::field<&Basket::lines>("lines"),
      keel::field<&Basket::tags>("tags"), keel::field<&Basket::last>("last"),
      keel::field<&Basket::color>("color"), keel::field<&Basket::blob>("blob"));
  friend bool operator==(const Basket&, const Basket&) = default;
};

inline Basket sample_basket() {
  Basket b;
  b.owner = "ada";
  b.lines = {{"apple", 3, 0.5}, {"pear", 1, 1.25}};
  b.tags = {{"prio", -1}, {"zone", 7}};
  b.last = Order{"A-17", 3};
  b.color = Color::kBlue;
  b.blob.data = std::string("\x00\x01\xfe", 3);
  return b;
}

}  // namespace keel::wire::testing
