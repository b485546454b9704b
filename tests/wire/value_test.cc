#include "keel/wire/value.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <cstddef>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

#include "wire/test_values.h"

namespace keel::wire {
namespace {

using testing::Basket;
using testing::Color;
using testing::Line;
using testing::Order;
using testing::OrderV2;
using testing::Temperature;

// Encodes, decodes as T and checks equality; also checks that the generic
// parser reads the bytes and encodes them back unchanged.
template <class T>
void expect_round_trip(const T& v) {
  const std::string bytes = encode_value(v);
  Result<T> back = decode_value<T>(bytes);
  ASSERT_TRUE(back.has_value()) << back.status();
  EXPECT_EQ(*back, v);
  Result<Value> tree = parse_value(bytes);
  ASSERT_TRUE(tree.has_value()) << tree.status();
  EXPECT_EQ(encode_value(*tree), bytes);
}

template <class T>
StatusCode decode_code(std::string_view bytes) {
  return decode_value<T>(bytes).status().code();
}

TEST(Value, BoolsRoundTrip) {
  expect_round_trip(true);
  expect_round_trip(false);
  EXPECT_EQ(encode_value(true), "\x02");
}

template <class T>
void expect_integer_limits_round_trip() {
  expect_round_trip<T>(0);
  expect_round_trip<T>(1);
  expect_round_trip<T>(std::numeric_limits<T>::min());
  expect_round_trip<T>(std::numeric_limits<T>::max());
  if constexpr (std::is_signed_v<T>) expect_round_trip<T>(-1);
}

TEST(Value, EveryIntegerWidthRoundTripsAtItsLimits) {
  expect_integer_limits_round_trip<std::int8_t>();
  expect_integer_limits_round_trip<std::int16_t>();
  expect_integer_limits_round_trip<std::int32_t>();
  expect_integer_limits_round_trip<std::int64_t>();
  expect_integer_limits_round_trip<std::uint8_t>();
  expect_integer_limits_round_trip<std::uint16_t>();
  expect_integer_limits_round_trip<std::uint32_t>();
  expect_integer_limits_round_trip<std::uint64_t>();
  expect_integer_limits_round_trip<char>();
  expect_integer_limits_round_trip<long long>();
}

TEST(Value, SignedIntegersAreZigZagVarints) {
  EXPECT_EQ(encode_value(0), std::string("\x04\x00", 2));
  EXPECT_EQ(encode_value(-1), "\x04\x01");
  EXPECT_EQ(encode_value(1), "\x04\x02");
  EXPECT_EQ(encode_value(-64), "\x04\x7f");
  EXPECT_EQ(encode_value(64), "\x04\x80\x01");
  EXPECT_EQ(encode_value(std::uint8_t{200}), "\x03\xc8\x01");
}

TEST(Value, IntegersDecodeFromEitherTagWhenTheValueFits) {
  EXPECT_EQ(decode_value<std::int32_t>(encode_value(std::uint64_t{5})).value(), 5);
  EXPECT_EQ(decode_value<std::uint16_t>(encode_value(std::int64_t{65535})).value(), 65535);
  EXPECT_EQ(decode_value<std::int64_t>(encode_value(std::int8_t{-7})).value(), -7);
}

TEST(Value, IntegerOutOfRangeForTheTypeIsCorruption) {
  EXPECT_EQ(decode_code<std::uint8_t>(encode_value(256)), StatusCode::kCorruption);
  EXPECT_EQ(decode_code<std::uint32_t>(encode_value(-1)), StatusCode::kCorruption);
  EXPECT_EQ(decode_code<std::int8_t>(encode_value(-129)), StatusCode::kCorruption);
  EXPECT_EQ(decode_code<std::int64_t>(encode_value(std::numeric_limits<std::uint64_t>::max())),
            StatusCode::kCorruption);
}

TEST(Value, EnumsRoundTripAsTheirUnderlyingInteger) {
  expect_round_trip(Color::kBlue);
  expect_round_trip(Temperature::kCold);
  EXPECT_EQ(encode_value(Color::kBlue), encode_value(std::uint8_t{200}));
  EXPECT_EQ(encode_value(Temperature::kCold), encode_value(std::int16_t{-40}));
}

TEST(Value, FloatsAndDoublesRoundTripBitForBit) {
  expect_round_trip(1.5f);
  expect_round_trip(-0.0);
  expect_round_trip(3.141592653589793);
  expect_round_trip(std::numeric_limits<double>::infinity());
  expect_round_trip(std::numeric_limits<double>::denorm_min());
  expect_round_trip(std::numeric_limits<float>::max());
  Result<double> nan = decode_value<double>(encode_value(std::nan("")));
  ASSERT_TRUE(nan.has_value());
  EXPECT_TRUE(std::isnan(*nan));
  EXPECT_EQ(encode_value(1.0f).size(), 5u);
  EXPECT_EQ(encode_value(1.0).size(), 9u);
}

TEST(Value, DoubleDecodesFromFloat32ButFloatNotFromFloat64) {
  EXPECT_EQ(decode_value<double>(encode_value(0.25f)).value(), 0.25);
  EXPECT_EQ(decode_code<float>(encode_value(0.25)), StatusCode::kCorruption);
}

TEST(Value, StringsRoundTripIncludingEmptyAndBinaryContent) {
  expect_round_trip(std::string());
  expect_round_trip(std::string("hello"));
  expect_round_trip(std::string("nul\0inside\xff", 11));
  expect_round_trip(std::string(1000, 'z'));
  EXPECT_EQ(encode_value(std::string("hi")), "\x07\x02hi");
}

TEST(Value, StringViewsAndLiteralsEncodeAsStrings) {
  EXPECT_EQ(encode_value(std::string_view("hi")), encode_value(std::string("hi")));
  EXPECT_EQ(encode_value("hi"), encode_value(std::string("hi")));
}

TEST(Value, ByteStringsRoundTripWithTheirOwnTag) {
  expect_round_trip(Bytes{std::string("\x00\x01\x02", 3)});
  expect_round_trip(std::vector<std::byte>{std::byte{0}, std::byte{255}});
  EXPECT_EQ(encode_value(Bytes{"ab"}), "\x08\x02" "ab");
  EXPECT_EQ(decode_code<std::string>(encode_value(Bytes{"ab"})), StatusCode::kCorruption);
}

TEST(Value, VectorsRoundTripIncludingEmptyAndBools) {
  expect_round_trip(std::vector<int>{});
  expect_round_trip(std::vector<int>{1, -2, 3});
  expect_round_trip(std::vector<bool>{true, false, true});
  expect_round_trip(std::vector<std::string>{"a", "", "c"});
  expect_round_trip(std::vector<std::uint8_t>{1, 2, 255});
}

TEST(Value, ArraysRoundTripAndCheckTheirLength) {
  expect_round_trip(std::array<int, 3>{1, 2, 3});
  EXPECT_EQ((decode_code<std::array<int, 2>>(encode_value(std::vector<int>{1, 2, 3}))),
            StatusCode::kCorruption);
}

TEST(Value, MapsRoundTrip) {
  expect_round_trip(std::map<std::string, int>{});
  expect_round_trip(std::map<std::string, int>{{"a", 1}, {"b", -2}});
  expect_round_trip(std::map<int, std::vector<std::string>>{{3, {"x"}}, {-1, {}}});
  expect_round_trip(std::unordered_map<std::string, double>{{"pi", 3.14}, {"e", 2.71}});
}

TEST(Value, UnorderedMapsEncodeInAStableOrder) {
  std::unordered_map<int, int> a, b;
  for (int i = 0; i < 100; ++i) a.emplace(i, i * i);
  for (int i = 99; i >= 0; --i) b.emplace(i, i * i);
  b.rehash(512);
  EXPECT_EQ(encode_value(a), encode_value(b));
}

TEST(Value, DuplicateMapKeyIsCorruption) {
  // map of 2 entries, both with key "a".
  const std::string bytes = "\x0a\x02" "\x07\x01" "a" "\x04\x02" "\x07\x01" "a" "\x04\x04";
  EXPECT_EQ((decode_code<std::map<std::string, int>>(bytes)), StatusCode::kCorruption);
}

TEST(Value, OptionalsRoundTripAsNullOrTheValue) {
  expect_round_trip(std::optional<int>());
  expect_round_trip(std::optional<int>(5));
  expect_round_trip(std::vector<std::optional<std::string>>{"a", std::nullopt, "c"});
  EXPECT_EQ(encode_value(std::optional<int>()), std::string("\x00", 1));
  EXPECT_EQ(encode_value(std::optional<int>(1)), encode_value(1));
}

TEST(Value, TuplesAndPairsRoundTrip) {
  expect_round_trip(std::tuple<>());
  expect_round_trip(std::tuple<int, std::string, bool>(1, "two", true));
  expect_round_trip(std::pair<std::string, double>("x", 0.5));
  expect_round_trip(std::vector<std::pair<int, int>>{{1, 2}, {3, 4}});
}

TEST(Value, TupleOfTheWrongLengthIsCorruption) {
  const std::string bytes = encode_value(std::tuple<int, int>(1, 2));
  EXPECT_EQ((decode_code<std::tuple<int, int, int>>(bytes)), StatusCode::kCorruption);
  EXPECT_EQ((decode_code<std::tuple<int>>(bytes)), StatusCode::kCorruption);
}

TEST(Value, StructsRoundTripWithTheirFieldNames) {
  expect_round_trip(Order{"A-17", 3});
  expect_round_trip(Order{});
  EXPECT_EQ(encode_value(Order{"A-17", 3}),
            "\x0c\x02" "\x02" "id" "\x07\x04" "A-17" "\x03" "qty" "\x04\x06");
}

TEST(Value, NestedContainersAndStructsRoundTrip) {
  expect_round_trip(testing::sample_basket());
  expect_round_trip(Basket{});
  expect_round_trip(std::map<std::string, std::vector<std::optional<Order>>>{
      {"open", {Order{"a", 1}, std::nullopt}}, {"done", {}}});
  expect_round_trip(std::vector<std::vector<std::vector<int>>>{{{1}, {}}, {{2, 3}}});
}

TEST(Value, StructDecodesBytesWrittenBeforeAFieldWasAdded) {
  Result<OrderV2> v2 = decode_value<OrderV2>(encode_value(Order{"A-17", 3}));
  ASSERT_TRUE(v2.has_value()) << v2.status();
  EXPECT_EQ(*v2, (OrderV2{"A-17", 3, "none"}));
}

TEST(Value, StructSkipsFieldsItDoesNotKnow) {
  Result<Order> v1 = decode_value<Order>(encode_value(OrderV2{"A-17", 3, "rush"}));
  ASSERT_TRUE(v1.has_value()) << v1.status();
  EXPECT_EQ(*v1, (Order{"A-17", 3}));
}

TEST(Value, StructFieldsMatchByNameInAnyOrder) {
  // {"qty": 3, "id": "A-17"}
  const std::string bytes = "\x0c\x02" "\x03" "qty" "\x04\x06" "\x02" "id" "\x07\x04" "A-17";
  Result<Order> o = decode_value<Order>(bytes);
  ASSERT_TRUE(o.has_value()) << o.status();
  EXPECT_EQ(*o, (Order{"A-17", 3}));
}

TEST(Value, StructFieldPresentTwiceIsCorruption) {
  const std::string bytes = "\x0c\x02" "\x03" "qty" "\x04\x06" "\x03" "qty" "\x04\x08";
  Result<Order> o = decode_value<Order>(bytes);
  EXPECT_EQ(o.status().code(), StatusCode::kCorruption);
  EXPECT_NE(o.status().message().find("twice"), std::string_view::npos);
}

TEST(Value, StructFieldOfTheWrongTypeIsCorruption) {
  const std::string bytes = "\x0c\x01" "\x03" "qty" "\x07\x01" "x";
  Result<Order> o = decode_value<Order>(bytes);
  EXPECT_EQ(o.status().code(), StatusCode::kCorruption);
  EXPECT_EQ(o.status().message(), "value: at byte 6: expected integer, found tag 7 (string)");
}

TEST(Value, ArgsRoundTripAsATuple) {
  const std::string bytes = encode_args(std::string("A-17"), 3, Order{"x", 1});
  Result<std::tuple<std::string, int, Order>> args =
      decode_args<std::string, int, Order>(bytes);
  ASSERT_TRUE(args.has_value()) << args.status();
  EXPECT_EQ(std::get<0>(*args), "A-17");
  EXPECT_EQ(std::get<1>(*args), 3);
  EXPECT_EQ(std::get<2>(*args), (Order{"x", 1}));
  EXPECT_EQ(bytes, encode_value(std::tuple<std::string, int, Order>("A-17", 3, Order{"x", 1})));
}

TEST(Value, ArgsAcceptLiteralsAndDecodeWithCvRefTypes) {
  const std::string bytes = encode_args("hi", 2.5);
  Result<std::tuple<std::string, double>> args = decode_args<const std::string&, double>(bytes);
  ASSERT_TRUE(args.has_value()) << args.status();
  EXPECT_EQ(std::get<0>(*args), "hi");
}

TEST(Value, NoArgsEncodeAsAnEmptyTuple) {
  EXPECT_EQ(encode_args(), std::string("\x0b\x00", 2));
  EXPECT_TRUE(decode_args<>(encode_args()).has_value());
}

TEST(Value, ArgsOfTheWrongArityAreCorruption) {
  EXPECT_EQ((decode_args<int, int>(encode_args(1)).status().code()), StatusCode::kCorruption);
}

TEST(Value, AppendValueAddsToExistingBytes) {
  std::string out = "prefix";
  append_value(out, 1);
  EXPECT_EQ(out, "prefix\x04\x02");
}

TEST(Value, WrongTopLevelTypeIsCorruptionWithTheOffset) {
  Result<std::string> r = decode_value<std::string>(encode_value(5));
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_EQ(r.status().message(), "value: at byte 0: expected string, found tag 4 (sint)");
}

TEST(Value, TrailingBytesAreCorruption) {
  std::string bytes = encode_value(5) + "x";
  Result<int> r = decode_value<int>(bytes);
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_EQ(r.status().message(), "value: at byte 2: 1 trailing bytes after the value");
}

TEST(Value, EmptyInputIsCorruption) {
  EXPECT_EQ(decode_code<int>(""), StatusCode::kCorruption);
  EXPECT_EQ(parse_value("").status().code(), StatusCode::kCorruption);
}

TEST(Value, ReservedTagIsCorruption) {
  EXPECT_EQ(decode_code<int>("\x0d"), StatusCode::kCorruption);
  Result<Value> r = parse_value("\xff");
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_EQ(r.status().message(), "value: at byte 0: reserved tag 255");
}

TEST(Value, OverlongVarintIsCorruption) {
  const std::string eleven(11, '\x80');
  EXPECT_EQ(decode_code<std::uint64_t>("\x03" + eleven), StatusCode::kCorruption);
  // 10th byte may only carry the 64th bit.
  const std::string overflow = "\x03" + std::string(9, '\xff') + "\x02";
  EXPECT_EQ(decode_code<std::uint64_t>(overflow), StatusCode::kCorruption);
  const std::string max = "\x03" + std::string(9, '\xff') + "\x01";
  EXPECT_EQ(decode_value<std::uint64_t>(max).value(), std::numeric_limits<std::uint64_t>::max());
}

TEST(Value, HugeCountsFailBeforeAllocating) {
  // A list that claims 2^62 elements in a few bytes.
  const std::string bytes = "\x09\x80\x80\x80\x80\x80\x80\x80\x80\x40";
  EXPECT_EQ(decode_code<std::vector<int>>(bytes), StatusCode::kCorruption);
  EXPECT_EQ(parse_value(bytes).status().code(), StatusCode::kCorruption);
  EXPECT_EQ(decode_code<std::string>("\x07\xff\xff\xff\xff\x0f"), StatusCode::kCorruption);
}

TEST(Value, NestingDeeperThanTheLimitIsCorruption) {
  std::string deep;
  for (int i = 0; i < kMaxValueDepth + 1; ++i) deep += "\x09\x01";
  deep.push_back('\0');  // null, innermost
  Result<Value> r = parse_value(deep);
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
  EXPECT_NE(r.status().message().find("kMaxValueDepth"), std::string_view::npos);

  std::string at_limit;
  for (int i = 0; i < kMaxValueDepth; ++i) at_limit += "\x09\x01";
  at_limit.push_back('\0');
  EXPECT_TRUE(parse_value(at_limit).has_value());
}

TEST(Value, DeeplyNestedGarbageIsCorruptionNotAStackOverflow) {
  std::string deep;
  for (int i = 0; i < 100000; ++i) deep += "\x09\x01";
  EXPECT_EQ(parse_value(deep).status().code(), StatusCode::kCorruption);
  EXPECT_EQ(value_to_json(deep).status().code(), StatusCode::kCorruption);
  EXPECT_EQ(decode_code<std::vector<std::vector<int>>>(deep), StatusCode::kCorruption);
  // An unknown struct field is skipped, with the same depth bound.
  EXPECT_EQ(decode_code<Order>("\x0c\x01\x01x" + deep), StatusCode::kCorruption);
}

}  // namespace
}  // namespace keel::wire
