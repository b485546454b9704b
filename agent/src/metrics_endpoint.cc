#include "metrics_endpoint.h"

#include <arpa/inet.h>

#include <cstring>
#include <utility>

#include "http_server.h"
#include "keel/base/metrics_registry.h"

namespace keel::internal {

bool is_loopback_address(const std::string& host) {
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  return inet_pton(AF_INET6, host.c_str(), &v6) == 1 && std::memcmp(&v6, &in6addr_loopback, sizeof v6) == 0;
}

Result<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::open(const std::string& host, std::uint16_t port,
                                                               Render render) {
  if (!is_loopback_address(host)) {
    return Status::invalid_argument("the metrics endpoint must listen on a loopback address (127.0.0.1 or ::1), not '" +
                                    host + "'");
  }
  auto handler = [render = std::move(render)](const HttpRequest& request) {
    if (request.path != "/metrics") return HttpResponse::text_error(404, "no such path: " + request.path);
    return HttpResponse::text(200, std::string(kPrometheusContentType), render());
  };
  KEEL_ASSIGN_OR_RETURN(std::unique_ptr<HttpServer> server, HttpServer::open(host, port, std::move(handler)));
  return std::unique_ptr<MetricsEndpoint>(new MetricsEndpoint(std::move(server)));
}

MetricsEndpoint::MetricsEndpoint(std::unique_ptr<HttpServer> server) : server_(std::move(server)) {
  thread_ = std::thread([this] { server_->run(); });
}

MetricsEndpoint::~MetricsEndpoint() {
  server_->stop();
  thread_.join();
}

std::uint16_t MetricsEndpoint::port() const { return server_->port(); }

std::string MetricsEndpoint::url() const { return server_->url() + "metrics"; }

}  // namespace keel::internal
