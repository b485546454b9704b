// The TCP transport over standalone asio (keel/wire/tcp_transport.h).
//
// One I/O thread per TcpTransport runs every handler, so the state that only
// handlers touch needs no lock. What other threads reach (a connection's send
// queue, a client's current connection) sits behind a mutex. Sessions are
// shared_ptr-owned by their pending handlers and by their host (the listener
// or client state) while open, so a handler never outlives its socket.
//
// RDMA (TransportOptions::rdma, docs/wire-protocol.md "Transport
// negotiation"). After the handshake a version-2 client offers an RdmaLink;
// a server with a device connects to it and accepts; the client connects
// back. Each side then switches its sends: it queues a `switched` marker on
// TCP and sends every later frame over the link, so the peer, which starts
// reading the link when it reads the marker, delivers frames in the order
// they were sent. A frame too large for the ring goes over TCP behind a
// handoff record in the ring that keeps its place. The link's completion
// channel is waited on by the I/O thread like a socket, so every callback
// still runs there.
#include "keel/wire/tcp_transport.h"

#include <asio.hpp>
#include <asio/ssl.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <future>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "keel/base/thread_annotations.h"
#include "keel/wire/control.h"
#include "keel/wire/handshake.h"
#include "keel/wire/rdma_transport.h"
#include "keel/wire/ring.h"

