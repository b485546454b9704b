// Messages sent by key (DurableActorBase::send_to): recorded in the sending
// handler's batch, delivered through the System's OutboxTransport once it
// is durable, in order, sent again after failures and after the process
// restarts, and applied once by their receiver. The transport here
// delivers to actors of the same System by key, with the message's id; the
// one over a keel::Client is tested with agents (tests/cluster).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "keel/engine/durable.h"
#include "keel/engine/outbox.h"
#include "keel/wire/envelope.h"
#include "support/durable_fixture.h"
#include "support/test_actors.h"

namespace keel {
namespace {

using namespace std::chrono_literals;
using testing::await;

struct Ops {
  std::vector<std::int64_t> ids;
  static constexpr auto kFields = keel::fields(keel::field<&Ops::ids>("ids"));
};

// Keeps every operation it applied, in order.
class OpLog : public DurableActor<Ops> {
 public:
  std::int64_t apply(std::int64_t op) {
    state().ids.push_back(op);
    return static_cast<std::int64_t>(state().ids.size());
  }
  std::vector<std::int64_t> ids() const { return state().ids; }
  static constexpr auto kHandlers =
      keel::handlers(keel::handler<&OpLog::apply>("apply"), keel::handler<&OpLog::ids>("ids"));
};

struct Count {
  std::int64_t sent = 0;
  static constexpr auto kFields = keel::fields(keel::field<&Count::sent>("sent"));
};

// Sends operations by key to an OpLog.
class Relay : public DurableActor<Count> {
 public:
  Status relay(std::string to, std::int64_t op) {
    KEEL_RETURN_IF_ERROR(send_to<&OpLog::apply>(to, op));
    ++state().sent;
    return Status::ok();
  }
  // Sends `n` operations first..first+n-1 in one handler.
  Status burst(std::string to, std::int64_t first, std::int64_t n) {
    for (std::int64_t op = first; op < first + n; ++op) KEEL_RETURN_IF_ERROR(send_to<&OpLog::apply>(to, op));
    state().sent += n;
    return Status::ok();
  }
  std::int64_t sent() const { return state().sent; }
  static constexpr auto kHandlers =
      keel::handlers(keel::handler<&Relay::relay>("relay"), keel::handler<&Relay::burst>("burst"),
                     keel::handler<&Relay::sent>("sent"));
};

// Delivers to the OpLogs of one System by key. Faults on demand: `fail`
// decides, per attempt, an error to answer instead; a message `swallow`
// picks is applied but its answer never comes (as when the process dies
// right after the receiver applied it).
class LocalOutbox : public OutboxTransport {
 public:
  void attach(System* system) {
    std::lock_guard<std::mutex> l(mu_);
    system_ = system;
  }

  Future<void> deliver(const OutboxMessage& m) override {
    System* system = nullptr;
    Status injected;
    bool swallow = false;
    {
      std::lock_guard<std::mutex> l(mu_);
      ++attempts_;
      senders_.push_back(m.sender);
      system = system_;
      if (fail) injected = fail(m);
      swallow = this->swallow && this->swallow(m);
    }
    if (!injected.is_ok()) return Future<void>::ready(injected);
    if (system == nullptr) return Future<void>::ready(Status::unavailable("no system"));
    Result<ActorRef<OpLog>> log = system->lookup<OpLog>(m.target);
    if (!log) return Future<void>::ready(log.status());
    auto args = wire::decode_args<std::int64_t>(m.args);
    if (!args) return Future<void>::ready(args.status());
    AskOptions o;
    o.id = m.id;
    Future<std::int64_t> applied = log->ask_with<&OpLog::apply>(o, std::get<0>(*args));
    if (swallow) {
      std::lock_guard<std::mutex> l(mu_);
      swallowed_.push_back(std::move(applied));
      held_.emplace_back();
      return held_.back().future();
    }
    return applied.then([this, seq = m.seq](Result<std::int64_t> r) -> Status {
      std::lock_guard<std::mutex> l(mu_);
      if (r.has_value() || r.status().code() == StatusCode::kAlreadyExists) {
        if (r.status().code() == StatusCode::kAlreadyExists) ++duplicates_;
        delivered_ = std::max(delivered_, seq);
        cv_.notify_all();
      }
      return r.status();
    });
  }

  // Waits until the sender's messages up to `seq` are delivered.
  bool wait_delivered(std::uint64_t seq) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, 30s, [&] { return delivered_ >= seq; });
  }
  // Completes the answers held back (the transport goes away).
  void drop_held() {
    std::vector<Promise<void>> held;
    {
      std::lock_guard<std::mutex> l(mu_);
      held.swap(held_);
    }
    for (Promise<void>& p : held) p.set_error(Status::cancelled("transport gone"));
  }
  int attempts() {
    std::lock_guard<std::mutex> l(mu_);
    return attempts_;
  }
  int duplicates() {
    std::lock_guard<std::mutex> l(mu_);
    return duplicates_;
  }
  std::vector<std::string> senders() {
    std::lock_guard<std::mutex> l(mu_);
    return senders_;
  }

