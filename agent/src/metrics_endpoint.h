// metrics_endpoint.h: keel-agent's metrics endpoint, an HTTP server on a
// loopback address that answers GET /metrics with the Prometheus text
// format 0.0.4 (docs/metrics.md) and every other path with 404. Internal
// to Keel::agent.
//
//   KEEL_ASSIGN_OR_RETURN(auto endpoint, MetricsEndpoint::open("127.0.0.1", 0, [&] { return render(); }));
//   std::printf("%s\n", endpoint->url().c_str());   // http://127.0.0.1:PORT/metrics
//   endpoint.reset();                               // stops serving
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "keel/base/status.h"

namespace keel::internal {

class HttpServer;

// Whether `host` is a numeric loopback address: IPv4 127.0.0.0/8 or IPv6 ::1.
bool is_loopback_address(const std::string& host);

// Serves on a thread of its own from open() to its destruction. Owned by
// the agent; not copyable or movable. port() and url() are thread-safe.
class MetricsEndpoint {
 public:
  // Returns the text to serve; called on the endpoint's thread, once per
  // GET /metrics. Must stay callable until the endpoint is destroyed.
  using Render = std::function<std::string()>;

  // Listens on `host`:`port` (0: a free port). Errors: kInvalidArgument
  // (`host` is not a numeric loopback address: the endpoint has no
  // authentication, so it is never exposed beyond the machine), kIoError
  // (cannot listen: the port is taken).
  static Result<std::unique_ptr<MetricsEndpoint>> open(const std::string& host, std::uint16_t port, Render render);
  // Stops serving and joins the thread; a response being written may be cut off.
  ~MetricsEndpoint();
  MetricsEndpoint(const MetricsEndpoint&) = delete;
  MetricsEndpoint& operator=(const MetricsEndpoint&) = delete;

  std::uint16_t port() const;
  // "http://127.0.0.1:PORT/metrics" ("http://[::1]:PORT/metrics").
  std::string url() const;

 private:
  explicit MetricsEndpoint(std::unique_ptr<HttpServer> server);

  std::unique_ptr<HttpServer> server_;
  std::thread thread_;  // runs server_->run()
};

}  // namespace keel::internal