namespace keel::wire {
namespace {

using asio::ip::tcp;

constexpr std::size_t kReadChunkBytes = 64 * 1024;
// Small frames are appended to one chunk up to this size; a chunk is one
// buffer of the gathered write.
constexpr std::size_t kBatchChunkBytes = 256 * 1024;
// Bodies at least this large, passed by rvalue, are written from the
// caller's string instead of being copied into a chunk.
constexpr std::size_t kOwnedBodyBytes = 16 * 1024;
// Written chunks of at least kOwnedBodyBytes kept per connection for reuse.
constexpr std::size_t kMaxSpareChunks = 4;
constexpr std::size_t kMaxSpareChunkBytes = 4u << 20;

class Session;

// Whether this side can take part in RDMA: ok, or why not
// (kFailedPrecondition: switched off here on purpose).
Status check_rdma_device(const TransportOptions& options) {
  const RdmaOptions& o = options.rdma;
  if (!o.enabled) return Status::failed_precondition("RDMA is disabled on this side");
  // RDMA frames would bypass TLS, so a TLS connection keeps them on TCP.
  if (options.tls.enabled) return Status::failed_precondition("RDMA is off with TLS on this side");
  if (o.device_check) return o.device_check();
  Result<std::vector<std::string>> devices = rdma_devices();
  if (!devices.has_value()) return Status::unavailable("no RDMA support: " + std::string(devices.status().message()));
  if (devices->empty()) return Status::unavailable("no RDMA device");
  if (!o.device.empty() && std::find(devices->begin(), devices->end(), o.device) == devices->end()) {
    return Status::unavailable("no RDMA device named " + o.device);
  }
  return Status::ok();
}

// The I/O thread and what every session shares.
class Core {
 public:
  // `tls` is the TLS context when options.tls.enabled (made by create()).
  Core(TransportOptions options, std::unique_ptr<asio::ssl::context> tls)
      : options_(std::move(options)), tls_(std::move(tls)), io_(1), work_(io_.get_executor()) {  // one thread runs io_
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Core() {
    work_.reset();
    io_.stop();
    thread_.join();
  }

  asio::io_context& io() { return io_; }
  asio::ssl::context* tls() { return tls_.get(); }

  // Opens an RDMA link for one connection. Errors: check_rdma_device's
  // (asked once per transport: listing devices loads the verbs providers)
  // and RdmaLink::open's. I/O thread only.
  Result<std::unique_ptr<RdmaLink>> open_rdma_link() {
    if (!rdma_check_) rdma_check_ = check_rdma_device(options_);
    KEEL_RETURN_IF_ERROR(*rdma_check_);
    const RdmaOptions& o = options_.rdma;
    Result<std::unique_ptr<RdmaLink>> link = RdmaLink::open(o.device, o.ring_bytes);
    if (!link.has_value()) return Status(link.status().code(), "rdma open: " + std::string(link.status().message()));
    return link;
  }
  const TransportOptions& options() const { return options_; }
  std::uint64_t next_id() { return next_id_.fetch_add(1, std::memory_order_relaxed); }

  void log(const std::string& line) const {
    if (options_.log) {
      options_.log(line);
    } else {
      std::fprintf(stderr, "keel wire: %s\n", line.c_str());
    }
  }

  // Runs `fn` on the I/O thread and returns when it has run (inline when
  // called on the I/O thread).
  void run_on_io(const std::function<void()>& fn) {
    if (std::this_thread::get_id() == thread_.get_id()) {
      fn();
      return;
    }
    std::promise<void> done;
    asio::post(io_, [&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }

 private:
  TransportOptions options_;
  std::unique_ptr<asio::ssl::context> tls_;  // null without TLS
  std::optional<Status> rdma_check_;           // I/O thread
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::atomic<std::uint64_t> next_id_{1};  // relaxed: only uniqueness matters
  std::thread thread_;
};

// The listener or client a session belongs to. I/O thread only.
class SessionHost {
 public:
  virtual ~SessionHost() = default;
  virtual const ConnectionCallbacks& callbacks() const = 0;
  virtual void opened(const std::shared_ptr<Session>& s) = 0;
  virtual void closed(Session& s, const Status& reason, bool was_open) = 0;
};

class Session final : public Connection, public std::enable_shared_from_this<Session> {
 public:
  Session(Core& core, tcp::socket socket, Handshake::Role role, std::shared_ptr<SessionHost> host,
          std::string peer)
      : core_(core),
        socket_(std::move(socket)),
        timer_(core.io()),
        host_(std::move(host)),
        id_(core.next_id()),
        decoder_(FrameLimits{core.options().max_frame_body_bytes}),
        handshake_(role, core.options().secret, core.options().node_name),
        role_(role),
        peer_(std::move(peer)) {
    if (core.tls() != nullptr) tls_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(socket_, *core.tls());
  }

  // I/O thread: arms the handshake timer, runs the TLS handshake if any,
  // then sends the client's Hello and reads.
  void start() {
    asio::error_code ec;
    socket_.set_option(tcp::no_delay(true), ec);
    timer_.expires_after(core_.options().handshake_timeout);
    timer_.async_wait([self = shared_from_this()](const asio::error_code& e) {
      if (!e && !self->open_) {
        self->close_on_io(Status::timeout("handshake not completed within " +
                                          std::to_string(self->core_.options().handshake_timeout.count()) +
                                          " ms"));
      }
    });
    if (!tls_) return begin_protocol();
    const auto side = role_ == Handshake::Role::kClient ? asio::ssl::stream_base::client : asio::ssl::stream_base::server;
    tls_->async_handshake(side, [self = shared_from_this()](const asio::error_code& e) {
      if (self->done_) return;
      if (e) {
        self->close_on_io(Status::unauthenticated("TLS handshake: " + e.message()));
        return;
      }
      self->begin_protocol();
    });
  }

  ~Session() override {
    if (cq_wait_) cq_wait_->release();  // the link owns its completion channel
  }

  Status send(MessageType type, std::string_view body) override {
    KEEL_RETURN_IF_ERROR(check_size(body.size()));
    const std::size_t wire = frame_wire_bytes(body.size());
    bool kick = false;
    {
      MutexLock l(mu_);
      KEEL_RETURN_IF_ERROR(admit(wire, false));
      if (rdma_ != nullptr) {
        bool sent = false;
        KEEL_RETURN_IF_ERROR(route_rdma(type, body, sent));
        if (sent) return Status::ok();
      }
      if (wire >= kOwnedBodyBytes) {
        pending_.push_back(take_spare(wire));  // a large frame gets a chunk of its own
        tail_appendable_ = false;
      } else if (!tail_appendable_ || pending_.back().size() + wire > kBatchChunkBytes) {
        pending_.push_back(take_spare(kBatchChunkBytes / 4));
        tail_appendable_ = true;
      }
      append_frame(pending_.back(), type, body);
      kick = account(wire);
    }
    if (kick) post_kick();
    return Status::ok();
  }

  Status send_owned(MessageType type, std::string&& body) override {
    if (body.size() < kOwnedBodyBytes) return send(type, std::string_view(body));
    KEEL_RETURN_IF_ERROR(check_size(body.size()));
    const std::size_t wire = frame_wire_bytes(body.size());
    bool kick = false;
    {
      MutexLock l(mu_);
      KEEL_RETURN_IF_ERROR(admit(wire, false));
      if (rdma_ != nullptr) {
        bool sent = false;
        KEEL_RETURN_IF_ERROR(route_rdma(type, body, sent));
        if (sent) return Status::ok();
      }
      std::string header(kFrameHeaderBytes, '\0');
      encode_frame_header(header.data(), type, body.size());
      const std::size_t padding = wire - kFrameHeaderBytes - body.size();
      pending_.push_back(std::move(header));
      pending_.push_back(std::move(body));
      if (padding > 0) pending_.emplace_back(padding, '\0');
      tail_appendable_ = false;
      kick = account(wire);
    }
    if (kick) post_kick();
    return Status::ok();
  }

  void close(const Status& reason) override {
    asio::post(core_.io(), [self = shared_from_this(), reason] { self->close_on_io(reason); });
  }

  std::uint64_t id() const override { return id_; }
  std::string peer() const override {
    MutexLock l(mu_);
    return peer_;
  }
  std::size_t queued_bytes() const override {
    MutexLock l(mu_);
    return queued_;
  }
  std::string_view path() const override {
    MutexLock l(mu_);
    return rdma_ != nullptr ? "rdma" : "tcp";
  }

  // I/O thread. Closes the socket and tells the host (once). With `flush`,
  // what is queued (a handshake Error frame) is written first.
  void close_on_io(const Status& reason, bool flush = false) {
    if (done_) return;
    done_ = true;
    if (flush) {
      MutexLock l(mu_);
      if (writing_ || !pending_.empty()) {
        close_after_write_ = reason;
        return;
      }
    }
    finish_close(reason);
  }

 private:
  void begin_protocol() {
    flush_handshake_output();
    read_more();
  }

  // Reads and writes go through TLS when it is on.
  template <class Buffers, class Handler>
  void async_read_some(const Buffers& buffers, Handler&& handler) {
    if (tls_) {
      tls_->async_read_some(buffers, std::forward<Handler>(handler));
    } else {
      socket_.async_read_some(buffers, std::forward<Handler>(handler));
    }
  }
  template <class Buffers, class Handler>
  void async_write_all(const Buffers& buffers, Handler&& handler) {
    if (tls_) {
      asio::async_write(*tls_, buffers, std::forward<Handler>(handler));
    } else {
      asio::async_write(socket_, buffers, std::forward<Handler>(handler));
    }
  }

  Status check_size(std::size_t n) const {
    if (n > core_.options().max_frame_body_bytes) {
      return Status::invalid_argument("frame body of " + std::to_string(n) +
                                      " bytes exceeds max_frame_body_bytes");
    }
    return Status::ok();
  }

  Status admit(std::size_t wire, bool internal) KEEL_REQUIRES(mu_) {
    if (closed_) return Status::unavailable("connection " + std::to_string(id_) + " is closed");
    if (!internal && !open_for_send_) return Status::unavailable("connection is not open yet");
    if (queued_ > 0 && queued_ + wire > core_.options().max_send_queue_bytes) {
      overloaded_ = true;
      return Status::overloaded("send queue holds " + std::to_string(queued_) + " bytes (limit " +
                                std::to_string(core_.options().max_send_queue_bytes) + ")");
    }
    return Status::ok();
  }

  // An empty string with room for `bytes`: a written chunk when one is big
  // enough, so that large frames reuse memory instead of faulting in fresh
  // pages for every frame.
  std::string take_spare(std::size_t bytes) KEEL_REQUIRES(mu_) {
    for (std::size_t i = 0; i < spare_.size(); ++i) {
      if (spare_[i].capacity() >= bytes) {
        std::string s = std::move(spare_[i]);
        spare_.erase(spare_.begin() + static_cast<std::ptrdiff_t>(i));
        return s;
      }
    }
    std::string s;
    s.reserve(bytes);
    return s;
  }

  // Counts `wire` queued bytes; returns whether the caller must post a kick.
  bool account(std::size_t wire) KEEL_REQUIRES(mu_) {
    queued_ += wire;
    if (writing_ || kick_posted_) return false;
    kick_posted_ = true;
    return true;
  }

  void post_kick() {
    asio::post(core_.io(), [self = shared_from_this()] { self->start_write(); });
  }

  void flush_handshake_output() {
    std::string out = handshake_.take_output();
    if (out.empty()) return;
    {
      MutexLock l(mu_);
      if (closed_) return;
      enqueue_internal_locked(std::move(out));
    }
    post_kick();
  }

  // Queues frames of the transport's own (handshake, RDMA set-up), outside
  // the send queue's bound; the caller posts a kick.
  void enqueue_internal_locked(std::string frames) KEEL_REQUIRES(mu_) {
    pending_.push_back(std::move(frames));
    tail_appendable_ = false;
    queued_ += pending_.back().size();
    kick_posted_ = true;
  }

  void start_write() {
    {
      MutexLock l(mu_);
      kick_posted_ = false;
      if (writing_ || pending_.empty() || closed_) return;
      inflight_.clear();
      inflight_.swap(pending_);
      tail_appendable_ = false;
      writing_ = true;
    }
    buffers_.clear();
    for (const std::string& chunk : inflight_) buffers_.emplace_back(asio::buffer(chunk));
    async_write_all(buffers_, [self = shared_from_this()](const asio::error_code& ec, std::size_t n) {
      self->on_written(ec, n);
    });
  }

  void on_written(const asio::error_code& ec, std::size_t n) {
    bool writable = false;
    std::optional<Status> close_now;
    {
      MutexLock l(mu_);
      writing_ = false;
      queued_ -= std::min(queued_, n);
      if (overloaded_ && queued_ <= core_.options().max_send_queue_bytes / 2) {
        overloaded_ = false;
        writable = true;
      }
      if (close_after_write_ && (pending_.empty() || ec)) close_now = *close_after_write_;
      for (std::string& chunk : inflight_) {
        if (chunk.capacity() >= kOwnedBodyBytes && chunk.capacity() <= kMaxSpareChunkBytes &&
            spare_.size() < kMaxSpareChunks) {
          chunk.clear();
          spare_.push_back(std::move(chunk));
        }
      }
    }
    inflight_.clear();
    if (close_now) {
      finish_close(*close_now);
      return;
    }
    if (ec) {
      close_on_io(Status::unavailable("write to " + peer() + ": " + ec.message()));
      return;
    }
    start_write();
    if (writable && open_ && !done_ && host_->callbacks().on_writable) {
      host_->callbacks().on_writable(*this);
    }
  }

  void read_more() {
    // The rest of a large frame is read on its own, so that the next frame
    // starts at the front of the buffer and no partial frame is ever moved:
    // a large body goes from the socket to the handler without a copy.
    const std::size_t wanted = decoder_.wanted_bytes();
    std::span<char> space = decoder_.prepare(std::max(wanted, kReadChunkBytes));
    if (wanted > kReadChunkBytes) space = space.first(wanted);
    async_read_some(asio::buffer(space.data(), space.size()),
                    [self = shared_from_this()](const asio::error_code& ec, std::size_t n) {
                      self->on_read(ec, n);
                    });
  }

  void on_read(const asio::error_code& ec, std::size_t n) {
    if (done_) return;
    if (ec) {
      // A TLS peer that closes without a TLS shutdown ends the stream
      // "truncated"; Keel closes connections that way, so it counts as EOF.
      if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
        // Frames the peer wrote over RDMA before it closed are delivered
        // first (those still in flight are lost, as queued frames are).
        if (cq_wait_ && peer_switched_) static_cast<void>(rdma_poll());
        Status tail = decoder_.finish();
        clean_eof_ = tail.is_ok() && open_;
        close_on_io(tail.is_ok() ? Status::unavailable("connection closed by the peer") : tail);
      } else {
        close_on_io(Status::unavailable("read from " + peer() + ": " + ec.message()));
      }
      return;
    }
    decoder_.commit(n);
    while (!done_) {
      Result<std::optional<Frame>> frame = decoder_.next();
      if (!frame.has_value()) {
        close_on_io(frame.status());
        return;
      }
      if (!frame->has_value()) break;
      handle_frame(**frame);
    }
    if (!done_) read_more();
  }

  void handle_frame(const Frame& f) {
    if (!open_) {
      Status s = handshake_.on_frame(f);
      flush_handshake_output();
      if (!s.is_ok()) {
        close_on_io(s, /*flush=*/true);
        return;
      }
      if (handshake_.is_done()) open();
      return;
    }
    if (f.type == MessageType::kRdmaSetup) {
      on_rdma_setup(f.body);
      return;
    }
    if (!peer_switched_) {
      deliver(f);
      return;
    }
    // The peer sends over RDMA now; a frame on TCP is one it handed off,
    // delivered where its handoff record sits in the ring.
    if (!handoffs_.on_stream_frame(static_cast<std::uint8_t>(f.type), f.body)) return;
    deliver(f);
    rdma_drain();
  }

  // Hands one data frame to the user.
  void deliver(const Frame& f) {
    if (f.type == MessageType::kHello || f.type == MessageType::kAuth ||
        f.type == MessageType::kAuthOk) {
      close_on_io(Status::corruption("unexpected " + std::string(message_type_name(f.type)) +
                                     " frame after the handshake"));
      return;
    }
    if (host_->callbacks().on_frame) host_->callbacks().on_frame(*this, f);
  }

  // ------------------------------------------------------------------ RDMA
  // All I/O thread, except where a lock is named.

  // Client, once open: offers RDMA, or tells the server why not.
  void rdma_begin() {
    if (role_ != Handshake::Role::kClient || done_) return;
    if (handshake_.version() < kRdmaSetupVersion) {
      return rdma_log_tcp("the peer speaks protocol version " + std::to_string(handshake_.version()));
    }
    Result<std::unique_ptr<RdmaLink>> link = core_.open_rdma_link();
    if (!link.has_value()) return rdma_decline(link.status());
    link_ = std::move(*link);
    rdma_state_ = RdmaState::kOffered;
    send_setup(RdmaSetup{RdmaSetup::Kind::kOffer, link_->local_info().encode(), {}});
  }

  void on_rdma_setup(std::string_view body) {
    RdmaSetup m;
    Status s = decode_body(body, m);
    if (s.is_ok() && handshake_.version() < kRdmaSetupVersion) {
      s = Status::corruption("rdma_setup frame on a protocol version 1 connection");
    }
    if (!s.is_ok()) return close_on_io(s);
    const bool server = role_ == Handshake::Role::kServer;
    switch (m.kind) {
      case RdmaSetup::Kind::kOffer:
        if (server && rdma_state_ == RdmaState::kTcp) return rdma_accept(m.endpoint);
        break;
      case RdmaSetup::Kind::kAccept:
        if (!server && rdma_state_ == RdmaState::kOffered) return rdma_connect(m.endpoint);
        break;
      case RdmaSetup::Kind::kDecline:
        if (rdma_state_ != RdmaState::kSwitched) {
          rdma_drop();
          return rdma_log_tcp("the peer declined RDMA: " + m.reason);
        }
        break;
      case RdmaSetup::Kind::kSwitched:
        if (rdma_state_ == RdmaState::kConnected || rdma_state_ == RdmaState::kSwitched) {
          if (peer_switched_) break;
          peer_switched_ = true;
          if (server) rdma_switch();  // the client switched first
          return rdma_drain();
        }
        break;
    }
    close_on_io(Status::corruption("unexpected rdma_setup (kind " +
                                   std::to_string(static_cast<int>(m.kind)) + ") at this step"));
  }

  // Server: connects a link of its own to the client's offer and accepts.
  void rdma_accept(const std::string& endpoint) {
    Result<std::unique_ptr<RdmaLink>> link = core_.open_rdma_link();
    if (!link.has_value()) return rdma_decline(link.status());
    Result<RdmaEndpointInfo> peer = RdmaEndpointInfo::decode(endpoint);
    Status s = peer.has_value() ? (*link)->connect(*peer) : peer.status();
    if (!s.is_ok()) return rdma_decline(Status(s.code(), "rdma connect: " + std::string(s.message())));
    link_ = std::move(*link);
    rdma_state_ = RdmaState::kConnected;
    send_setup(RdmaSetup{RdmaSetup::Kind::kAccept, link_->local_info().encode(), {}});
    rdma_wait();
  }

  // Client: connects its link to the server's and switches its sends.
  void rdma_connect(const std::string& endpoint) {
    Result<RdmaEndpointInfo> peer = RdmaEndpointInfo::decode(endpoint);
    Status s = peer.has_value() ? link_->connect(*peer) : peer.status();
    if (!s.is_ok()) {
      rdma_drop();
      return rdma_decline(Status(s.code(), "rdma connect: " + std::string(s.message())));
    }
    rdma_state_ = RdmaState::kConnected;
    rdma_switch();
    rdma_wait();
  }

  // Stops waiting on the link and closes it (before this side switched).
  void rdma_drop() {
    if (cq_wait_) {
      asio::error_code ignored;
      cq_wait_->cancel(ignored);
      cq_wait_->release();
      cq_wait_.reset();
    }
    link_.reset();
    rdma_state_ = RdmaState::kTcp;
  }

  // Stays on TCP: tells the peer why (when negotiating with it) and logs it.
  void rdma_decline(const Status& why) {
    rdma_state_ = RdmaState::kTcp;
    send_setup(RdmaSetup{RdmaSetup::Kind::kDecline, {}, std::string(why.message())});
    // Disabled on purpose: the peer logs it; nothing to report here.
    if (why.code() != StatusCode::kFailedPrecondition) rdma_log_tcp(std::string(why.message()));
  }

  void rdma_log_tcp(const std::string& why) {
    core_.log("connection " + std::to_string(id_) + " to " + peer() + " stays on tcp: " + why);
  }

  // Queues `m` on TCP ahead of any data frame sent after it.
  void send_setup(const RdmaSetup& m) {
    std::string frame;
    append_message(frame, m);
    {
      MutexLock l(mu_);
      if (closed_) return;
      enqueue_internal_locked(std::move(frame));
    }
    post_kick();
  }

  // Queues a `switched` marker on TCP and sends every later frame over the
  // link, both under mu_, so no frame can land on the wrong side of it.
  void rdma_switch() {
    std::string frame;
    append_message(frame, RdmaSetup{RdmaSetup::Kind::kSwitched, {}, {}});
    {
      MutexLock l(mu_);
      if (closed_) return;
      enqueue_internal_locked(std::move(frame));
      rdma_ = link_;
    }
    post_kick();
    rdma_state_ = RdmaState::kSwitched;
    core_.log("connection " + std::to_string(id_) + " to " + peer() + " sends its frames over rdma");
  }

  // Starts waiting on the link's completion channel like on a socket.
  void rdma_wait() {
    cq_wait_ = std::make_unique<asio::posix::stream_descriptor>(core_.io(), link_->completion_fd());
    rdma_drain();
  }

  // One arm-then-poll step (keel/wire/ring.h); runs again at once while it
  // finds records, otherwise when the completion channel is readable.
  void rdma_drain() {
    if (done_ || !cq_wait_) return;
    Result<bool> again = arm_then_poll([&] { return link_->arm(); }, [&] { return rdma_poll(); });
    if (!again.has_value()) {
      const Status& s = again.status();
      return close_on_io(s.code() == StatusCode::kIoError ? Status::unavailable(std::string(s.message())) : s);
    }
    bool writable = false;
    {
      MutexLock l(mu_);
      if (rdma_overloaded_ && link_->writable()) {
        rdma_overloaded_ = false;
        writable = true;
      }
    }
    if (writable && host_->callbacks().on_writable) host_->callbacks().on_writable(*this);
    if (*again) {
      asio::post(core_.io(), [self = shared_from_this()] { self->rdma_drain(); });
    } else if (!cq_waiting_) {
      // asio re-registers the descriptor when a wait starts, so an event
      // raised after the arm above and before this wait still wakes it.
      cq_waiting_ = true;
      cq_wait_->async_wait(asio::posix::stream_descriptor::wait_read,
                           [self = shared_from_this()](const asio::error_code& ec) {
                             self->cq_waiting_ = false;
                             if (!ec) self->rdma_drain();
                           });
    }
  }

  // Delivers what arrived over the link, in order, stopping at a handoff
  // record whose TCP frame has not arrived; reaps completions otherwise.
  Result<int> rdma_poll() {
    if (!peer_switched_ || handoffs_.waiting()) {
      KEEL_RETURN_IF_ERROR(link_->reap());
      return 0;
    }
    return link_->poll([this](std::uint8_t type, std::string_view body) {
      if (done_) return false;
      if (type != kRdmaHandoffRecordType) {
        deliver(Frame{static_cast<MessageType>(type), body});
        return true;
      }
      std::optional<std::pair<std::uint8_t, std::string>> early = handoffs_.on_handoff_record();
      if (!early) return false;  // its TCP frame comes next
      deliver(Frame{static_cast<MessageType>(early->first), early->second});
      return true;
    });
  }

  // Under mu_, once this side switched: sends a frame that fits the ring
  // over the link (`sent`), or writes the handoff record of one that goes
  // over TCP next.
  Status route_rdma(MessageType type, std::string_view body, bool& sent) KEEL_REQUIRES(mu_) {
    sent = body.size() <= rdma_->max_frame_bytes();
    Status s = sent ? rdma_->send(type, body) : rdma_->send_handoff();
    if (s.code() == StatusCode::kOverloaded) {
      rdma_overloaded_ = true;  // on_writable once half the ring is free
    } else if (s.code() == StatusCode::kIoError) {
      close(Status::unavailable(std::string(s.message())));
      return Status::unavailable(std::string(s.message()));
    }
    return s;
  }

  void open() {
    open_ = true;
    timer_.cancel();
    {
      MutexLock l(mu_);
      open_for_send_ = true;
      if (!handshake_.peer_node().empty()) peer_ += " " + handshake_.peer_node();
    }
    host_->opened(shared_from_this());
    rdma_begin();
  }

  void finish_close(const Status& reason) {
    asio::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    timer_.cancel();
    if (cq_wait_) {
      cq_wait_->cancel(ignored);
      cq_wait_->release();
    }
    {
      MutexLock l(mu_);
      closed_ = true;
      pending_.clear();
      queued_ = 0;
      rdma_.reset();
    }
    // A local close (kCancelled) and a clean close by the peer are routine;
    // everything else is logged with its reason.
    if (reason.code() != StatusCode::kCancelled && !clean_eof_) {
      core_.log("closed connection " + std::to_string(id_) + " to " + peer() +
                (open_ ? "" : " during the handshake") + ": " + reason.to_string());
    }
    host_->closed(*this, reason, open_);
  }

  Core& core_;
  // I/O thread only.
  tcp::socket socket_;
  std::unique_ptr<asio::ssl::stream<tcp::socket&>> tls_;  // null without TLS
  asio::steady_timer timer_;
  std::shared_ptr<SessionHost> host_;
  const std::uint64_t id_;
  FrameDecoder decoder_;
  Handshake handshake_;
  const Handshake::Role role_;
  bool open_ = false;  // handshake done
  bool done_ = false;  // closing or closed: no more callbacks
  bool clean_eof_ = false;  // the peer closed an open connection between frames
  std::vector<std::string> inflight_;
  std::vector<asio::const_buffer> buffers_;
  // RDMA negotiation: kOffered (client, waiting for accept), kConnected
  // (link connected, this side still sends over TCP), kSwitched.
  enum class RdmaState { kTcp, kOffered, kConnected, kSwitched };
  RdmaState rdma_state_ = RdmaState::kTcp;
  std::shared_ptr<RdmaLink> link_;  // from the offer (or accept) on
  std::unique_ptr<asio::posix::stream_descriptor> cq_wait_;  // the link's completion channel
  bool cq_waiting_ = false;
  bool peer_switched_ = false;      // the peer's data frames come over the link
  HandoffOrder handoffs_;           // frames the peer handed off to TCP, in ring order

  mutable Mutex mu_;
  std::string peer_ KEEL_GUARDED_BY(mu_);
  std::vector<std::string> pending_ KEEL_GUARDED_BY(mu_);
  std::vector<std::string> spare_ KEEL_GUARDED_BY(mu_);  // written large chunks, for reuse
  std::size_t queued_ KEEL_GUARDED_BY(mu_) = 0;        // pending + in flight
  bool tail_appendable_ KEEL_GUARDED_BY(mu_) = false;  // pending_.back() takes small frames
  bool writing_ KEEL_GUARDED_BY(mu_) = false;
  bool kick_posted_ KEEL_GUARDED_BY(mu_) = false;
  bool closed_ KEEL_GUARDED_BY(mu_) = false;
  bool open_for_send_ KEEL_GUARDED_BY(mu_) = false;
  bool overloaded_ KEEL_GUARDED_BY(mu_) = false;
  std::optional<Status> close_after_write_ KEEL_GUARDED_BY(mu_);
  std::shared_ptr<RdmaLink> rdma_ KEEL_GUARDED_BY(mu_);  // set once this side sends over RDMA
  bool rdma_overloaded_ KEEL_GUARDED_BY(mu_) = false;    // a send found no credits
};

// The TLS context for `o`: TLS 1.2 or later, the certificate and key when
// given, and server verification against ca_file (or the default paths).
Result<std::unique_ptr<asio::ssl::context>> make_tls_context(const TlsOptions& o) {
  auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls);
  asio::error_code ec;
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1,
                   ec);
  auto fail = [&](const std::string& what) {
    return Status::invalid_argument("TLS: " + what + ": " + ec.message());
  };
  if (!o.certificate_chain_file.empty()) {
    ctx->use_certificate_chain_file(o.certificate_chain_file, ec);
    if (ec) return fail("certificate chain " + o.certificate_chain_file);
  }
  if (!o.private_key_file.empty()) {
    ctx->use_private_key_file(o.private_key_file, asio::ssl::context::pem, ec);
    if (ec) return fail("private key " + o.private_key_file);
  }
  if (o.verify_server) {
    if (o.ca_file.empty()) {
      ctx->set_default_verify_paths(ec);
    } else {
      ctx->load_verify_file(o.ca_file, ec);
    }
    if (ec) return fail("trust store " + (o.ca_file.empty() ? std::string("(default)") : o.ca_file));
    // Servers do not ask for client certificates (the shared secret
    // authenticates clients), so verify_peer only applies to clients.
    ctx->set_verify_mode(asio::ssl::verify_peer, ec);
  }
  return ctx;
}

std::string endpoint_name(const tcp::endpoint& e) {
  return e.address().to_string() + ":" + std::to_string(e.port());
}

// ---------------------------------------------------------------- listener

class ListenerState final : public SessionHost, public std::enable_shared_from_this<ListenerState> {
 public:
  ListenerState(Core& core, ConnectionCallbacks callbacks)
      : core_(core), callbacks_(std::move(callbacks)), acceptor_(core.io()) {}

