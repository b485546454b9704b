// ring.h: the ring-buffer and credit protocol that carries frames
// between two processes over shared memory (keel/net/shm_transport.h). It
// works on a plain memory region, so it is tested on every machine.
//
// One ring carries records one way: a single producer appends variable-size
// records (an 8-byte header and a body padded to 8 bytes), a single consumer
// reads them in place and returns their space ("credits") by advancing its
// head. A record never straddles the end: when it does not fit, the producer
// writes a wrap marker and continues at the start. Both sides sleep on a
// futex (after an optional spin), and each bumps a heartbeat word while it waits,
// so the other notices when it dies; a clean close sets a closed flag.
//
// The producer only writes data, `tail` and its own words and only reads
// `head`; the consumer only writes `head` and its own words. That is the
// split an RDMA binding needs (records and tail by RDMA write, head returned
// as credits); docs/wire-protocol.md, "Ring protocol". Private to Keel::net.
//
//   std::vector<std::uint64_t> mem(keel::wire::ring_region_bytes(1 << 16) / 8);
//   auto ring = keel::wire::RingRegion::init(mem.data(), mem.size() * 8).value();
//   keel::wire::RingProducer producer(ring);
//   keel::wire::RingConsumer consumer(ring);
//   producer.try_write(6, "hello").ignore();
//   auto record = consumer.try_read().value();   // std::optional<RingRecord>
//   assert(record && record->body == "hello");
//   consumer.release();                          // credits back to the producer
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "keel/base/status.h"

namespace keel::wire {

// The control words at the start of a ring region. Each group sits on its own
// cache line so the two sides do not share lines they write.
struct RingControl {
  alignas(64) std::uint64_t magic;     // kRingMagic once initialized
  std::uint64_t capacity;              // data bytes, a power of two >= 64
  alignas(64) std::uint64_t tail;      // producer: bytes published, monotonic
  std::uint32_t data_seq;              // futex: bumped when a sleeping consumer must wake
  std::uint32_t producer_closed;
  std::uint64_t producer_heartbeat;
  alignas(64) std::uint64_t head;      // consumer: bytes consumed (credits returned)
  std::uint32_t credit_seq;            // futex: bumped when a sleeping producer must wake
  std::uint32_t consumer_closed;
  std::uint64_t consumer_heartbeat;
  alignas(64) std::uint32_t consumer_sleeping;  // written by the consumer only
  alignas(64) std::uint32_t producer_sleeping;  // written by the producer only
};

inline constexpr std::uint64_t kRingMagic = 0x4b45454c52494e47;  // "KEELRING"
inline constexpr std::size_t kRingRecordHeaderBytes = 8;

// Bytes of a region holding a ring with `capacity` data bytes.
constexpr std::size_t ring_region_bytes(std::size_t capacity) { return sizeof(RingControl) + capacity; }

// A contiguous run of ring data bytes: [offset, offset + length).
struct RingSpan {
  std::size_t offset = 0;
  std::size_t length = 0;
};

// The data bytes a producer wrote between two tail values (at most one
// wrap, so at most two spans; the second is empty when there was no wrap).
// An RDMA producer copies exactly these to the peer's ring.
// Precondition: new_tail - old_tail <= capacity, capacity a power of two.
std::array<RingSpan, 2> ring_spans(std::uint64_t old_tail, std::uint64_t new_tail, std::size_t capacity);

// A ring laid out in caller-owned memory (the control block, then the data).
// A cheap handle; the memory must outlive every producer and consumer on it.
struct RingRegion {
  RingControl* control = nullptr;
  char* data = nullptr;
  std::size_t capacity = 0;

  // Formats `bytes` bytes at `memory` (8-byte aligned, zeroed or not) as an
  // empty ring with the largest power-of-two capacity that fits. Errors:
  // kInvalidArgument (misaligned or too small).
  static Result<RingRegion> init(void* memory, std::size_t bytes);
  // A view of a ring another process formatted. Errors: kCorruption (no
  // magic, or a capacity that does not fit `bytes`).
  static Result<RingRegion> attach(void* memory, std::size_t bytes);

  // The largest body a record may carry: half the capacity less a header,
  // so a record always fits after at most one wrap.
  std::size_t max_record_bytes() const { return capacity / 2 - kRingRecordHeaderBytes; }
};

// How the blocking calls wait: ShmWaitOptions (keel/net/shm_transport.h)
// explains each field; the shared-memory transport passes its own.
struct RingWaitOptions {
  std::chrono::microseconds spin{0};
  std::chrono::milliseconds poll_interval{20};
  std::chrono::milliseconds peer_timeout{2000};
};

// Tracks a peer's heartbeat word: dead once it stops changing for longer
// than the timeout. Not thread-safe.
class PeerWatch {
 public:
  explicit PeerWatch(std::chrono::milliseconds timeout) : timeout_(timeout) {}
  // Feeds the heartbeat value read at `now`; returns false once the peer
  // counts as dead.
  bool alive(std::uint64_t heartbeat, std::chrono::steady_clock::time_point now);

 private:
  std::chrono::milliseconds timeout_;
  bool seen_ = false;
  std::uint64_t last_ = 0;
  std::chrono::steady_clock::time_point changed_at_{};
};

// The producing side of one ring. Not thread-safe: one producer thread at a
// time (callers serialize).
class RingProducer {
 public:
  explicit RingProducer(RingRegion ring, RingWaitOptions wait = {});

