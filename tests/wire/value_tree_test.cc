#include "keel/wire/value_tree.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "keel/wire/value.h"
#include "wire/test_values.h"

namespace keel::wire {
namespace {

using testing::Order;

template <class T>
std::string json_of(const T& v) {
  Result<std::string> json = value_to_json(encode_value(v));
  EXPECT_TRUE(json.has_value()) << json.status();
  return json.value_or("<error>");
}

TEST(ValueToJson, Scalars) {
  EXPECT_EQ(json_of(true), "true");
  EXPECT_EQ(json_of(false), "false");
  EXPECT_EQ(json_of(std::optional<int>()), "null");
  EXPECT_EQ(json_of(-42), "-42");
  EXPECT_EQ(json_of(std::uint64_t{18446744073709551615u}), "18446744073709551615");
  EXPECT_EQ(json_of(std::numeric_limits<std::int64_t>::min()), "-9223372036854775808");
  EXPECT_EQ(json_of(testing::Color::kBlue), "200");
}

TEST(ValueToJson, FloatsUseTheShortestRoundTripForm) {
  EXPECT_EQ(json_of(0.1), "0.1");
  EXPECT_EQ(json_of(0.1f), "0.1");
  EXPECT_EQ(json_of(2.0), "2");
  EXPECT_EQ(json_of(-0.0), "-0");
  EXPECT_EQ(json_of(1e300), "1e+300");
}

TEST(ValueToJson, NonFiniteFloatsAreStrings) {
  EXPECT_EQ(json_of(std::nan("")), "\"NaN\"");
  EXPECT_EQ(json_of(std::numeric_limits<double>::infinity()), "\"Infinity\"");
  EXPECT_EQ(json_of(-std::numeric_limits<float>::infinity()), "\"-Infinity\"");
}

TEST(ValueToJson, StringsAreEscaped) {
  EXPECT_EQ(json_of(std::string("a\"b\\c\n\t\x01")), R"("a\"b\\c\n\t\u0001")");
  EXPECT_EQ(json_of(std::string("caf\xc3\xa9 \xe2\x82\xac")), "\"caf\xc3\xa9 \xe2\x82\xac\"");
}

TEST(ValueToJson, InvalidUtf8BecomesReplacementCharacters) {
  EXPECT_EQ(json_of(std::string("a\xff" "b")), R"("a\ufffdb")");
  EXPECT_EQ(json_of(std::string("\xc0\xaf")), R"("\ufffd\ufffd")");      // overlong
  EXPECT_EQ(json_of(std::string("\xed\xa0\x80")), R"("\ufffd\ufffd\ufffd")");  // surrogate
  EXPECT_EQ(json_of(std::string("\xe2\x82")), R"("\ufffd\ufffd")");      // truncated
}

TEST(ValueToJson, BytesAreBase64) {
  EXPECT_EQ(json_of(Bytes{""}), R"("")");
  EXPECT_EQ(json_of(Bytes{"f"}), R"("Zg==")");
  EXPECT_EQ(json_of(Bytes{"fo"}), R"("Zm8=")");
  EXPECT_EQ(json_of(Bytes{"foo"}), R"("Zm9v")");
  EXPECT_EQ(json_of(Bytes{std::string("\xff\xfe\x00\x01", 4)}), R"("//4AAQ==")");
}

TEST(ValueToJson, ListsTuplesAndStructs) {
  EXPECT_EQ(json_of(std::vector<int>{}), "[]");
  EXPECT_EQ(json_of(std::vector<int>{1, 2, 3}), "[1,2,3]");
  EXPECT_EQ(json_of(std::tuple<int, std::string>(1, "x")), R"([1,"x"])");
  EXPECT_EQ(json_of(Order{"A-17", 3}), R"({"id":"A-17","qty":3})");
  EXPECT_EQ(json_of(encode_args(std::string("A-17"), 3)), R"("\u000b\u0002\u0007\u0004A-17\u0004\u0006")")
      << "bytes inside a string are text, not a nested value";
  Result<std::string> args = value_to_json(encode_args(std::string("A-17"), 3));
  EXPECT_EQ(args.value(), R"(["A-17",3])");
}

TEST(ValueToJson, MapsWithStringKeysAreObjects) {
  EXPECT_EQ(json_of(std::map<std::string, int>{}), "{}");
  EXPECT_EQ(json_of(std::map<std::string, int>{{"a", 1}, {"b", 2}}), R"({"a":1,"b":2})");
}

TEST(ValueToJson, MapsWithOtherKeysArePairArrays) {
  EXPECT_EQ(json_of(std::map<int, std::string>{{1, "one"}, {2, "two"}}),
            R"([[1,"one"],[2,"two"]])");
}

TEST(ValueToJson, NestedBasketRendersExactly) {
  EXPECT_EQ(json_of(testing::sample_basket()),
            R"({"owner":"ada","lines":[{"sku":"apple","count":3,"price":0.5},)"
            R"({"sku":"pear","count":1,"price":1.25}],"tags":{"prio":-1,"zone":7},)"
            R"("last":{"id":"A-17","qty":3},"color":200,"blob":"AAH+"})");
}

TEST(ValueToJson, CorruptBytesAreCorruption) {
  std::string bytes = encode_value(Order{"A-17", 3});
  bytes.pop_back();
  Result<std::string> json = value_to_json(bytes);
  EXPECT_EQ(json.status().code(), StatusCode::kCorruption);
}

TEST(ParseValue, BuildsATreeOfKindsAndFieldNames) {
  Result<Value> v = parse_value(encode_value(testing::sample_basket()));
  ASSERT_TRUE(v.has_value()) << v.status();
  EXPECT_EQ(v->kind, ValueKind::kStruct);
  ASSERT_EQ(v->fields.size(), 6u);
  EXPECT_EQ(v->fields[0].name, "owner");
  const Value* lines = v->find("lines");
  ASSERT_NE(lines, nullptr);
  EXPECT_EQ(lines->kind, ValueKind::kList);
  ASSERT_EQ(lines->items.size(), 2u);
  const Value* count = lines->items[0].find("count");
  ASSERT_NE(count, nullptr);
  EXPECT_EQ(count->kind, ValueKind::kUint);
  EXPECT_EQ(count->uint_value, 3u);
  const Value* tags = v->find("tags");
  ASSERT_NE(tags, nullptr);
  ASSERT_EQ(tags->entries.size(), 2u);
  EXPECT_EQ(tags->entries[0].value.sint_value, -1);
  EXPECT_EQ(v->find("blob")->kind, ValueKind::kBytes);
  EXPECT_EQ(v->find("missing"), nullptr);
}

TEST(ParseValue, TreeEncodesBackToTheSameBytes) {
  const std::string bytes = encode_value(testing::sample_basket());
  Result<Value> v = parse_value(bytes);
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(encode_value(*v), bytes);
}

TEST(ParseValue, TreesNestInsideTypedValues) {
  std::map<std::string, Value> m;
  m["order"] = parse_value(encode_value(Order{"A", 1})).value();
  const std::string bytes = encode_value(m);
  Result<std::map<std::string, Value>> back = decode_value<std::map<std::string, Value>>(bytes);
  ASSERT_TRUE(back.has_value()) << back.status();
  EXPECT_EQ(*back, m);
  EXPECT_EQ(value_to_json(bytes).value(), R"({"order":{"id":"A","qty":1}})");
}

TEST(ParseValue, EqualityComparesKindAndContent) {
  Value a = parse_value(encode_value(1)).value();
  Value b = parse_value(encode_value(1u)).value();
  EXPECT_FALSE(a == b);  // sint vs uint
  EXPECT_EQ(a, parse_value(encode_value(std::int64_t{1})).value());
}

TEST(ValueFromJson, DecodesIntoTheTypesItsShapesMatch) {
  Result<Value> order = value_from_json(R"( {"id": "A-17", "qty": 3} )");
  ASSERT_TRUE(order.has_value()) << order.status();
  Result<Order> o = decode_value<Order>(encode_value(*order));
  ASSERT_TRUE(o.has_value()) << o.status();
  EXPECT_EQ(o->id, "A-17");
  EXPECT_EQ(o->qty, 3);
  EXPECT_EQ(decode_value<std::int64_t>(encode_value(value_from_json("-42").value())).value(), -42);
  EXPECT_EQ(decode_value<std::uint64_t>(encode_value(value_from_json("18446744073709551615").value())).value(),
            18446744073709551615ull);
  EXPECT_EQ(decode_value<double>(encode_value(value_from_json("2.5e3").value())).value(), 2500.0);
  EXPECT_EQ(decode_value<std::vector<int>>(encode_value(value_from_json("[1, 2,3]").value())).value(),
            (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(decode_value<bool>(encode_value(value_from_json("false").value())).value(), false);
  EXPECT_EQ(decode_value<std::optional<int>>(encode_value(value_from_json("null").value())).value(), std::nullopt);
  EXPECT_EQ(decode_value<std::string>(encode_value(value_from_json(R"("a\"b\u00e9\ud83d\ude00\n")").value())).value(),
            "a\"b\xc3\xa9\xf0\x9f\x98\x80\n");
}

TEST(ValueFromJson, RoundTripsThroughValueToJson) {
  const std::string json = R"({"id":"A","qty":1,"tags":["x","y"],"ok":true,"none":null,"f":0.5})";
  Result<Value> v = value_from_json(json);
  ASSERT_TRUE(v.has_value()) << v.status();
  EXPECT_EQ(v->to_json(), json);
}

TEST(ValueFromJson, MalformedTextIsAnErrorNamingTheOffset) {
  for (const char* bad : {"", "{", "{\"a\":}", "[1,]", "tru", "\"open", "{\"a\":1,\"a\":2}", "1 2", "01x",
                          "\"\\x\"", "\"\\ud800\"", "-", "1.", "[1 2]"}) {
    Result<Value> v = value_from_json(bad);
    EXPECT_FALSE(v.has_value()) << bad;
    EXPECT_EQ(v.status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(v.status().message().find("JSON at byte"), std::string_view::npos) << v.status();
  }
  std::string deep(kMaxValueDepth + 1, '[');
  deep += std::string(kMaxValueDepth + 1, ']');
  EXPECT_EQ(value_from_json(deep).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace keel::wire