  Status bind(const std::string& host, std::uint16_t port) {
    asio::error_code ec;
    tcp::resolver resolver(core_.io());
    auto results = resolver.resolve(host, std::to_string(port), tcp::resolver::passive, ec);
    if (ec || results.empty()) return Status::io_error("resolve " + host + ": " + ec.message());
    const tcp::endpoint endpoint = *results.begin();
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return Status::io_error("listen on " + host + ":" + std::to_string(port) + ": " + ec.message());
    }
    port_ = acceptor_.local_endpoint(ec).port();
    return Status::ok();
  }

  void accept() {
    acceptor_.async_accept([self = shared_from_this()](const asio::error_code& ec, tcp::socket socket) {
      if (self->stopped_) return;
      if (!ec) {
        asio::error_code e;
        const std::string peer = endpoint_name(socket.remote_endpoint(e));
        auto session = std::make_shared<Session>(self->core_, std::move(socket),
                                                 Handshake::Role::kServer, self, peer);
        self->sessions_.emplace(session->id(), session);
        session->start();
      } else {
        self->core_.log("accept: " + ec.message());
      }
      self->accept();
    });
  }

  // I/O thread.
  void stop() {
    stopped_ = true;
    asio::error_code ignored;
    acceptor_.close(ignored);
    auto sessions = sessions_;
    for (auto& [id, s] : sessions) s->close_on_io(Status::cancelled("listener closed"));
  }

