#include "http_server.h"

#include <array>
#include <asio.hpp>
#include <cctype>


namespace keel::internal {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// `s` with %XX escapes decoded (and '+' as a space when `plus_is_space`).
// Errors: kInvalidArgument (a bad escape, or an escaped NUL).
Result<std::string> percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+' && plus_is_space) {
      out += ' ';
    } else if (s[i] != '%') {
      out += s[i];
    } else {
      const int hi = i + 2 < s.size() ? hex_digit(s[i + 1]) : -1;
      const int lo = i + 2 < s.size() ? hex_digit(s[i + 2]) : -1;
      if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
        return Status::invalid_argument("bad percent escape in '" + std::string(s) + "'");
      }
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    }
  }
  return out;
}

Status parse_query(std::string_view query, std::map<std::string, std::string>& into) {
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const std::size_t eq = pair.find('=');
    KEEL_ASSIGN_OR_RETURN(std::string name, percent_decode(pair.substr(0, eq), true));
    std::string value;
    if (eq != std::string_view::npos) {
      KEEL_ASSIGN_OR_RETURN(value, percent_decode(pair.substr(eq + 1), true));
    }
    into[name] = value;
  }
  return Status::ok();
}

// Whether `path` has a "." or ".." segment.
bool has_dot_segment(std::string_view path) {
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t slash = std::min(path.find('/', start), path.size());
    const std::string_view seg = path.substr(start, slash - start);
    if (seg == "." || seg == "..") return true;
    start = slash + 1;
  }
  return false;
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < 'A' || c > 'Z') return false;
  }
  return true;
}

Status parse_request_line(std::string_view line, HttpRequest& r) {
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return Status::invalid_argument("malformed request line: want METHOD TARGET HTTP/1.x");
  }
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!is_token(method)) return Status::invalid_argument("malformed method");
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return Status::invalid_argument("unsupported HTTP version");
  if (target.empty() || target[0] != '/') return Status::invalid_argument("the target must be a path");
  r.method = std::string(method);
  const std::size_t q = target.find('?');
  KEEL_ASSIGN_OR_RETURN(r.path, percent_decode(target.substr(0, q), false));
  if (has_dot_segment(r.path)) return Status::invalid_argument("dot segments are not allowed in paths");
  if (q != std::string_view::npos) KEEL_RETURN_IF_ERROR(parse_query(target.substr(q + 1), r.query));
  return Status::ok();
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string serialize(const HttpResponse& r) {
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + std::string(reason_phrase(r.status)) + "\r\n";
  out += "Content-Type: " + r.content_type + "\r\n";
  out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  out += "Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n";
  for (const auto& [name, value] : r.headers) out += name + ": " + value + "\r\n";
  return out + "\r\n" + r.body;
}

}  // namespace

Result<HttpRequest> parse_request(std::string_view head) {
  HttpRequest r;
  std::size_t eol = head.find("\r\n");
  KEEL_RETURN_IF_ERROR(parse_request_line(head.substr(0, eol), r));
  while (eol != std::string_view::npos && eol + 2 < head.size()) {
    const std::size_t start = eol + 2;
    eol = head.find("\r\n", start);
    const std::string_view line = head.substr(start, eol == std::string_view::npos ? eol : eol - start);
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return Status::invalid_argument("malformed header line");
    if (iequals(line.substr(0, colon), "host")) r.host = std::string(trim(line.substr(colon + 1)));
  }
  return r;
}

std::string_view reason_phrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
  }
}

HttpResponse HttpResponse::text(int status, std::string content_type, std::string body) {
  HttpResponse r;
  r.status = status;
  r.content_type = std::move(content_type);
  r.body = std::move(body);
  return r;
}

HttpResponse HttpResponse::text_error(int status, const std::string& message) {
  return text(status, "text/plain; charset=utf-8", message + "\n");
}

// ---- the server ----------------------------------------------------------------

struct HttpServer::Impl {
  Impl(Handler h, HttpLimits l, HttpErrorResponder e)
      : handler(std::move(h)), limits(l), errors(e ? std::move(e) : HttpErrorResponder(&HttpResponse::text_error)) {}

  asio::io_context io;  // declared first: destroyed last, after the handlers that hold connections
  asio::ip::tcp::acceptor acceptor{io};
  asio::steady_timer ticker{io};
  Handler handler;
  HttpLimits limits;
  HttpErrorResponder errors;
  std::chrono::milliseconds tick_period{0};
  std::function<void()> tick;
  std::uint16_t port = 0;  // constant after open()
  std::string url;         // constant after open()

  void accept();
  void schedule_tick();
};

