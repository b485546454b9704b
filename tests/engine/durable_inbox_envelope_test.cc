// Pre-encoded INBOX envelopes (AskOptions/SendOptions::inbox_envelope): a
// durable actor journals the sender's envelope byte for byte when recovery
// reads it as the same message, replays it after a restart, and encodes its
// own record otherwise. Every journal backend (support/durable_fixture.h).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "keel/engine/durable.h"
#include "keel/journal/format.h"
#include "keel/wire/envelope.h"
#include "support/durable_fixture.h"
#include "support/test_actors.h"

namespace keel {
namespace {

using testing::await;
using testing::system_config;

// A running total.
class Book : public DurableActor<std::int64_t> {
 public:
  std::int64_t post(std::int64_t amount) { return state() += amount; }
  std::int64_t total() const { return state(); }
  static constexpr auto kHandlers =
      keel::handlers(keel::handler<&Book::post>("post"), keel::handler<&Book::total>("total"));
};

class Tally : public Actor {
 public:
  std::int64_t post(std::int64_t amount) { return total_ += amount; }
  static constexpr auto kHandlers = keel::handlers(keel::handler<&Tally::post>("post"));

 private:
  std::int64_t total_ = 0;
};

// The envelope a remote caller of Book::post(amount) on `key` would send:
// an ask (reply_to, deadline) with a sender-chosen id.
wire::Envelope post_envelope(const std::string& key, std::int64_t amount, wire::Id128 id) {
  wire::Envelope e;
  e.id = id;
  e.target.key = key;
  e.method = "post";
  e.payload = wire::encode_args(amount);
  e.reply_to.emplace();
  e.reply_to->correlation_id = 42;
  e.deadline_ns = 1'700'000'000'000'000'000;
  return e;
}

std::string encoded(const wire::Envelope& e) { return wire::encode_envelope(e).value(); }

class InboxEnvelopeTest : public testing::DurableJournalTest {
 protected:
  // The payloads of `key`'s INBOX records, oldest first.
  std::vector<std::string> inbox(const std::string& key) {
    std::vector<std::string> out;
    Status s = journal_->scan_owner(actor_owner(key), 1, [&](const Record& r) {
      if (r.kind == RecordKind::kInbox) out.push_back(r.payload);
      return true;
    });
    EXPECT_TRUE(s.is_ok()) << s;
    return out;
  }
};

// Both ways into the INBOX: an ask to an idle actor journals the record
// with its handling, a durable tell on its own.
TEST_P(InboxEnvelopeTest, AsksAndDurableTellsJournalTheirPreEncodedEnvelopesByteForByte) {
  System system(config());
  auto asked = system.spawn_durable<Book>("asked").value();
  auto told = system.spawn_durable<Book>("told").value();
  const std::string to_asked = encoded(post_envelope("asked", 5, {0x51, 1}));
  const std::string to_told = encoded(post_envelope("told", 5, {0x51, 2}));
  AskOptions ask;
  ask.inbox_envelope = to_asked;
  SendOptions tell;
  tell.inbox_envelope = to_told;
  EXPECT_EQ(await(asked.ask_with<&Book::post>(ask, std::int64_t{5})).value(), 5);
  ASSERT_TRUE(await(told.tell_durable_with<&Book::post>(tell, std::int64_t{5})).is_ok());
  EXPECT_EQ(inbox("asked"), std::vector<std::string>{to_asked});
  EXPECT_EQ(inbox("told"), std::vector<std::string>{to_told});
}

TEST_P(InboxEnvelopeTest, PreEncodedMessagesAreReplayedAndDedupedAfterARestart) {
  DurableOptions replayed;
  replayed.snapshot_every = 100;  // recovery rebuilds the state from the INBOX records
  wire::Envelope idempotent = post_envelope("b", 7, {0x51, 2});
  idempotent.idempotent = true;
  AskOptions again;
  again.id = {0x51, 2};
  const std::string idempotent_bytes = encoded(idempotent);
  again.inbox_envelope = idempotent_bytes;
  {
    System system(config());
    auto book = system.spawn_durable_with<Book>("b", replayed).value();
    const std::string bytes = encoded(post_envelope("b", 5, {0x51, 1}));
    AskOptions o;
    o.inbox_envelope = bytes;
    ASSERT_TRUE(await(book.ask_with<&Book::post>(o, std::int64_t{5})).is_ok());
    ASSERT_TRUE(await(book.ask_with<&Book::post>(again, std::int64_t{7})).is_ok());
    EXPECT_EQ(inbox("b"), (std::vector<std::string>{bytes, idempotent_bytes}));
  }
  reopen();
  System system(config());
  auto book = system.spawn_durable_with<Book>("b", replayed).value();
  EXPECT_EQ(await(book.ask<&Book::total>()).value(), 12);
  // The journaled envelope's id was remembered as applied.
  EXPECT_EQ(await(book.ask_with<&Book::post>(again, std::int64_t{7})).status().code(),
            StatusCode::kAlreadyExists);
}

// An envelope that recovery would not read as the message sent: the engine
// journals its own encoding of the message instead.
struct Mismatch {
  const char* name;
  std::function<void(wire::Envelope&, AskOptions&)> change;
};

TEST_P(InboxEnvelopeTest, AnEnvelopeRecoveryWouldReadDifferentlyIsEncodedAgain) {
  const std::vector<Mismatch> cases = {
      {"another target", [](wire::Envelope& e, AskOptions&) { e.target.key = "other"; }},
      {"another method", [](wire::Envelope& e, AskOptions&) { e.method = "total"; }},
      {"raw payload", [](wire::Envelope& e, AskOptions&) { e.payload_encoding = wire::PayloadEncoding::kRaw; }},
      {"zero id", [](wire::Envelope& e, AskOptions&) { e.id = {}; }},
      {"a timer's id", [](wire::Envelope& e, AskOptions&) { e.id.hi = kTimerIdMark; }},
      {"idempotent, sent without an id", [](wire::Envelope& e, AskOptions&) { e.idempotent = true; }},
      {"sent with an id, not idempotent", [](wire::Envelope&, AskOptions& o) { o.id = {0x51, 1}; }},
      {"sent with another id", [](wire::Envelope& e, AskOptions& o) {
         e.idempotent = true;
         o.id = {0x51, 9};
       }},
  };
  System system(config());
  auto book = system.spawn_durable<Book>("b").value();
  std::int64_t amount = 0;
  for (const Mismatch& m : cases) {
    SCOPED_TRACE(m.name);
    ++amount;
    wire::Envelope e = post_envelope("b", amount, {0x51, 1});
    AskOptions o;
    m.change(e, o);
    const std::string bytes = encoded(e);
    o.inbox_envelope = bytes;
    ASSERT_TRUE(await(book.ask_with<&Book::post>(o, amount)).is_ok());
    const std::string journaled = inbox("b").back();
    EXPECT_NE(journaled, bytes);
    wire::Envelope r = wire::decode_envelope(journaled).value();
    EXPECT_EQ(r.target.key, "b");
    EXPECT_EQ(r.method, "post");
    EXPECT_EQ(r.payload, wire::encode_args(amount));
    EXPECT_FALSE(r.reply_to.has_value());
  }
}

TEST_P(InboxEnvelopeTest, BytesThatAreNotAnEnvelopeGiveWayToTheEnginesEncoding) {
  System system(config());
  auto book = system.spawn_durable<Book>("b").value();
  AskOptions o;
  o.inbox_envelope = "not an envelope";
  ASSERT_TRUE(await(book.ask_with<&Book::post>(o, std::int64_t{3})).is_ok());
  ASSERT_EQ(inbox("b").size(), 1u);
  EXPECT_TRUE(wire::decode_envelope(inbox("b").front()).is_ok());
}

TEST_P(InboxEnvelopeTest, AnInMemoryActorIgnoresAPreEncodedEnvelope) {
  System system(config());
  auto tally = system.spawn<Tally>().value();
  AskOptions o;
  o.inbox_envelope = "not an envelope";
  EXPECT_EQ(await(tally.ask_with<&Tally::post>(o, std::int64_t{3})).value(), 3);
}

INSTANTIATE_TEST_SUITE_P(Backends, InboxEnvelopeTest, KEEL_DURABLE_BACKENDS,
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace keel