  const ConnectionCallbacks& callbacks() const override { return callbacks_; }
  void opened(const std::shared_ptr<Session>& s) override {
    open_count_.fetch_add(1, std::memory_order_relaxed);
    if (callbacks_.on_open) callbacks_.on_open(*s);
  }
  void closed(Session& s, const Status& reason, bool was_open) override {
    auto keep = sessions_.extract(s.id());  // keeps `s` alive through the callback
    if (!was_open) return;
    open_count_.fetch_sub(1, std::memory_order_relaxed);
    if (callbacks_.on_close) callbacks_.on_close(s, reason);
  }

  std::uint16_t port() const { return port_; }
  std::size_t open_count() const { return open_count_.load(std::memory_order_relaxed); }

 private:
  Core& core_;
  const ConnectionCallbacks callbacks_;
  tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  bool stopped_ = false;                                          // I/O thread
  std::unordered_map<std::uint64_t, std::shared_ptr<Session>> sessions_;  // I/O thread
  std::atomic<std::size_t> open_count_{0};  // relaxed: a statistic
};

class ListenerImpl final : public TcpListener {
 public:
  ListenerImpl(Core& core, std::shared_ptr<ListenerState> state) : core_(core), state_(std::move(state)) {}
  ~ListenerImpl() override {
    core_.run_on_io([&] { state_->stop(); });
  }
  std::uint16_t port() const override { return state_->port(); }
  std::size_t connection_count() const override { return state_->open_count(); }

