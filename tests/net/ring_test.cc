// The ring-buffer and credit protocol (net/src/ring.h) over plain memory:
// records stay whole across wrap-around, credits run out and come back, a
// closed or dead peer is reported, and a corrupt ring is kCorruption.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "ring.h"

namespace keel::wire {
namespace {

using Clock = std::chrono::steady_clock;

// 64-byte-aligned memory for a ring of `capacity` data bytes.
struct Memory {
  explicit Memory(std::size_t capacity)
      : bytes(ring_region_bytes(capacity)),
        storage(static_cast<char*>(::operator new(bytes, std::align_val_t{64}))) {}
  ~Memory() { ::operator delete(storage, std::align_val_t{64}); }
  RingRegion init() { return RingRegion::init(storage, bytes).value(); }
  std::size_t bytes;
  char* storage;
};

Clock::time_point far_deadline() { return Clock::now() + std::chrono::seconds(30); }

std::string body_for(std::uint64_t i) {
  std::string b(1 + (i * 37) % 90, static_cast<char>('a' + i % 26));
  std::memcpy(b.data(), &i, std::min(b.size(), sizeof i));
  return b;
}

TEST(Ring, RecordsRoundTripInPlace) {
  Memory mem(1024);
  RingRegion ring = mem.init();
  EXPECT_EQ(ring.capacity, 1024u);
  RingProducer producer(ring);
  RingConsumer consumer(ring);
  auto space = producer.try_reserve(5);
  ASSERT_TRUE(space.has_value());
  std::memcpy(space->data(), "hello", 5);
  producer.commit(6, 5);
  ASSERT_TRUE(producer.try_write(7, "").is_ok());
  auto a = consumer.try_read();
  ASSERT_TRUE(a.has_value() && a->has_value());
  EXPECT_EQ((*a)->type, 6);
  EXPECT_EQ((*a)->body, "hello");
  EXPECT_EQ((*a)->body.data(), space->data());  // read where it was written
  auto b = consumer.try_read();
  ASSERT_TRUE(b.has_value() && b->has_value());
  EXPECT_EQ((*b)->type, 7);
  EXPECT_TRUE((*b)->body.empty());
  EXPECT_FALSE(consumer.try_read().value().has_value());
}

TEST(Ring, SpansBetweenTailsSplitAtTheWrap) {
  auto s = ring_spans(100, 140, 256);
  EXPECT_EQ(s[0].offset, 100u);
  EXPECT_EQ(s[0].length, 40u);
  EXPECT_EQ(s[1].length, 0u);
  s = ring_spans(256 + 240, 256 + 240 + 48, 256);  // 16 bytes to the end, 32 after the wrap
  EXPECT_EQ(s[0].offset, 240u);
  EXPECT_EQ(s[0].length, 16u);
  EXPECT_EQ(s[1].offset, 0u);
  EXPECT_EQ(s[1].length, 32u);
  s = ring_spans(512, 768, 256);  // a whole lap from the start
  EXPECT_EQ(s[0].length, 256u);
  EXPECT_EQ(s[1].length, 0u);
}

TEST(Ring, AttachSeesTheSameRingAndRejectsGarbage) {
  Memory mem(4096);
  RingRegion ring = mem.init();
  auto again = RingRegion::attach(mem.storage, mem.bytes);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->capacity, ring.capacity);
  std::memset(mem.storage, 0x5a, 8);
  EXPECT_EQ(RingRegion::attach(mem.storage, mem.bytes).status().code(), StatusCode::kCorruption);
}

TEST(Ring, WrapAroundKeepsEveryRecordWhole) {
  Memory mem(256);
  RingRegion ring = mem.init();
  RingProducer producer(ring);
  RingConsumer consumer(ring);
  std::uint64_t next_read = 0;
  for (std::uint64_t i = 0; i < 5000; ++i) {
    const std::string body = body_for(i);
    while (true) {
      Status s = producer.try_write(6, body);
      if (s.is_ok()) break;
      ASSERT_EQ(s.code(), StatusCode::kOverloaded);
      auto r = consumer.try_read();
      ASSERT_TRUE(r.has_value() && r->has_value()) << "no record yet no credits at " << i;
      ASSERT_EQ((*r)->body, body_for(next_read)) << next_read;
      ++next_read;
      consumer.release();
    }
  }
  while (true) {
    auto r = consumer.try_read();
    ASSERT_TRUE(r.has_value());
    if (!r->has_value()) break;
    ASSERT_EQ((*r)->body, body_for(next_read));
    ++next_read;
  }
  EXPECT_EQ(next_read, 5000u);
  // 5000 records of about 56 bytes went around a 256-byte ring many times.
  EXPECT_GT(ring.control->tail, 500u * ring.capacity);
}

TEST(Ring, CreditsRunOutAndComeBackOnRelease) {
  Memory mem(256);
  RingRegion ring = mem.init();
  RingProducer producer(ring);
  RingConsumer consumer(ring);
  const std::string body(24, 'x');  // 32-byte records: 8 fill the ring
  int written = 0;
  while (producer.try_write(6, body).is_ok()) ++written;
  EXPECT_EQ(written, 8);
  EXPECT_EQ(producer.free_bytes(), 0u);
  EXPECT_EQ(producer.try_write(6, body).code(), StatusCode::kOverloaded);
  EXPECT_EQ(producer.write(6, body, Clock::now()).code(), StatusCode::kTimeout);
  // Reading alone returns no credits; releasing does.
  ASSERT_TRUE(consumer.try_read().value().has_value());
  EXPECT_EQ(producer.try_write(6, body).code(), StatusCode::kOverloaded);
  consumer.release();
  EXPECT_EQ(producer.free_bytes(), 32u);
  EXPECT_TRUE(producer.try_write(6, body).is_ok());
}

TEST(Ring, RecordOverHalfTheRingIsInvalidArgument) {
  Memory mem(256);
  RingProducer producer(mem.init());
  EXPECT_EQ(producer.try_write(6, std::string(121, 'x')).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(producer.try_write(6, std::string(120, 'x')).is_ok());
}

TEST(Ring, ProducerCloseDeliversWhatWasWrittenThenUnavailable) {
  Memory mem(1024);
  RingRegion ring = mem.init();
  RingProducer producer(ring);
  RingConsumer consumer(ring);
  ASSERT_TRUE(producer.try_write(6, "last words").is_ok());
  producer.close();
  auto r = consumer.read(far_deadline());
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->body, "last words");
  EXPECT_EQ(consumer.try_read().status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(consumer.read(far_deadline()).status().code(), StatusCode::kUnavailable);
}

TEST(Ring, ConsumerCloseStopsTheProducer) {
  Memory mem(1024);
  RingRegion ring = mem.init();
  RingProducer producer(ring);
  RingConsumer consumer(ring);
  consumer.close();
  EXPECT_EQ(producer.try_write(6, "x").code(), StatusCode::kUnavailable);
  EXPECT_EQ(producer.write(6, "x", far_deadline()).code(), StatusCode::kUnavailable);
}

TEST(Ring, PeerWatchDeclaresDeathOnlyAfterTheHeartbeatStops) {
  PeerWatch watch(std::chrono::milliseconds(100));
  const Clock::time_point t0{};
  EXPECT_TRUE(watch.alive(1, t0));
  EXPECT_TRUE(watch.alive(1, t0 + std::chrono::milliseconds(100)));
  EXPECT_TRUE(watch.alive(2, t0 + std::chrono::milliseconds(150)));  // it beat
  EXPECT_TRUE(watch.alive(2, t0 + std::chrono::milliseconds(250)));
  EXPECT_FALSE(watch.alive(2, t0 + std::chrono::milliseconds(251)));
}

TEST(Ring, ConsumerWaitingOnADeadProducerIsUnavailable) {
  Memory mem(1024);
  RingRegion ring = mem.init();
  RingWaitOptions wait;
  wait.spin = std::chrono::microseconds(0);
  wait.poll_interval = std::chrono::milliseconds(2);
  wait.peer_timeout = std::chrono::milliseconds(20);
  RingProducer producer(ring, wait);  // never beats: as if its process died
  RingConsumer consumer(ring, wait);
  auto r = consumer.read(far_deadline());
  ASSERT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find("heartbeat stopped"), std::string::npos);
}

TEST(Ring, ProducerWaitingOnADeadConsumerIsUnavailable) {
  Memory mem(256);
  RingRegion ring = mem.init();
  RingWaitOptions wait;
  wait.spin = std::chrono::microseconds(0);
  wait.poll_interval = std::chrono::milliseconds(2);
  wait.peer_timeout = std::chrono::milliseconds(20);
  RingProducer producer(ring, wait);
  while (producer.try_write(6, std::string(24, 'x')).is_ok()) {
  }
  Status s = producer.write(6, std::string(24, 'x'), far_deadline());
  ASSERT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("heartbeat stopped"), std::string::npos);
}