  // Set before the first delivery.
  std::function<Status(const OutboxMessage&)> fail;
  std::function<bool(const OutboxMessage&)> swallow;

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  System* system_ = nullptr;
  int attempts_ = 0;
  int duplicates_ = 0;
  std::uint64_t delivered_ = 0;
  std::vector<std::string> senders_;
  std::vector<Future<std::int64_t>> swallowed_;
  std::vector<Promise<void>> held_;
};

std::vector<std::int64_t> range(std::int64_t first, std::int64_t last) {
  std::vector<std::int64_t> out;
  for (std::int64_t i = first; i <= last; ++i) out.push_back(i);
  return out;
}

class DurableOutboxTest : public testing::DurableJournalTest {
 protected:
  SystemConfig config_with(const std::shared_ptr<LocalOutbox>& outbox) {
    SystemConfig c = config();
    c.outbox = outbox;
    c.log = [this](std::string_view line) {
      std::lock_guard<std::mutex> l(log_mu_);
      log_.emplace_back(line);
    };
    return c;
  }
  std::vector<std::string> log_lines() {
    std::lock_guard<std::mutex> l(log_mu_);
    return log_;
  }
  std::vector<Record> records_of(const std::string& owner, RecordKind kind) {
    std::vector<Record> out;
    EXPECT_TRUE(journal_->scan_owner(owner, 1, [&](const Record& r) {
      if (r.kind == kind) out.push_back(r);
      return true;
    }).is_ok());
    return out;
  }

  void restart_delivers_once(std::uint32_t snapshot_every);

  std::mutex log_mu_;
  std::vector<std::string> log_;
};

TEST_P(DurableOutboxTest, MessagesSentByKeyAreDeliveredInOrderOnceEachThroughFailures) {
  auto outbox = std::make_shared<LocalOutbox>();
  // Every third attempt fails as if the receiver's host were away.
  outbox->fail = [n = 0](const OutboxMessage&) mutable {
    return ++n % 3 == 0 ? Status::unavailable("receiver away") : Status::ok();
  };
  System system(config_with(outbox));
  outbox->attach(&system);
  auto log = system.spawn_durable<OpLog>("log").value();
  auto relay = system.spawn_durable<Relay>("relay").value();
  for (std::int64_t op = 1; op <= 40; ++op) {
    ASSERT_TRUE(await(relay.ask<&Relay::relay>(std::string("log"), op)).is_ok()) << op;
  }
  ASSERT_TRUE(outbox->wait_delivered(40));
  EXPECT_EQ(await(log.ask<&OpLog::ids>()).value(), range(1, 40));
  EXPECT_GT(outbox->attempts(), 40) << "failed attempts were sent again";
  for (const std::string& s : outbox->senders()) EXPECT_EQ(s, "relay");

  // The journal shows each message (an OUTBOX envelope to its receiver,
  // with its outbox id) and how far delivery got.
  std::vector<Record> sent = records_of("actor/relay", RecordKind::kOutbox);
  ASSERT_EQ(sent.size(), 40u);
  Result<wire::Envelope> first = wire::decode_envelope(sent[0].payload);
  ASSERT_TRUE(first.has_value()) << first.status();
  EXPECT_EQ(first->target.key, "log");
  EXPECT_EQ(first->method, "apply");
  EXPECT_TRUE(first->idempotent);
  const auto id = outbox_message_id("actor/relay", 1);
  EXPECT_EQ(first->id.hi, id[0]);
  EXPECT_EQ(first->id.lo, id[1]);
  ASSERT_TRUE(system.shutdown(ShutdownMode::kDrain, 10s).is_ok());
  std::vector<Record> marks = records_of("actor/relay", RecordKind::kDelivered);
  ASSERT_FALSE(marks.empty());
  EXPECT_EQ(wire::decode_value<std::uint64_t>(marks.back().payload).value(), 40u);
}

TEST_P(DurableOutboxTest, ManyMessagesOfOneHandlerGoInTheOrderSent) {
  auto outbox = std::make_shared<LocalOutbox>();
  System system(config_with(outbox));
  outbox->attach(&system);
  auto log = system.spawn_durable<OpLog>("log").value();
  auto relay = system.spawn_durable<Relay>("relay").value();
  ASSERT_TRUE(await(relay.ask<&Relay::burst>(std::string("log"), std::int64_t{1}, std::int64_t{100})).is_ok());
  ASSERT_TRUE(await(relay.ask<&Relay::burst>(std::string("log"), std::int64_t{101}, std::int64_t{5})).is_ok());
  ASSERT_TRUE(outbox->wait_delivered(105));
  EXPECT_EQ(await(log.ask<&OpLog::ids>()).value(), range(1, 105));
}