 private:
  Core& core_;
  std::shared_ptr<ListenerState> state_;
};

// ------------------------------------------------------------------ client

class ClientState final : public SessionHost, public std::enable_shared_from_this<ClientState> {
 public:
  ClientState(Core& core, std::string host, std::uint16_t port, ConnectionCallbacks callbacks,
              ReconnectOptions reconnect)
      : core_(core),
        host_(std::move(host)),
        port_(port),
        callbacks_(std::move(callbacks)),
        reconnect_(reconnect),
        backoff_(reconnect.initial_backoff),
        resolver_(core.io()),
        timer_(core.io()) {}

  // I/O thread.
  void attempt() {
    if (stopped_) return;
    resolver_.async_resolve(
        host_, std::to_string(port_),
        [self = shared_from_this()](const asio::error_code& ec, tcp::resolver::results_type results) {
          if (self->stopped_) return;
          if (ec) return self->failed(Status::unavailable("resolve " + self->host_ + ": " + ec.message()));
          self->socket_.emplace(self->core_.io());
          asio::async_connect(*self->socket_, results,
                              [self](const asio::error_code& e, const tcp::endpoint& endpoint) {
                                self->on_connected(e, endpoint);
                              });
        });
  }

  void on_connected(const asio::error_code& ec, const tcp::endpoint& endpoint) {
    if (stopped_) return;
    if (ec) {
      socket_.reset();
      failed(Status::unavailable("connect to " + host_ + ":" + std::to_string(port_) + ": " +
                                 ec.message()));
      return;
    }
    auto session = std::make_shared<Session>(core_, std::move(*socket_), Handshake::Role::kClient,
                                             shared_from_this(), endpoint_name(endpoint));
    socket_.reset();
    handshaking_ = session;
    session->start();
  }

