// keel/wire/shm_transport.h: the shared-memory transport between two
// processes on one host. A ShmRegion is a shared mapping (memfd) holding two
// rings (keel/wire/ring.h), one per direction; each process runs a
// ShmConnection on its side. Frames are written into the peer's ring and
// read in place: on_frame's body points into the shared mapping (zero copy)
// until the callback returns, when its space goes back as credits.
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

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <thread>

#include "keel/base/status.h"
#include "keel/base/thread_annotations.h"
#include "keel/wire/control.h"
#include "keel/wire/ring.h"
#include "keel/wire/transport.h"

namespace keel::wire {

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
  ~ShmRegion();
  ShmRegion(const ShmRegion&) = delete;
  ShmRegion& operator=(const ShmRegion&) = delete;

  int fd() const { return fd_; }
  // The ring that side A writes and side B reads (a_to_b), and the reverse.
  RingRegion a_to_b() const { return a_to_b_; }
  RingRegion b_to_a() const { return b_to_a_; }

 private:
  ShmRegion(int fd, void* base, std::size_t bytes) : fd_(fd), base_(base), bytes_(bytes) {}
  // Maps `bytes` of `fd` (closed on failure). Errors: kIoError.
  static Result<std::unique_ptr<ShmRegion>> map(int fd, std::size_t bytes);
  int fd_;
  void* base_;
  std::size_t bytes_;
  RingRegion a_to_b_;
  RingRegion b_to_a_;
};

// Which end of a region a process is: A writes a_to_b, B writes b_to_a.
enum class ShmSide { kA, kB };

struct ShmOptions {
  RingWaitOptions wait;
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
// both wait until send_wait. Must not be destroyed from its own callback.
class ShmConnection final : public Connection {
 public:
  // Attaches to `region` (which must outlive the connection) and starts the
  // reader thread.
  static Result<std::unique_ptr<ShmConnection>> start(ShmRegion& region, ShmSide side,
                                                      ConnectionCallbacks callbacks,
                                                      ShmOptions options = {});
  // Closes (on_close with kCancelled unless already closed) and joins the
  // reader thread.
  ~ShmConnection() override;

  // Errors: kOverloaded (no credits within send_wait), kInvalidArgument
  // (body over the ring's max record size), kUnavailable (closed, or the
  // peer died).
  Status send(MessageType type, std::string_view body) override;
  Status send_owned(MessageType type, std::string&& body) override { return send(type, body); }
  void close(const Status& reason) override;
  std::uint64_t id() const override { return id_; }
  std::string peer() const override { return side_ == ShmSide::kA ? "shm:B" : "shm:A"; }
  std::size_t queued_bytes() const override { return 0; }
  std::string_view path() const override { return "shm"; }
  // Both sides of a region run this build (there is no handshake).
  std::uint16_t protocol_version() const override { return kProtocolVersion; }

 private:
  ShmConnection(RingRegion out, RingRegion in, ShmSide side, ConnectionCallbacks callbacks,
                ShmOptions options);
  void run();
  // producer_.beat() is thread-safe (one atomic add), so it needs no lock:
  // the reader must not wait behind a sender blocked on credits.
  void beat_out() KEEL_NO_THREAD_SAFETY_ANALYSIS { producer_.beat(); }
  void log(const std::string& line) const;

  const ShmSide side_;
  const std::uint64_t id_;
  const ConnectionCallbacks callbacks_;
  const ShmOptions options_;
  Mutex send_mu_;
  RingProducer producer_ KEEL_GUARDED_BY(send_mu_);
  RingConsumer consumer_;  // reader thread only
  Mutex close_mu_;
  Status close_reason_ KEEL_GUARDED_BY(close_mu_);
  // seq_cst is not needed: relaxed would do for a flag polled in a loop, but
  // acquire/release keeps close_reason_ ordering obvious.
  std::atomic<bool> closing_{false};
  std::thread reader_;
};

}  // namespace keel::wire
