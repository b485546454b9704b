// The TCP transport over standalone asio (keel/net/tcp_transport.h): TLS
// set-up, listeners, clients and the transport. Each connection is a
// Session (tcp_session.h), run by the transport's one I/O thread (Core).
#include "keel/net/tcp_transport.h"

#include <asio.hpp>
#include <asio/ssl.hpp>

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "handshake.h"
#include "keel/base/thread_annotations.h"
#include "tcp_session.h"

namespace keel::wire {
namespace {

using asio::ip::tcp;
using internal::Core;
using internal::Session;
using internal::SessionHost;

// The TLS context for `o`: TLS 1.2 or later, the certificate and key when
// given, and the trust store clients verify servers against (ca_file, or
// the default paths).
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
  }
  // Each stream sets whether it verifies its peer, by its role (Session).
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
    if (!s) return Status::unavailable("not connected");  // the caller names the peer
    return s->send(type, body);
  }
  Status send_owned(MessageType type, std::string&& body) override {
    auto s = state_->current();
    if (!s) return Status::unavailable("not connected");  // the caller names the peer
    return s->send_owned(type, std::move(body));
  }
  Status send_shared(MessageType type, std::shared_ptr<const std::string> body) override {
    auto s = state_->current();
    if (!s) return Status::unavailable("not connected");  // the caller names the peer
    return s->send_shared(type, std::move(body));
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
  std::uint16_t protocol_version() const override {
    auto s = state_->current();
    return s ? s->protocol_version() : 0;
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