  // I/O thread.
  void stop() {
    stopped_ = true;
    timer_.cancel();
    resolver_.cancel();
    if (socket_) {
      asio::error_code ignored;
      socket_->close(ignored);
    }
    if (auto s = handshaking_) s->close_on_io(Status::cancelled("client closed"));
    if (auto s = current()) s->close_on_io(Status::cancelled("client closed"));
  }

  const ConnectionCallbacks& callbacks() const override { return callbacks_; }
  void opened(const std::shared_ptr<Session>& s) override {
    handshaking_.reset();
    backoff_ = reconnect_.initial_backoff;
    {
      MutexLock l(mu_);
      current_ = s;
    }
    connects_.fetch_add(1, std::memory_order_relaxed);
    if (callbacks_.on_open) callbacks_.on_open(*s);
  }
  void closed(Session& s, const Status& reason, bool was_open) override {
    std::shared_ptr<Session> keep;
    if (!was_open) {
      keep = std::move(handshaking_);
      failed(reason);
      return;
    }
    {
      MutexLock l(mu_);
      keep = std::move(current_);
    }
    if (callbacks_.on_close) callbacks_.on_close(s, reason);
    retry_later(reason);
  }

  std::shared_ptr<Session> current() const {
    MutexLock l(mu_);
    return current_;
  }
  std::uint64_t connects() const { return connects_.load(std::memory_order_relaxed); }
  std::string name() const { return host_ + ":" + std::to_string(port_); }