TEST(Ring, CorruptRecordHeaderIsCorruption) {
  Memory mem(1024);
  RingRegion ring = mem.init();
  RingProducer producer(ring);
  RingConsumer consumer(ring);
  ASSERT_TRUE(producer.try_write(6, "fine").is_ok());
  std::memset(ring.data, 0xff, 4);  // length 4 GiB
  EXPECT_EQ(consumer.try_read().status().code(), StatusCode::kCorruption);
  // A tail beyond the capacity is caught as well.
  Memory mem2(1024);
  RingRegion ring2 = mem2.init();
  RingConsumer consumer2(ring2);
  ring2.control->tail = 10 * ring2.capacity;
  EXPECT_EQ(consumer2.try_read().status().code(), StatusCode::kCorruption);
}

TEST(Ring, ThreadsStreamThroughASmallRingWithWaits) {
  Memory mem(1024);
  RingRegion ring = mem.init();
  RingWaitOptions wait;
  wait.spin = std::chrono::microseconds(0);  // sleep every time, to exercise the futex paths
  constexpr std::uint64_t kRecords = 200'000;
  std::thread producer_thread([&] {
    RingProducer producer(ring, wait);
    for (std::uint64_t i = 0; i < kRecords; ++i) {
      ASSERT_TRUE(producer.write(6, body_for(i), far_deadline()).is_ok()) << i;
    }
    producer.close();
  });
  RingConsumer consumer(ring, wait);
  std::uint64_t n = 0;
  while (true) {
    // Credits go back in batches, and always before the consumer sleeps (a
    // producer waiting for them would otherwise wait forever).
    auto next = consumer.try_read();
    ASSERT_TRUE(next.has_value() || next.status().code() == StatusCode::kUnavailable);
    if (!next.has_value()) break;
    std::string_view body;
    if (next->has_value()) {
      body = (*next)->body;
    } else {
      consumer.release();
      auto r = consumer.read(far_deadline());
      if (!r.has_value()) {
        EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status();
        break;
      }
      body = r->body;
    }
    ASSERT_EQ(body, body_for(n)) << n;
    ++n;
    if (n % 3 == 0) consumer.release();
  }
  producer_thread.join();
  EXPECT_EQ(n, kRecords);
}

