// Private to Keel::net: the I/O thread of a TcpTransport (Core) and
// one TCP connection (Session), shared by tcp_transport.cc (listeners,
// clients, the transport) and tcp_session_rdma.cc (moving a session's data
// frames to RDMA). Never installed.
//
// One I/O thread per TcpTransport runs every handler, so the state that only
// handlers touch needs no lock. What other threads reach (a connection's send
// queue, a client's current connection) sits behind a mutex. Sessions are
// shared_ptr-owned by their pending handlers and by their host (the listener
// or client state) while open, so a handler never outlives its socket.
#pragma once

#include <sys/socket.h>

#include <asio.hpp>
#include <asio/ssl.hpp>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "frame.h"
#include "handshake.h"
#include "keel/base/status.h"
#include "keel/base/thread_annotations.h"
#include "keel/wire/control.h"
#include "keel/wire/transport.h"
#include "rdma_transport.h"
#include "ring.h"

namespace keel::wire::internal {

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

// One piece of a send queue: bytes of its own (frames, a header, a body
// taken by send_owned), or a body shared with the caller (send_shared),
// written in place and released once written.
struct Chunk {
  std::string bytes;
  std::shared_ptr<const std::string> shared;
  std::string_view view() const { return shared ? std::string_view(*shared) : std::string_view(bytes); }
};

// Whether this side can take part in RDMA: ok, or why not
// (kFailedPrecondition: switched off here on purpose).
Status check_rdma_device(const TransportOptions& options);

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
  Result<std::unique_ptr<RdmaLink>> open_rdma_link();
  // Whether this side may use RDMA (check_rdma_device is ok), asked once.
  // I/O thread only.
  bool rdma_usable();
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
    if (core.tls() != nullptr) {
      tls_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(socket_, *core.tls());
      // A client checks the server's certificate (TlsOptions::verify_server);
      // a server asks for no client certificate, since the shared secret
      // authenticates clients.
      asio::error_code ignored;
      const bool verify = role == Handshake::Role::kClient && core.options().tls.verify_server;
      tls_->set_verify_mode(verify ? asio::ssl::verify_peer : asio::ssl::verify_none, ignored);
    }
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

  Status send(MessageType type, std::string_view body) override { return enqueue(type, body, nullptr); }

  Status send_owned(MessageType type, std::string&& body) override {
    if (body.size() < kOwnedBodyBytes) return send(type, std::string_view(body));
    const std::string_view view(body);
    return send_in_place(type, view, Chunk{std::move(body), nullptr});
  }