 private:
  void failed(const Status& s) {
    if (stopped_) return;
    if (callbacks_.on_connect_error) callbacks_.on_connect_error(s);
    retry_later(s);
  }

  void retry_later(const Status& why) {
    if (stopped_ || !reconnect_.enabled || why.code() == StatusCode::kUnauthenticated ||
        why.code() == StatusCode::kFailedPrecondition || why.code() == StatusCode::kCancelled) {
      return;
    }
    core_.log("reconnecting to " + name() + " in " + std::to_string(backoff_.count()) + " ms");
    timer_.expires_after(backoff_);
    backoff_ = std::min(backoff_ * 2, reconnect_.max_backoff);
    timer_.async_wait([self = shared_from_this()](const asio::error_code& ec) {
      if (!ec) self->attempt();
    });
  }

  Core& core_;
  const std::string host_;
  const std::uint16_t port_;
  const ConnectionCallbacks callbacks_;
  const ReconnectOptions reconnect_;
  // I/O thread only.
  std::chrono::milliseconds backoff_;
  tcp::resolver resolver_;
  asio::steady_timer timer_;
  std::optional<tcp::socket> socket_;     // while connecting
  std::shared_ptr<Session> handshaking_;  // connected, handshake running
  bool stopped_ = false;

  mutable Mutex mu_;
  std::shared_ptr<Session> current_ KEEL_GUARDED_BY(mu_);  // open connection, if any
  std::atomic<std::uint64_t> connects_{0};                // relaxed: a statistic
};

class ClientImpl final : public TcpClient {
 public:
  ClientImpl(Core& core, std::shared_ptr<ClientState> state) : core_(core), state_(std::move(state)) {}
  ~ClientImpl() override {
    core_.run_on_io([&] { state_->stop(); });
  }

