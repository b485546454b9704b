// The shared-memory transport's connection (keel/net/shm_transport.h):
// two rings of a MappedShmRegion, one per direction, and a reader thread
// that delivers frames in place.
#include "keel/net/shm_transport.h"

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>

#include "keel/base/thread_annotations.h"
#include "keel/wire/control.h"
#include "mapped_shm_region.h"
#include "ring.h"

namespace keel::wire {
namespace {

// Records handed to callbacks before their credits go back, at most.
constexpr int kReleaseEvery = 64;

std::atomic<std::uint64_t> g_next_id{1};  // relaxed: only uniqueness matters

RingWaitOptions ring_wait(const ShmWaitOptions& o) { return {o.spin, o.poll_interval, o.peer_timeout}; }

// A ShmConnection over two rings: it writes `out` and reads `in`.
class RingConnection final : public ShmConnection {
 public:
  RingConnection(RingRegion out, RingRegion in, ShmSide side, ConnectionCallbacks callbacks,
                 ShmOptions options);
  // Closes (on_close with kCancelled unless already closed) and joins the
  // reader thread.
  ~RingConnection() override;

  // Starts the reader thread; once, right after construction.
  void start_reader();

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

RingConnection::RingConnection(RingRegion out, RingRegion in, ShmSide side, ConnectionCallbacks callbacks,
                               ShmOptions options)
    : side_(side),
      id_(g_next_id.fetch_add(1, std::memory_order_relaxed)),
      callbacks_(std::move(callbacks)),
      options_(std::move(options)),
      producer_(out, ring_wait(options_.wait)),
      consumer_(in, ring_wait(options_.wait)) {}

void RingConnection::start_reader() {
  reader_ = std::thread([this] { run(); });
}

RingConnection::~RingConnection() {
  close(Status::cancelled("connection destroyed"));
  reader_.join();
}

void RingConnection::log(const std::string& line) const {
  if (options_.log) {
    options_.log(line);
  } else {
    std::fprintf(stderr, "keel wire: %s\n", line.c_str());
  }
}

Status RingConnection::send(MessageType type, std::string_view body) {
  if (closing_.load(std::memory_order_acquire)) return Status::unavailable("shm connection closed");
  MutexLock l(send_mu_);
  Status s = producer_.write(static_cast<std::uint8_t>(type), body,
                             std::chrono::steady_clock::now() + options_.send_wait);
  if (s.code() == StatusCode::kTimeout) {
    return Status::overloaded("shm ring: no credits within " + std::to_string(options_.send_wait.count()) +
                              " ms");
  }
  return s;
}

void RingConnection::close(const Status& reason) {
  MutexLock l(close_mu_);
  if (closing_.load(std::memory_order_acquire)) return;
  close_reason_ = reason;
  closing_.store(true, std::memory_order_release);
}

void RingConnection::run() {
  if (callbacks_.on_open) callbacks_.on_open(*this);
  Status reason;
  int unreleased = 0;
  while (true) {
    if (closing_.load(std::memory_order_acquire)) {
      MutexLock l(close_mu_);
      reason = close_reason_;
      break;
    }
    beat_out();  // the peer's reader watches this side's producer heartbeat
    Result<std::optional<RingRecord>> next = consumer_.try_read();
    if (next.has_value() && !next->has_value()) {
      consumer_.release();
      unreleased = 0;
      Result<RingRecord> waited =
          consumer_.read(std::chrono::steady_clock::now() + options_.wait.poll_interval);
      if (!waited.has_value() && waited.status().code() == StatusCode::kTimeout) continue;
      next = waited.has_value() ? Result<std::optional<RingRecord>>(std::optional<RingRecord>(*waited))
                                : Result<std::optional<RingRecord>>(waited.status());
    }
    if (!next.has_value()) {
      reason = next.status();
      break;
    }
    const RingRecord& r = **next;
    if (r.type == 0 || r.type > kMaxMessageType) {
      reason = Status::corruption("shm: frame: unknown_type: message type " + std::to_string(r.type));
      break;
    }
    if (callbacks_.on_frame) callbacks_.on_frame(*this, Frame{static_cast<MessageType>(r.type), r.body});
    if (++unreleased >= kReleaseEvery) {
      consumer_.release();
      unreleased = 0;
    }
  }
  consumer_.release();
  consumer_.close();
  {
    MutexLock l(send_mu_);
    producer_.close();
  }
  closing_.store(true, std::memory_order_release);
  if (reason.code() != StatusCode::kCancelled) {
    log("closed shm connection " + std::to_string(id_) + " to " + peer() + ": " + reason.to_string());
  }
  if (callbacks_.on_close) callbacks_.on_close(*this, reason);
}

}  // namespace

Result<std::unique_ptr<ShmConnection>> ShmConnection::start(ShmRegion& region, ShmSide side,
                                                            ConnectionCallbacks callbacks,
                                                            ShmOptions options) {
  // Every ShmRegion is a MappedShmRegion, ShmRegion's only friend (its
  // constructor is private).
  const auto& mapped = static_cast<const internal::MappedShmRegion&>(region);
  RingRegion out = side == ShmSide::kA ? mapped.a_to_b() : mapped.b_to_a();
  RingRegion in = side == ShmSide::kA ? mapped.b_to_a() : mapped.a_to_b();
  auto c = std::make_unique<RingConnection>(out, in, side, std::move(callbacks), std::move(options));
  c->start_reader();
  return std::unique_ptr<ShmConnection>(std::move(c));
}

}  // namespace keel::wire