  Status send_shared(MessageType type, std::shared_ptr<const std::string> body) override {
    if (body->size() < kOwnedBodyBytes) return send(type, std::string_view(*body));
    const std::string_view view(*body);
    return send_in_place(type, view, Chunk{{}, std::move(body)});
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
  std::uint16_t protocol_version() const override {
    // acquire: pairs with the release store in open().
    return version_.load(std::memory_order_acquire);
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

  Status send_in_place(MessageType type, std::string_view body, Chunk chunk) {
    return enqueue(type, body, &chunk);
  }

  // Queues one frame: with `in_place` (a large body held by that chunk),
  // the body is written from where it is, between a header and a padding
  // chunk; without, the frame is copied into the queue (small frames share
  // a chunk, a large one gets its own).
  Status enqueue(MessageType type, std::string_view body, Chunk* in_place) {
    KEEL_RETURN_IF_ERROR(check_size(body.size()));
    const std::size_t wire = frame_wire_bytes(body.size());
    bool kick = false;
    {
      MutexLock l(mu_);
      bool sent = false;
      KEEL_RETURN_IF_ERROR(admit_frame(type, body, wire, sent));
      if (sent) return Status::ok();
      if (in_place == nullptr && wire < kOwnedBodyBytes && write_now(type, body, kick)) {
        // Written, or what did not go out is queued (kick).
      } else if (in_place != nullptr) {
        std::string header(kFrameHeaderBytes, '\0');
        encode_frame_header(header.data(), type, body.size());
        const std::size_t padding = wire - kFrameHeaderBytes - body.size();
        pending_.push_back(Chunk{std::move(header), nullptr});
        pending_.push_back(std::move(*in_place));
        if (padding > 0) pending_.push_back(Chunk{std::string(padding, '\0'), nullptr});
        tail_appendable_ = false;
        kick = account(wire);
      } else {
        if (wire >= kOwnedBodyBytes) {
          pending_.push_back(Chunk{take_spare(wire), nullptr});
          tail_appendable_ = false;
        } else if (!tail_appendable_ || pending_.back().bytes.size() + wire > kBatchChunkBytes) {
          pending_.push_back(Chunk{take_spare(kBatchChunkBytes / 4), nullptr});
          tail_appendable_ = true;
        }
        append_frame(pending_.back().bytes, type, body);
        kick = account(wire);
      }
    }
    if (kick) post_kick();
    return Status::ok();
  }

  // On a sending thread other than the I/O thread: writes a small frame to
  // the socket at once when nothing is queued or being written before it
  // (so frames keep their order), without a round through the I/O thread.
  // Frames sent on the I/O thread (from its callbacks) are queued, and go
  // out together once its handlers have run. True when it took the frame:
  // all of it went out, or it queued what did not (all of it when the
  // socket would block or failed: the I/O thread's write then reports the
  // error) and set `kick`. False when the frame was not tried (TLS,
  // closing, a queue before it).
  bool write_now(MessageType type, std::string_view body, bool& kick) KEEL_REQUIRES(mu_) {
    if (direct_fd_ < 0 || writing_ || kick_posted_ || !pending_.empty()) return false;
    if (core_.io().get_executor().running_in_this_thread()) return false;
    direct_frame_.clear();
    append_frame(direct_frame_, type, body);
    const ssize_t n = ::send(direct_fd_, direct_frame_.data(), direct_frame_.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(direct_frame_.size())) return true;
    const std::size_t done = n > 0 ? static_cast<std::size_t>(n) : 0;
    pending_.push_back(Chunk{direct_frame_.substr(done), nullptr});
    tail_appendable_ = false;
    kick = account(direct_frame_.size() - done);
    return true;
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
    queued_ += frames.size();
    pending_.push_back(Chunk{std::move(frames), nullptr});
    tail_appendable_ = false;
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
    for (const Chunk& chunk : inflight_) buffers_.emplace_back(asio::buffer(chunk.view()));
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
      for (Chunk& chunk : inflight_) {
        std::string& bytes = chunk.bytes;
        if (!chunk.shared && bytes.capacity() >= kOwnedBodyBytes && bytes.capacity() <= kMaxSpareChunkBytes &&
            spare_.size() < kMaxSpareChunks) {
          bytes.clear();
          spare_.push_back(std::move(bytes));
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
  void rdma_begin();

  void on_rdma_setup(std::string_view body);

  // Server: connects a link of its own to the client's offer and accepts.
  void rdma_accept(const std::string& endpoint);

  // Client: connects its link to the server's and switches its sends.
  void rdma_connect(const std::string& endpoint);

  // Stops waiting on the link and closes it (before this side switched).
  void rdma_drop();

  // Stays on TCP: tells the peer why (when negotiating with it) and logs it.
  void rdma_decline(const Status& why);

  void rdma_log_tcp(const std::string& why);

  // Queues `m` on TCP ahead of any data frame sent after it.
  void send_setup(const RdmaSetup& m);

  // Queues a `switched` marker on TCP and sends every later frame over the
  // link, both under mu_, so no frame can land on the wrong side of it.
  void rdma_switch();

  // Starts waiting on the link's completion channel like on a socket.
  void rdma_wait();

  // One arm-then-poll step (ring.h); runs again at once while it
  // finds records, otherwise when the completion channel is readable.
  void rdma_drain();

  // Delivers what arrived over the link, in order, stopping at a handoff
  // record whose TCP frame has not arrived; reaps completions otherwise.
  Result<int> rdma_poll();

  // Under mu_: admits one user frame of `wire` bytes (admit()) and, once
  // this side sends over RDMA, sends it over the link when it fits the ring
  // (`sent`), or writes the handoff record of one that goes over TCP next.
  Status admit_frame(MessageType type, std::string_view body, std::size_t wire, bool& sent)
      KEEL_REQUIRES(mu_);

  void open() {
    open_ = true;
    version_.store(handshake_.version(), std::memory_order_release);
    timer_.cancel();
    {
      MutexLock l(mu_);
      open_for_send_ = true;
      if (tls_ == nullptr) direct_fd_ = socket_.native_handle();
      if (!handshake_.peer_node().empty()) peer_ += " " + handshake_.peer_node();
    }
    host_->opened(shared_from_this());
    rdma_begin();
  }

  void finish_close(const Status& reason) {
    {
      MutexLock l(mu_);
      direct_fd_ = -1;  // before the descriptor can be closed, and its number reused
    }
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
  std::atomic<std::uint16_t> version_{0};  // negotiated; set once by open()
  bool done_ = false;  // closing or closed: no more callbacks
  bool clean_eof_ = false;  // the peer closed an open connection between frames
  std::vector<Chunk> inflight_;
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
  std::vector<Chunk> pending_ KEEL_GUARDED_BY(mu_);
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
  // The socket's descriptor, for write_now: set once the handshake is done
  // on a connection without TLS, cleared before the socket is closed.
  int direct_fd_ KEEL_GUARDED_BY(mu_) = -1;
  std::string direct_frame_ KEEL_GUARDED_BY(mu_);  // write_now's frame, reused
};

}  // namespace keel::wire::internal