// The process dies (here: its System goes) after the sends were committed
// and acknowledged: some delivered, one applied by its receiver without the
// sender hearing of it, the rest never sent. The next process recovers the sender,
// which sends what it does not know delivered; the receiver applies each
// message once.
void DurableOutboxTest::restart_delivers_once(std::uint32_t snapshot_every) {
  DurableOutboxTest& t = *this;
  DurableOptions relay_options;
  relay_options.snapshot_every = snapshot_every;
  {
    auto outbox = std::make_shared<LocalOutbox>();
    // Messages 1-3 are delivered; 4 is applied but never answered, so
    // 5-12 wait behind it.
    outbox->swallow = [](const OutboxMessage& m) { return m.seq == 4; };
    System system(t.config_with(outbox));
    outbox->attach(&system);
    auto log = system.spawn_durable<OpLog>("log").value();
    auto relay = system.spawn_durable_with<Relay>("relay", relay_options).value();
    for (std::int64_t op = 1; op <= 12; ++op) {
      ASSERT_TRUE(await(relay.ask<&Relay::relay>(std::string("log"), op)).is_ok()) << op;
    }
    ASSERT_TRUE(outbox->wait_delivered(3));
    EXPECT_EQ(await(log.ask<&OpLog::ids>()).value(), range(1, 4));
    system.shutdown(ShutdownMode::kStop, 10s).ignore();
    outbox->drop_held();
  }
  t.reopen();
  auto outbox = std::make_shared<LocalOutbox>();
  System system(t.config_with(outbox));
  outbox->attach(&system);
  auto log = system.spawn_durable<OpLog>("log").value();
  auto relay = system.spawn_durable_with<Relay>("relay", relay_options).value();
  ASSERT_TRUE(outbox->wait_delivered(12));
  // One message more after the restart: the ids go on from the journal's.
  ASSERT_TRUE(await(relay.ask<&Relay::relay>(std::string("log"), std::int64_t{13})).is_ok());
  ASSERT_TRUE(outbox->wait_delivered(13));
  EXPECT_EQ(await(log.ask<&OpLog::ids>()).value(), range(1, 13));
  EXPECT_EQ(await(relay.ask<&Relay::sent>()).value(), 13);
  EXPECT_GE(outbox->duplicates(), 1) << "a message applied before the restart was recognised";
}

TEST_P(DurableOutboxTest, UndeliveredMessagesAreSentAgainAfterARestartAndAppliedOnce) {
  restart_delivers_once(1);
}

TEST_P(DurableOutboxTest, UndeliveredMessagesOfReplayedHandlersAreSentAgainAndAppliedOnce) {
  // Snapshots every 5 messages: recovery replays the handlers after the
  // last one, which rebuilds their messages with the same ids.
  restart_delivers_once(5);
}

TEST_P(DurableOutboxTest, AMessageThatCanNeverBeDeliveredIsGivenUpAndTheNextGoesOn) {
  auto outbox = std::make_shared<LocalOutbox>();
  outbox->fail = [](const OutboxMessage& m) {
    return m.seq == 2 ? Status::invalid_argument("bad message") : Status::ok();
  };
  System system(config_with(outbox));
  outbox->attach(&system);
  auto log = system.spawn_durable<OpLog>("log").value();
  auto relay = system.spawn_durable<Relay>("relay").value();
  for (std::int64_t op = 1; op <= 3; ++op) {
    ASSERT_TRUE(await(relay.ask<&Relay::relay>(std::string("log"), op)).is_ok());
  }
  ASSERT_TRUE(outbox->wait_delivered(3));
  EXPECT_EQ(await(log.ask<&OpLog::ids>()).value(), (std::vector<std::int64_t>{1, 3}));
  const std::vector<std::string> lines = log_lines();
  EXPECT_TRUE(std::any_of(lines.begin(), lines.end(), [](const std::string& l) {
    return l.find("gave up message 2 to 'log'.apply") != std::string::npos && l.find("bad message") != std::string::npos;
  })) << "the log says which message was given up and why";
}

TEST_P(DurableOutboxTest, SendingByKeyNeedsATransportAndAKey) {
  System without(config());
  auto relay = without.spawn_durable<Relay>("relay").value();
  Status s = await(relay.ask<&Relay::relay>(std::string("log"), std::int64_t{1}));
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.to_string().find("SystemConfig::outbox"), std::string::npos) << s;
  without.shutdown(ShutdownMode::kStop, 10s).ignore();
  EXPECT_TRUE(records_of("actor/relay", RecordKind::kOutbox).empty());

  auto outbox = std::make_shared<LocalOutbox>();
  System system(config_with(outbox));
  outbox->attach(&system);
  auto again = system.spawn_durable<Relay>("relay2").value();
  s = await(again.ask<&Relay::relay>(std::string(), std::int64_t{1}));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s;
}

INSTANTIATE_TEST_SUITE_P(Backends, DurableOutboxTest, KEEL_DURABLE_BACKENDS);

}  // namespace
}  // namespace keel
