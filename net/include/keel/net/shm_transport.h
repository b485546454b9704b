// keel/net/shm_transport.h: the shared-memory transport between two
// processes on one host. A ShmRegion is a shared mapping (memfd) holding two
// rings, one per direction (docs/wire-protocol.md, "Ring protocol"); each
// process runs a ShmConnection on its side. Frames are written into the
// peer's ring and read in place: on_frame's body points into the shared
// mapping (zero copy) until the callback returns, when its space goes back
// as credits.
//
// There is no HMAC handshake: only a process that holds the region's file
// descriptor (inherited across fork, or passed over a Unix socket) can reach
// it. Frames larger than the ring's max record size (half a ring) do not fit
// and are refused; send them over TCP.
//
//   auto region = keel::wire::ShmRegion::create(1 << 20).value();
//   if (fork() == 0) {
//     auto b = keel::wire::ShmConnection::start(*region, keel::wire::ShmSide::kB, echo, {}).value();
//     ...
//   }
//   auto a = keel::wire::ShmConnection::start(*region, keel::wire::ShmSide::kA, callbacks, {}).value();
//   a->send(keel::wire::MessageType::kCall, envelope_bytes).ignore();
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>

#include "keel/base/status.h"
#include "keel/wire/transport.h"

namespace keel::wire {

namespace internal {
class MappedShmRegion;
}  // namespace internal

// A shared mapping with two rings. Owns the mapping and the descriptor.
// Not copyable or movable; thread-safe (immutable after creation).
class ShmRegion {
 public:
  // Creates an anonymous shared file (memfd) with two rings of `ring_bytes`
  // data each (rounded down to a power of two). Errors: kIoError (memfd,
  // ftruncate or mmap failed), kInvalidArgument (ring_bytes under 4 KiB).
  static Result<std::unique_ptr<ShmRegion>> create(std::size_t ring_bytes);
  // Maps a region made by create() in another process, from its descriptor
  // (this object takes ownership of `fd`). Errors: kIoError, kCorruption
  // (not a Keel region).
  static Result<std::unique_ptr<ShmRegion>> open(int fd);
  virtual ~ShmRegion() = default;
  ShmRegion(const ShmRegion&) = delete;
  ShmRegion& operator=(const ShmRegion&) = delete;

  // The region's descriptor, owned by the region: what the peer process
  // inherits or receives, to open() its own mapping.
  virtual int fd() const = 0;

 private:
  // Regions come from create() and open() only: ShmConnection::start
  // relies on there being one implementation.
  friend class internal::MappedShmRegion;
  ShmRegion() = default;
};

// Which end of a region a process is: A writes one ring, B the other.
enum class ShmSide { kA, kB };

// How a connection's reader, and a sender waiting for credits, wait.
struct ShmWaitOptions {
  // How long a waiter polls before it sleeps on the futex. Off by default:
  // on a shared host a spinning thread loses the scheduler's wake-up
  // preference, and round trips got slower (keel_net_bench: p50 5 us with no
  // spin, 20 us with 5 us, 110 us with 50 us on 2 busy cores). Worth tens of
  // microseconds on hosts with cores to spare.
  std::chrono::microseconds spin{0};
  // The sleeper wakes at least this often to bump its heartbeat and check
  // the peer's.
  std::chrono::milliseconds poll_interval{20};
  // A peer whose heartbeat has not moved for this long is dead.
  std::chrono::milliseconds peer_timeout{2000};
};

struct ShmOptions {
  ShmWaitOptions wait;
  // Back-pressure: send() waits this long for credits, then returns
  // kOverloaded (there is no send queue; the ring is the queue).
  std::chrono::milliseconds send_wait{1000};
  // Where log lines go; empty = stderr.
  LogSink log;
};

// One side of a shared-memory connection. Its reader thread runs every
// callback (on_open first, then on_frame per frame, then on_close once, when
// the peer closes, dies - its heartbeat stops - or writes a corrupt record,
// or this side closes). on_writable is not used: send() waits for credits
// instead. send() is thread-safe (senders are serialized); it must not be
// called from a callback when the peer might be blocked sending too, or
// both wait until send_wait. send() errors: kOverloaded (no credits within
// send_wait), kInvalidArgument (body over the ring's max record size),
// kUnavailable (closed, or the peer died). Destroying it closes it
// (on_close with kCancelled unless already closed) and joins the reader
// thread; it must not be destroyed from its own callback.
class ShmConnection : public Connection {
 public:
  // Attaches to `region` (which must outlive the connection) and starts the
  // reader thread.
  static Result<std::unique_ptr<ShmConnection>> start(ShmRegion& region, ShmSide side,
                                                      ConnectionCallbacks callbacks,
                                                      ShmOptions options = {});
};

}  // namespace keel::wire