namespace {

// One connection: reads one request head, writes one response, then reads
// and drops whatever the client still sends until it closes (so that an
// unread request body does not turn the close into a reset that loses the
// response). Owned by its pending asio handlers; serving thread only.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(asio::ip::tcp::socket socket, const HttpServer::Handler& handler, const HttpLimits& limits,
             const HttpErrorResponder& errors)
      : socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        handler_(handler),
        limits_(limits),
        errors_(errors) {}

  void start() {
    auto self = shared_from_this();
    timer_.expires_after(limits_.read_timeout);
    timer_.async_wait([self](const asio::error_code& ec) {
      if (!ec) self->timed_out();
    });
    asio::async_read_until(socket_, asio::dynamic_buffer(in_, limits_.max_request_bytes), "\r\n\r\n",
                           [self](const asio::error_code& ec, std::size_t n) { self->on_head(ec, n); });
  }

 private:
  void timed_out() {
    if (responded_) {
      close();
      return;
    }
    asio::error_code ignored;
    socket_.cancel(ignored);  // the pending read completes as aborted; on_head ignores it
    respond(errors_(408, "the request took too long to arrive"));
  }

  void on_head(const asio::error_code& ec, std::size_t n) {
    if (responded_) return;
    if (ec == asio::error::not_found) {
      respond(errors_(431, "request head over " + std::to_string(limits_.max_request_bytes) +
                                                " bytes"));
      return;
    }
    if (ec) {
      close();
      return;
    }
    Result<HttpRequest> request = parse_request(std::string_view(in_).substr(0, n - 4));
    if (!request) {
      respond(errors_(400, std::string(request.status().message())));
    } else if (request->method != "GET") {
      HttpResponse r = errors_(405, "only GET is served");
      r.headers.emplace_back("Allow", "GET");
      respond(std::move(r));
    } else {
      respond(handler_(*request));
    }
  }

  void respond(const HttpResponse& response) {
    responded_ = true;
    out_ = serialize(response);
    timer_.expires_after(limits_.read_timeout);  // also bounds the write and the drain
    auto self = shared_from_this();
    timer_.async_wait([self](const asio::error_code& ec) {
      if (!ec) self->close();
    });
    asio::async_write(socket_, asio::buffer(out_), [self](const asio::error_code& ec, std::size_t) {
      if (ec) {
        self->close();
        return;
      }
      asio::error_code ignored;
      self->socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
      self->drain();
    });
  }

  void drain() {
    auto self = shared_from_this();
    socket_.async_read_some(asio::buffer(scratch_), [self](const asio::error_code& ec, std::size_t) {
      if (ec) {
        self->close();
      } else {
        self->drain();
      }
    });
  }

  void close() {
    asio::error_code ignored;
    timer_.cancel();
    socket_.close(ignored);
  }

  asio::ip::tcp::socket socket_;
  asio::steady_timer timer_;
  const HttpServer::Handler& handler_;  // the server's; outlives every connection
  const HttpLimits& limits_;
  const HttpErrorResponder& errors_;  // the server's too
  std::string in_;
  std::string out_;
  std::array<char, 4096> scratch_{};
  bool responded_ = false;
};

}  // namespace

void HttpServer::Impl::accept() {
  acceptor.async_accept([this](const asio::error_code& ec, asio::ip::tcp::socket socket) {
    if (!acceptor.is_open()) return;
    if (!ec) std::make_shared<Connection>(std::move(socket), handler, limits, errors)->start();
    accept();  // a failed accept (out of descriptors) must not stop the server
  });
}

void HttpServer::Impl::schedule_tick() {
  ticker.expires_after(tick_period);
  ticker.async_wait([this](const asio::error_code& ec) {
    if (ec) return;
    tick();
    schedule_tick();
  });
}

Result<std::unique_ptr<HttpServer>> HttpServer::open(const std::string& host, std::uint16_t port, Handler handler,
                                                     HttpLimits limits, HttpErrorResponder errors) {
  asio::error_code ec;
  const asio::ip::address address = asio::ip::make_address(host, ec);
  if (ec) return Status::invalid_argument("--host must be an IP address, not '" + host + "'");
  auto impl = std::make_unique<Impl>(std::move(handler), limits, std::move(errors));
  const asio::ip::tcp::endpoint endpoint(address, port);
  auto fail = [&](const char* what) {
    return Status::io_error(std::string(what) + " " + host + " port " + std::to_string(port) + ": " + ec.message());
  };
  impl->acceptor.open(endpoint.protocol(), ec);
  if (ec) return fail("cannot open a socket for");
  impl->acceptor.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
  if (ec) return fail("cannot reuse");
  impl->acceptor.bind(endpoint, ec);
  if (ec) return fail("cannot bind");
  impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("cannot listen on");
  const std::uint16_t bound = impl->acceptor.local_endpoint(ec).port();
  if (ec) return fail("cannot read the port of");
  const std::string shown = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  impl->port = bound;
  impl->url = "http://" + shown + ":" + std::to_string(bound) + "/";
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() = default;

std::uint16_t HttpServer::port() const { return impl_->port; }

std::string HttpServer::url() const { return impl_->url; }

void HttpServer::every(std::chrono::milliseconds period, std::function<void()> tick) {
  impl_->tick_period = period;
  impl_->tick = std::move(tick);
}

void HttpServer::run() {
  impl_->accept();
  if (impl_->tick) impl_->schedule_tick();
  impl_->io.run();
}

void HttpServer::stop() { impl_->io.stop(); }

}  // namespace keel::internal
