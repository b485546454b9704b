// Randomized corruption of valid encodings: flipped bits, overwritten bytes,
// truncations and spliced garbage. Every decoder must return a value or
// kCorruption, never crash and never read out of bounds (ASan checks that).
// The seed is printed on failure; set KEEL_WIRE_SEED to replay one.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "keel/wire/envelope.h"
#include "keel/wire/value.h"
#include "keel/wire/value_tree.h"
#include "wire/test_values.h"

namespace keel::wire {
namespace {

constexpr int kRoundsPerInput = 2000;

std::uint64_t seed() {
  if (const char* s = std::getenv("KEEL_WIRE_SEED")) return std::strtoull(s, nullptr, 10);
  return std::random_device{}();
}

std::string mutate(std::string bytes, std::mt19937_64& rng) {
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  const int edits = 1 + static_cast<int>(rng() % 4);
  for (int i = 0; i < edits; ++i) {
    switch (rng() % 5) {
      case 0:  // flip one bit
        if (!bytes.empty()) bytes[pick(bytes.size())] ^= static_cast<char>(1 << (rng() % 8));
        break;
      case 1:  // overwrite one byte
        if (!bytes.empty()) bytes[pick(bytes.size())] = static_cast<char>(rng());
        break;
      case 2:  // truncate
        bytes.resize(bytes.empty() ? 0 : pick(bytes.size()));
        break;
      case 3:  // insert a random byte
        bytes.insert(bytes.begin() + static_cast<std::ptrdiff_t>(pick(bytes.size() + 1)),
                     static_cast<char>(rng()));
        break;
      default:  // set a byte to an interesting value
        if (!bytes.empty()) {
          static constexpr char kInteresting[] = {'\0', '\x7f', '\x80', '\xff', '\x0c', '\x09'};
          bytes[pick(bytes.size())] = kInteresting[rng() % sizeof kInteresting];
        }
        break;
    }
  }
  return bytes;
}

template <class R>
bool ok_or_corruption(const R& r) {
  return r.has_value() || r.status().code() == StatusCode::kCorruption;
}

TEST(Corruption, MutatedValuesDecodeOrReportCorruption) {
  const std::uint64_t s = seed();
  SCOPED_TRACE("seed " + std::to_string(s) + " (replay with KEEL_WIRE_SEED)");
  std::mt19937_64 rng(s);
  const std::vector<std::string> inputs = {
      encode_value(testing::sample_basket()),
      encode_value(testing::Order{"A-17", 3}),
      encode_args(std::string("x"), 1.5, std::vector<int>{1, 2, 3}),
      encode_value(std::map<int, std::vector<std::optional<std::string>>>{{1, {"a", std::nullopt}}}),
  };
  int decoded = 0;
  for (const std::string& input : inputs) {
    for (int round = 0; round < kRoundsPerInput; ++round) {
      const std::string bytes = mutate(input, rng);
      auto basket = decode_value<testing::Basket>(bytes);
      auto order = decode_value<testing::Order>(bytes);
      auto args = decode_args<std::string, double, std::vector<int>>(bytes);
      auto tree = parse_value(bytes);
      auto json = value_to_json(bytes);
      ASSERT_TRUE(ok_or_corruption(basket)) << basket.status();
      ASSERT_TRUE(ok_or_corruption(order)) << order.status();
      ASSERT_TRUE(ok_or_corruption(args)) << args.status();
      ASSERT_TRUE(ok_or_corruption(tree)) << tree.status();
      ASSERT_TRUE(ok_or_corruption(json)) << json.status();
      // Whatever parses generically re-encodes to canonical bytes (not
      // always the input: its varints may be overlong) that are stable.
      if (tree.has_value()) {
        const std::string again = encode_value(*tree);
        ASSERT_EQ(encode_value(parse_value(again).value()), again);
        ++decoded;
      }
    }
  }
  RecordProperty("generic_decodes", decoded);
}

TEST(Corruption, MutatedEnvelopesDecodeOrReportCorruption) {
  const std::uint64_t s = seed();
  SCOPED_TRACE("seed " + std::to_string(s) + " (replay with KEEL_WIRE_SEED)");
  std::mt19937_64 rng(s);
  Envelope e;
  e.id = {1, 2};
  e.sender = {3, "sender"};
  e.target = {4, "target"};
  e.method = "method";
  e.payload = encode_value(testing::sample_basket());
  e.reply_to = ReplyTo{{3, "sender"}, 9};
  e.trace_id = {5, 6};
  const std::string input = encode_envelope(e).value();
  for (int round = 0; round < 4 * kRoundsPerInput; ++round) {
    const std::string bytes = mutate(input, rng);
    Result<Envelope> r = decode_envelope(bytes);
    ASSERT_TRUE(ok_or_corruption(r)) << r.status();
    Result<EnvelopeView> v = EnvelopeView::open(bytes);
    ASSERT_EQ(v.has_value(), r.has_value());
    if (r.has_value()) {
      ASSERT_EQ(v->to_envelope(), *r);
      // A decoded envelope encodes again and decodes to the same value.
      ASSERT_EQ(decode_envelope(encode_envelope(*r).value()).value(), *r);
    }
  }
}

TEST(Corruption, RandomBytesDecodeOrReportCorruption) {
  const std::uint64_t s = seed();
  SCOPED_TRACE("seed " + std::to_string(s) + " (replay with KEEL_WIRE_SEED)");
  std::mt19937_64 rng(s);
  for (int round = 0; round < 4 * kRoundsPerInput; ++round) {
    std::string bytes(rng() % 64, '\0');
    for (char& c : bytes) c = static_cast<char>(rng() % 16 == 0 ? rng() : rng() % 14);
    ASSERT_TRUE(ok_or_corruption(parse_value(bytes)));
    ASSERT_TRUE(ok_or_corruption(decode_value<testing::Basket>(bytes)));
    std::string words(8 * (rng() % 8), '\0');
    for (char& c : words) c = static_cast<char>(rng() % 4 == 0 ? rng() : 0);
    ASSERT_TRUE(ok_or_corruption(decode_envelope(words)));
  }
}

}  // namespace
}  // namespace keel::wire
