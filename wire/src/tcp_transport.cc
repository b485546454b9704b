// The TCP transport over standalone asio (keel/wire/tcp_transport.h).
//
// One I/O thread per TcpTransport runs every handler, so the state that only
// handlers touch needs no lock. What other threads reach (a connection's send
// queue, a client's current connection) sits behind a mutex. Sessions are
// shared_ptr-owned by their pending handlers and by their host (the listener
// or client state) while open, so a handler never outlives its socket.
#include "keel/wire/tcp_transport.h"

#include <asio.hpp>
#include <asio/ssl.hpp>

#include <atomic>
#include <cstdio>
#include <future>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "keel/base/thread_annotations.h"
#include "keel/wire/handshake.h"

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

  Status send(MessageType type, std::string_view body) override {
    KEEL_RETURN_IF_ERROR(check_size(body.size()));
    const std::size_t wire = frame_wire_bytes(body.size());
    bool kick = false;
    {
      MutexLock l(mu_);
      KEEL_RETURN_IF_ERROR(admit(wire, false));
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
      pending_.push_back(std::move(out));
      tail_appendable_ = false;
      queued_ += pending_.back().size();
      kick_posted_ = true;
    }
    post_kick();
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
    if (f.type == MessageType::kHello || f.type == MessageType::kAuth ||
        f.type == MessageType::kAuthOk) {
      close_on_io(Status::corruption("unexpected " + std::string(message_type_name(f.type)) +
                                     " frame after the handshake"));
      return;
    }
    if (host_->callbacks().on_frame) host_->callbacks().on_frame(*this, f);
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
  }

  void finish_close(const Status& reason) {
    asio::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    timer_.cancel();
    {
      MutexLock l(mu_);
      closed_ = true;
      pending_.clear();
      queued_ = 0;
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