  // Space for a record of `body_bytes`, written in place by the caller and
  // published by commit(): zero copy. Errors: kOverloaded (not enough
  // credits now), kInvalidArgument (over max_record_bytes), kUnavailable
  // (the consumer closed).
  Result<std::span<char>> try_reserve(std::size_t body_bytes);
  // Publishes the reserved record with `type` and `body_bytes` (at most what
  // was reserved) and wakes a sleeping consumer.
  void commit(std::uint8_t type, std::size_t body_bytes);

  // try_reserve + copy + commit.
  Status try_write(std::uint8_t type, std::string_view body);
  // As try_write, but waits for credits until `deadline`. Errors as
  // try_reserve, plus kTimeout (deadline) and kUnavailable (the consumer
  // died: its heartbeat stopped).
  Status write(std::uint8_t type, std::string_view body, std::chrono::steady_clock::time_point deadline);

  // Bytes the producer may still write (credits).
  std::size_t free_bytes() const;
  // Marks this side alive (the shared-memory transport calls it from its
  // reader loop). Thread-safe: one atomic add on the shared word.
  void beat() const;
  // Tells the consumer that no more records come; wakes it.
  void close();
  bool consumer_closed() const;

 private:
  RingRegion ring_;
  RingWaitOptions wait_;
  PeerWatch consumer_watch_;    // across calls: a dead peer is noticed however short each wait
  std::uint64_t tail_ = 0;      // local copy of control->tail
  std::uint64_t reserved_ = 0;  // bytes from tail_ to the reserved record (the wrap pad)
  std::size_t reserved_body_ = 0;
  bool has_reservation_ = false;
};

// A record read in place; `body` stays valid until release().
struct RingRecord {
  std::uint8_t type = 0;
  std::string_view body;
};

// The consuming side of one ring. Not thread-safe: one consumer thread.
class RingConsumer {
 public:
  explicit RingConsumer(RingRegion ring, RingWaitOptions wait = {});

  // The next record, or std::nullopt when none is published. Records read
  // and not yet released stay in place. Errors: kCorruption (a record
  // header that cannot be right: the producer is broken or hostile),
  // kUnavailable (empty and the producer closed).
  Result<std::optional<RingRecord>> try_read();
  // Waits for the next record until `deadline`. Errors as try_read, plus
  // kTimeout and kUnavailable (the producer died: its heartbeat stopped).
  Result<RingRecord> read(std::chrono::steady_clock::time_point deadline);
  // Returns the credits of every record read so far and wakes a producer
  // waiting for them.
  void release();

  // As RingProducer::beat.
  void beat() const;
  void close();
  bool producer_closed() const;

 private:
  RingRegion ring_;
  RingWaitOptions wait_;
  PeerWatch producer_watch_;  // as RingProducer::consumer_watch_
  std::uint64_t head_ = 0;  // consumed and released (control->head)
  std::uint64_t read_ = 0;  // read, not yet released
};

// The wake-up step of a reader driven by events rather than a futex (the
// RDMA transport's completion channel): arms the wake-up, then polls. A
// record that arrived before the arm raises no event, so only the poll after
// the arm finds it; waiting for the event without that poll could leave it
// unread. Returns whether the poll found records: the caller then runs the
// step again (after yielding to other work), and waits for the next event
// only once a poll finds none. Errors: the first of `arm` (returns a
// Status) or `poll` (returns Result<int>, the records it took).
template <class Arm, class Poll>
Result<bool> arm_then_poll(const Arm& arm, const Poll& poll) {
  KEEL_RETURN_IF_ERROR(arm());
  KEEL_ASSIGN_OR_RETURN(int records, poll());
  return records > 0;
}

// The order of frames a sender splits between a ring and a stream (the RDMA
// transport sends a frame too large for its ring over TCP, and writes a
// handoff record in the ring where the frame belongs). The receiver feeds
// both sides here and delivers each stream frame at its record, whichever
// arrives first. Not thread-safe: owned by the receiving thread.
//
//   keel::wire::HandoffOrder order;
//   // ring record of the handoff type:
//   if (auto early = order.on_handoff_record()) deliver(early->first, early->second);
//   else stop_reading_the_ring();            // until the stream frame comes
//   // stream frame f:
//   if (order.on_stream_frame(f.type, f.body)) { deliver(f.type, f.body); resume_reading_the_ring(); }
class HandoffOrder {
 public:
  // The ring reached a handoff record. Returns the stream frame that
  // belongs there when it already arrived (to deliver now); otherwise
  // std::nullopt, and the ring must not be read further until
  // on_stream_frame returns true.
  std::optional<std::pair<std::uint8_t, std::string>> on_handoff_record();
  // A frame arrived on the stream. Returns true when the ring waits at its
  // record: deliver it now, then read the ring again. Otherwise it is kept
  // (copied) for its record, which has not been read yet.
  bool on_stream_frame(std::uint8_t type, std::string_view body);
  // Whether the ring waits at a handoff record for its stream frame.
  bool waiting() const { return waiting_; }

 private:
  bool waiting_ = false;
  std::deque<std::pair<std::uint8_t, std::string>> early_;  // stream frames ahead of their records
};

}  // namespace keel::wire