// The event-driven reader's step (the RDMA completion channel): a record
// that arrives after the last poll and before the arm raises no event, so
// only the poll after the arm can find it.
TEST(Ring, ArmThenPollFindsARecordThatArrivedBeforeTheArm) {
  Memory mem(1024);
  RingRegion ring = mem.init();
  RingProducer producer(ring);
  RingConsumer consumer(ring);
  bool armed = false;
  std::vector<std::string> got;
  auto poll = [&]() -> Result<int> {
    int n = 0;
    while (true) {
      KEEL_ASSIGN_OR_RETURN(std::optional<RingRecord> r, consumer.try_read());
      if (!r) break;
      got.emplace_back(r->body);
      ++n;
    }
    consumer.release();
    return n;
  };
  auto arm = [&] {
    armed = true;
    return Status::ok();
  };
  // Nothing there: armed, nothing found, wait for the event.
  Result<bool> again = arm_then_poll(arm, poll);
  ASSERT_TRUE(again.has_value());
  EXPECT_TRUE(armed);
  EXPECT_FALSE(*again);
  // A record lands while no event is armed (before the next arm).
  ASSERT_TRUE(producer.try_write(6, "quiet").is_ok());
  armed = false;
  again = arm_then_poll(arm, poll);
  ASSERT_TRUE(again.has_value());
  EXPECT_TRUE(*again);  // found one: run again before waiting
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], "quiet");
  again = arm_then_poll(arm, poll);
  ASSERT_TRUE(again.has_value());
  EXPECT_FALSE(*again);
}

TEST(Ring, ArmThenPollReportsTheArmsError) {
  int polls = 0;
  Result<bool> r = arm_then_poll([] { return Status::io_error("ibv_req_notify_cq: broken"); },
                                 [&]() -> Result<int> { return ++polls; });
  EXPECT_EQ(r.status().code(), StatusCode::kIoError);
  EXPECT_EQ(polls, 0);
}

TEST(HandoffOrder, AStreamFrameAfterItsRecordIsDeliveredAtOnceAndTheRingResumes) {
  HandoffOrder order;
  EXPECT_FALSE(order.on_handoff_record().has_value());  // the ring stops here
  EXPECT_TRUE(order.waiting());
  EXPECT_TRUE(order.on_stream_frame(6, "big"));  // deliver now, then read the ring again
  EXPECT_FALSE(order.waiting());
}

TEST(HandoffOrder, StreamFramesAheadOfTheirRecordsAreKeptAndComeOutInOrder) {
  HandoffOrder order;
  EXPECT_FALSE(order.on_stream_frame(6, "first"));
  EXPECT_FALSE(order.on_stream_frame(7, "second"));
  auto a = order.on_handoff_record();
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->first, 6);
  EXPECT_EQ(a->second, "first");
  auto b = order.on_handoff_record();
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->second, "second");
  EXPECT_FALSE(order.waiting());
  EXPECT_FALSE(order.on_handoff_record().has_value());  // the third has not arrived
  EXPECT_TRUE(order.on_stream_frame(6, "third"));
}

}  // namespace
}  // namespace keel::wire