  Status send(MessageType type, std::string_view body) override {
    auto s = state_->current();
    if (!s) return Status::unavailable("not connected to " + state_->name());
    return s->send(type, body);
  }
  Status send_owned(MessageType type, std::string&& body) override {
    auto s = state_->current();
    if (!s) return Status::unavailable("not connected to " + state_->name());
    return s->send_owned(type, std::move(body));
  }
  void close(const Status& reason) override {
    if (auto s = state_->current()) s->close(reason);
  }
  std::uint64_t id() const override {
    auto s = state_->current();
    return s ? s->id() : 0;
  }
  std::string peer() const override {
    auto s = state_->current();
    return s ? s->peer() : state_->name();
  }
  std::size_t queued_bytes() const override {
    auto s = state_->current();
    return s ? s->queued_bytes() : 0;
  }
  std::string_view path() const override {
    auto s = state_->current();
    return s ? s->path() : "tcp";
  }
  bool is_connected() const override { return state_->current() != nullptr; }
  std::uint64_t connect_count() const override { return state_->connects(); }

 private:
  Core& core_;
  std::shared_ptr<ClientState> state_;
};

// --------------------------------------------------------------- transport

class TransportImpl final : public TcpTransport {
 public:
  TransportImpl(TransportOptions options, std::unique_ptr<asio::ssl::context> tls)
      : core_(std::move(options), std::move(tls)) {}

  Result<std::unique_ptr<TcpListener>> listen(const std::string& host, std::uint16_t port,
                                              ConnectionCallbacks callbacks) override {
    if (core_.tls() != nullptr && (core_.options().tls.certificate_chain_file.empty() ||
                                   core_.options().tls.private_key_file.empty())) {
      return Status::invalid_argument("a TLS listener needs tls.certificate_chain_file and tls.private_key_file");
    }
    auto state = std::make_shared<ListenerState>(core_, std::move(callbacks));
    Status status;
    core_.run_on_io([&] {
      status = state->bind(host, port);
      if (status.is_ok()) state->accept();
    });
    KEEL_RETURN_IF_ERROR(status);
    return std::unique_ptr<TcpListener>(std::make_unique<ListenerImpl>(core_, std::move(state)));
  }

  std::unique_ptr<TcpClient> connect(const std::string& host, std::uint16_t port,
                                     ConnectionCallbacks callbacks, ReconnectOptions reconnect) override {
    auto state = std::make_shared<ClientState>(core_, host, port, std::move(callbacks), reconnect);
    asio::post(core_.io(), [state] { state->attempt(); });
    return std::make_unique<ClientImpl>(core_, std::move(state));
  }

 private:
  Core core_;
};

}  // namespace

Result<std::unique_ptr<TcpTransport>> TcpTransport::create(TransportOptions options) {
  if (options.secret.empty()) return Status::invalid_argument("TransportOptions.secret is empty");
  if (options.max_frame_body_bytes > 0xffffffffu) {
    return Status::invalid_argument("max_frame_body_bytes must be below 4 GiB");
  }
  std::unique_ptr<asio::ssl::context> tls;
  if (options.tls.enabled) {
    KEEL_ASSIGN_OR_RETURN(tls, make_tls_context(options.tls));
  }
  return std::unique_ptr<TcpTransport>(std::make_unique<TransportImpl>(std::move(options), std::move(tls)));
}

}  // namespace keel::wire
