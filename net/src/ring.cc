// The ring-buffer and credit protocol (ring.h).
//
// Memory order. Records are plain writes published by the producer's store
// of `tail` and acquired by the consumer's load of it; credits likewise flow
// back through `head`. The sleep/wake handshake is Dekker-style: a sleeper
// stores its *_sleeping flag and then re-reads the index, the waker stores
// the index and then reads the flag. Both pairs are seq_cst so that at least
// one side sees the other's store: either the sleeper sees the new index and
// does not sleep, or the waker sees the flag, bumps the futex word and wakes
// it (and a sleeper whose futex word changed returns at once). The waker
// clears the flag as it reads it (exchange), so a burst of records costs one
// wake-up, not one system call per record.
#include "ring.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstring>

namespace keel::wire {
namespace {

constexpr std::uint8_t kFlagWrap = 1;  // the rest of the ring up to its end is padding

struct RecordHeader {
  std::uint32_t length;  // body bytes (for a wrap marker: padding after the header)
  std::uint8_t type;
  std::uint8_t flags;
  std::uint8_t magic0;   // 'R'
  std::uint8_t magic1;   // 'G'
};
static_assert(sizeof(RecordHeader) == kRingRecordHeaderBytes);

constexpr std::size_t pad8(std::size_t n) { return (n + 7) & ~std::size_t{7}; }

template <class T>
std::atomic_ref<T> at(T& word) {
  return std::atomic_ref<T>(word);
}

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// FUTEX_WAIT on a word in a mapping shared between processes (so not the
// _PRIVATE variant). Spurious and early returns are fine: callers re-check.
void futex_wait(std::uint32_t* word, std::uint32_t expected, std::chrono::nanoseconds timeout) {
  timespec ts{};
  ts.tv_sec = static_cast<time_t>(timeout.count() / 1'000'000'000);
  ts.tv_nsec = static_cast<long>(timeout.count() % 1'000'000'000);
  syscall(SYS_futex, word, FUTEX_WAIT, expected, &ts, nullptr, 0);
}

void futex_wake(std::uint32_t* word) {
  syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

void write_header(char* at_ptr, std::uint32_t length, std::uint8_t type, std::uint8_t flags) {
  const RecordHeader h{length, type, flags, 'R', 'G'};
  std::memcpy(at_ptr, &h, sizeof h);
}

// The words one side waits with: its futex word and sleeping flag, its own
// heartbeat, and the peer's heartbeat it watches.
struct WaitWords {
  std::uint32_t* seq;
  std::uint32_t* sleeping;
  std::uint64_t* own_heartbeat;
  std::uint64_t* peer_heartbeat;
  const char* peer;  // "producer" or "consumer", for messages
};

// Waits once for `ready()`: spins, then announces the sleep, re-checks and
// sleeps on the futex for at most one poll interval. Returns ok when the
// caller should check again, kTimeout at the deadline, kUnavailable when the
// peer's heartbeat stopped. `ready` must load the index seq_cst (Dekker).
template <class Ready>
Status wait_once(const RingWaitOptions& w, const WaitWords& words, PeerWatch& watch,
                 std::chrono::steady_clock::time_point deadline, const Ready& ready) {
  if (w.spin.count() > 0) {
    const auto spin_until = std::chrono::steady_clock::now() + w.spin;
    for (int i = 1;; ++i) {
      if (ready()) return Status::ok();
      cpu_relax();
      if (i % 64 == 0 && std::chrono::steady_clock::now() >= spin_until) break;
    }
  }
  const std::uint32_t seq = at(*words.seq).load(std::memory_order_acquire);
  at(*words.sleeping).store(1, std::memory_order_seq_cst);
  struct Awake {
    std::uint32_t* flag;
    ~Awake() { at(*flag).store(0, std::memory_order_relaxed); }
  } awake{words.sleeping};
  if (ready()) return Status::ok();
  const auto now = std::chrono::steady_clock::now();
  if (now >= deadline) {
    return Status::timeout(std::string("ring: the ") + words.peer + " did not answer before the deadline");
  }
  futex_wait(words.seq, seq, std::min<std::chrono::nanoseconds>(w.poll_interval, deadline - now));
  // relaxed: only change matters, and it is read with a generous timeout.
  at(*words.own_heartbeat).fetch_add(1, std::memory_order_relaxed);
  const std::uint64_t hb = at(*words.peer_heartbeat).load(std::memory_order_relaxed);
  if (!watch.alive(hb, std::chrono::steady_clock::now())) {
    return Status::unavailable(std::string("ring: the ") + words.peer + "'s heartbeat stopped (peer died?)");
  }
  return Status::ok();
}

}  // namespace

std::array<RingSpan, 2> ring_spans(std::uint64_t old_tail, std::uint64_t new_tail, std::size_t capacity) {
  KEEL_CHECK(new_tail - old_tail <= capacity, "ring_spans over more than the capacity");
  const std::size_t pos = static_cast<std::size_t>(old_tail & (capacity - 1));
  const std::size_t n = static_cast<std::size_t>(new_tail - old_tail);
  const std::size_t first = std::min(n, capacity - pos);
  return {RingSpan{pos, first}, RingSpan{0, n - first}};
}

Result<RingRegion> RingRegion::init(void* memory, std::size_t bytes) {
  if (reinterpret_cast<std::uintptr_t>(memory) % 64 != 0) {
    return Status::invalid_argument("ring memory must be 64-byte aligned");
  }
  if (bytes < ring_region_bytes(64)) return Status::invalid_argument("ring memory too small");
  std::size_t capacity = 64;
  while (capacity * 2 <= bytes - sizeof(RingControl)) capacity *= 2;
  auto* control = new (memory) RingControl{};
  control->capacity = capacity;
  at(control->magic).store(kRingMagic, std::memory_order_release);
  return RingRegion{control, static_cast<char*>(memory) + sizeof(RingControl), capacity};
}

Result<RingRegion> RingRegion::attach(void* memory, std::size_t bytes) {
  if (reinterpret_cast<std::uintptr_t>(memory) % 64 != 0 || bytes < sizeof(RingControl)) {
    return Status::corruption("ring: region misaligned or too small");
  }
  auto* control = static_cast<RingControl*>(memory);
  if (at(control->magic).load(std::memory_order_acquire) != kRingMagic) {
    return Status::corruption("ring: no ring magic (not initialized)");
  }
  const std::uint64_t capacity = control->capacity;
  if (capacity < 64 || (capacity & (capacity - 1)) != 0 || capacity > bytes - sizeof(RingControl)) {
    return Status::corruption("ring: capacity " + std::to_string(capacity) + " does not fit the region");
  }
  return RingRegion{control, static_cast<char*>(memory) + sizeof(RingControl), capacity};
}

bool PeerWatch::alive(std::uint64_t heartbeat, std::chrono::steady_clock::time_point now) {
  if (!seen_ || last_ != heartbeat) {
    seen_ = true;
    last_ = heartbeat;
    changed_at_ = now;
    return true;
  }
  return now - changed_at_ <= timeout_;
}

// ---------------------------------------------------------------- producer

RingProducer::RingProducer(RingRegion ring, RingWaitOptions wait)
    : ring_(ring),
      wait_(wait),
      consumer_watch_(wait.peer_timeout),
      tail_(at(ring.control->tail).load(std::memory_order_acquire)) {}

std::size_t RingProducer::free_bytes() const {
  // acquire: the consumer is done with the bytes before `head`.
  const std::uint64_t head = at(ring_.control->head).load(std::memory_order_acquire);
  return ring_.capacity - static_cast<std::size_t>(tail_ - head);
}

Result<std::span<char>> RingProducer::try_reserve(std::size_t body_bytes) {
  if (consumer_closed()) return Status::unavailable("ring: the consumer closed");
  if (body_bytes > ring_.max_record_bytes()) {
    return Status::invalid_argument("ring: record of " + std::to_string(body_bytes) +
                                    " bytes exceeds the limit of " +
                                    std::to_string(ring_.max_record_bytes()));
  }
  const std::size_t record = kRingRecordHeaderBytes + pad8(body_bytes);
  const std::size_t pos = static_cast<std::size_t>(tail_ & (ring_.capacity - 1));
  const std::size_t to_end = ring_.capacity - pos;
  const std::size_t wrap = to_end < record ? to_end : 0;
  if (free_bytes() < wrap + record) {
    return Status::overloaded("ring: no credits for " + std::to_string(wrap + record) + " bytes");
  }
  reserved_ = wrap;
  reserved_body_ = body_bytes;
  has_reservation_ = true;
  const std::size_t start = (pos + wrap) & (ring_.capacity - 1);
  return std::span<char>(ring_.data + start + kRingRecordHeaderBytes, body_bytes);
}

void RingProducer::commit(std::uint8_t type, std::size_t body_bytes) {
  KEEL_CHECK(has_reservation_ && body_bytes <= reserved_body_, "RingProducer::commit without reserve");
  has_reservation_ = false;
  const std::size_t pos = static_cast<std::size_t>(tail_ & (ring_.capacity - 1));
  if (reserved_ > 0) {
    write_header(ring_.data + pos, static_cast<std::uint32_t>(reserved_ - kRingRecordHeaderBytes), 0,
                 kFlagWrap);
  }
  const std::size_t start = (pos + reserved_) & (ring_.capacity - 1);
  write_header(ring_.data + start, static_cast<std::uint32_t>(body_bytes), type, 0);
  tail_ += reserved_ + kRingRecordHeaderBytes + pad8(body_bytes);
  // seq_cst: publishes the record (release) and orders against the read of
  // consumer_sleeping below (Dekker, see the top of this file).
  at(ring_.control->tail).store(tail_, std::memory_order_seq_cst);
  if (at(ring_.control->consumer_sleeping).exchange(0, std::memory_order_seq_cst) != 0) {
    at(ring_.control->data_seq).fetch_add(1, std::memory_order_seq_cst);
    futex_wake(&ring_.control->data_seq);
  }
}

Status RingProducer::try_write(std::uint8_t type, std::string_view body) {
  KEEL_ASSIGN_OR_RETURN(std::span<char> space, try_reserve(body.size()));
  if (!body.empty()) std::memcpy(space.data(), body.data(), body.size());
  commit(type, body.size());
  return Status::ok();
}

Status RingProducer::write(std::uint8_t type, std::string_view body,
                           std::chrono::steady_clock::time_point deadline) {
  const std::size_t need = 2 * (kRingRecordHeaderBytes + pad8(body.size()));  // with a wrap, at most
  const WaitWords words{&ring_.control->credit_seq, &ring_.control->producer_sleeping,
                        &ring_.control->producer_heartbeat, &ring_.control->consumer_heartbeat,
                        "consumer"};
  auto ready = [&] {
    const std::uint64_t head = at(ring_.control->head).load(std::memory_order_seq_cst);
    return ring_.capacity - static_cast<std::size_t>(tail_ - head) >= need || consumer_closed();
  };
  while (true) {
    Status s = try_write(type, body);
    if (s.code() != StatusCode::kOverloaded) return s;
    KEEL_RETURN_IF_ERROR(wait_once(wait_, words, consumer_watch_, deadline, ready));
  }
}

void RingProducer::beat() const {
  // relaxed: only change matters, and it is read with a generous timeout.
  at(ring_.control->producer_heartbeat).fetch_add(1, std::memory_order_relaxed);
}

void RingProducer::close() {
  at(ring_.control->producer_closed).store(1, std::memory_order_seq_cst);
  at(ring_.control->data_seq).fetch_add(1, std::memory_order_seq_cst);
  futex_wake(&ring_.control->data_seq);
}

bool RingProducer::consumer_closed() const {
  return at(ring_.control->consumer_closed).load(std::memory_order_acquire) != 0;
}

// ---------------------------------------------------------------- consumer

RingConsumer::RingConsumer(RingRegion ring, RingWaitOptions wait)
    : ring_(ring),
      wait_(wait),
      producer_watch_(wait.peer_timeout),
      head_(at(ring.control->head).load(std::memory_order_acquire)),
      read_(head_) {}

Result<std::optional<RingRecord>> RingConsumer::try_read() {
  // acquire: the record bytes before `tail` are visible.
  const std::uint64_t tail = at(ring_.control->tail).load(std::memory_order_acquire);
  while (read_ != tail) {
    const std::uint64_t avail = tail - read_;
    if (avail > ring_.capacity || tail - head_ > ring_.capacity) {
      return Status::corruption("ring: tail " + std::to_string(tail) + " is beyond the capacity");
    }
    const std::size_t pos = static_cast<std::size_t>(read_ & (ring_.capacity - 1));
    if (avail < kRingRecordHeaderBytes) return Status::corruption("ring: partial record header");
    RecordHeader h;
    std::memcpy(&h, ring_.data + pos, sizeof h);
    if (h.magic0 != 'R' || h.magic1 != 'G') {
      return Status::corruption("ring: bad record magic at " + std::to_string(read_));
    }
    if (h.flags == kFlagWrap) {
      const std::size_t pad = ring_.capacity - pos;
      if (h.length != pad - kRingRecordHeaderBytes || avail < pad) {
        return Status::corruption("ring: bad wrap marker at " + std::to_string(read_));
      }
      read_ += pad;
      continue;
    }
    if (h.flags != 0) return Status::corruption("ring: unknown record flags " + std::to_string(h.flags));
    const std::size_t record = kRingRecordHeaderBytes + pad8(h.length);
    if (h.length > ring_.max_record_bytes() || record > avail || pos + record > ring_.capacity) {
      return Status::corruption("ring: record length " + std::to_string(h.length) + " at " +
                                std::to_string(read_) + " runs past the published bytes");
    }
    read_ += record;
    return std::optional<RingRecord>(
        RingRecord{h.type, std::string_view(ring_.data + pos + kRingRecordHeaderBytes, h.length)});
  }
  if (producer_closed()) {
    // Records published before the close are delivered first.
    if (at(ring_.control->tail).load(std::memory_order_acquire) != read_) return try_read();
    return Status::unavailable("ring: the producer closed");
  }
  return std::optional<RingRecord>();
}

Result<RingRecord> RingConsumer::read(std::chrono::steady_clock::time_point deadline) {
  const WaitWords words{&ring_.control->data_seq, &ring_.control->consumer_sleeping,
                        &ring_.control->consumer_heartbeat, &ring_.control->producer_heartbeat,
                        "producer"};
  auto ready = [&] {
    return at(ring_.control->tail).load(std::memory_order_seq_cst) != read_ || producer_closed();
  };
  while (true) {
    KEEL_ASSIGN_OR_RETURN(std::optional<RingRecord> r, try_read());
    if (r) return *r;
    KEEL_RETURN_IF_ERROR(wait_once(wait_, words, producer_watch_, deadline, ready));
  }
}

void RingConsumer::release() {
  if (read_ == head_) return;
  head_ = read_;
  // seq_cst: returns the credits (release) and orders against the read of
  // producer_sleeping (Dekker, see the top of this file).
  at(ring_.control->head).store(head_, std::memory_order_seq_cst);
  if (at(ring_.control->producer_sleeping).exchange(0, std::memory_order_seq_cst) != 0) {
    at(ring_.control->credit_seq).fetch_add(1, std::memory_order_seq_cst);
    futex_wake(&ring_.control->credit_seq);
  }
}

void RingConsumer::beat() const {
  // relaxed: see RingProducer::beat.
  at(ring_.control->consumer_heartbeat).fetch_add(1, std::memory_order_relaxed);
}

void RingConsumer::close() {
  at(ring_.control->consumer_closed).store(1, std::memory_order_seq_cst);
  at(ring_.control->credit_seq).fetch_add(1, std::memory_order_seq_cst);
  futex_wake(&ring_.control->credit_seq);
}

bool RingConsumer::producer_closed() const {
  return at(ring_.control->producer_closed).load(std::memory_order_acquire) != 0;
}

// ------------------------------------------------------------ handoff order

std::optional<std::pair<std::uint8_t, std::string>> HandoffOrder::on_handoff_record() {
  if (early_.empty()) {
    waiting_ = true;
    return std::nullopt;
  }
  std::pair<std::uint8_t, std::string> frame = std::move(early_.front());
  early_.pop_front();
  return frame;
}

bool HandoffOrder::on_stream_frame(std::uint8_t type, std::string_view body) {
  if (!waiting_) {
    early_.emplace_back(type, std::string(body));
    return false;
  }
  waiting_ = false;
  return true;
}

}  // namespace keel::wire
