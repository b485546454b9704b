// http_server.h: the small HTTP/1.1 server under `keel ui` and keel-agent's
// metrics endpoint (docs/metrics.md). It answers GET
// requests only, one request per connection (every response says
// "Connection: close"), with a bound on the request's size and on the time
// a client may take to send it. It serves no files: a Handler maps each
// request to a response.
//
//   auto server = HttpServer::open("127.0.0.1", 0, [](const HttpRequest& r) {
//     return r.path == "/" ? HttpResponse::text(200, "text/plain", "hello\n")
//                          : HttpResponse::text(404, "text/plain", "no such path: " + r.path + "\n");
//   });
//   if (!server) return server.status();
//   std::cout << (*server)->url() << "\n";
//   (*server)->run();  // until stop(), from another thread or a tick
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "keel/base/status.h"

namespace keel::internal {

// One parsed request. Values, not resources.
struct HttpRequest {
  std::string method;                        // "GET"
  std::string path;                          // percent-decoded, without the query
  std::map<std::string, std::string> query;  // percent-decoded; '+' is a space
  std::string host;                          // the Host header, or empty
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // besides the standard ones

  static HttpResponse text(int status, std::string content_type, std::string body);
  // "MESSAGE\n" as text/plain with that status.
  static HttpResponse text_error(int status, const std::string& message);
};

// Makes the response to a request the server refuses itself (400, 405,
// 408, 431; see HttpServer::open), from its status and what is wrong.
// Runs on the serving thread.
using HttpErrorResponder = std::function<HttpResponse(int status, const std::string& message)>;

struct HttpLimits {
  std::size_t max_request_bytes = 16 * 1024;         // request line and headers
  std::chrono::milliseconds read_timeout{10'000};  // to receive them
};

// Parses a request head: the request line and the header lines, each ended
// by CRLF, up to (not including) the empty line. The target must be a path
// ("/..."); a path with a "." or ".." segment is refused. Errors:
// kInvalidArgument, with a message that says what is malformed.
Result<HttpRequest> parse_request(std::string_view head);

// The reason phrase of a status code ("Not Found").
std::string_view reason_phrase(int status);

// A listening server. Owned by its creator; not movable. run() and the
// handler run on one thread; stop(), port() and url() may be called from
// any thread.
class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  // Listens on `host` (a numeric IPv4 or IPv6 address) at `port` (0: any
  // free port). `handler` runs on the thread that calls run(), for GET
  // requests that parsed; the server itself answers malformed requests
  // (400), oversized ones (431), other methods (405) and slow ones (408),
  // with the response `errors` makes (null: HttpResponse::text_error).
  // Errors: kInvalidArgument (host is not an address), kIoError (cannot
  // listen: the port is taken, or not allowed).
  static Result<std::unique_ptr<HttpServer>> open(const std::string& host, std::uint16_t port, Handler handler,
                                                  HttpLimits limits = {}, HttpErrorResponder errors = nullptr);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The port listened on (the one chosen when open() was given 0).
  std::uint16_t port() const;
  // "http://127.0.0.1:8080/" ("http://[::1]:8080/" for IPv6).
  std::string url() const;

  // Calls `tick` on the serving thread every `period` while run() runs.
  // Call before run().
  void every(std::chrono::milliseconds period, std::function<void()> tick);
  // Serves on the calling thread until stop(). Call at most once.
  void run();
  // Makes run() return soon; a response being written may be cut off.
  // Thread-safe; may be called before run() (run() then returns at once).
  void stop();

 private:
  struct Impl;
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace keel::internal
