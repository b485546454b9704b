// http_client.h: a raw HTTP/1.1 client for tests of Keel's HTTP endpoints
// (keel ui, keel-agent's /metrics) over a real TCP socket on loopback. It
// writes bytes as given, so tests can send malformed requests.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace keel::testing {

inline constexpr std::chrono::milliseconds kHttpWait{30'000};  // generous: the machine is shared

struct HttpReply {
  int status = 0;       // 0: no reply (connection failed or deadline passed)
  std::string head;     // status line and headers
  std::string body;
};

// Sends `request` as is to 127.0.0.1:port and reads the reply until the
// server closes the connection or `wait` passes.
inline HttpReply http_exchange(int port, const std::string& request,
                               std::chrono::milliseconds wait = kHttpWait) {
  HttpReply reply;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return reply;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string in;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    std::size_t sent = 0;
    while (sent < request.size()) {
      const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;  // the server may answer and close before taking it all
      sent += static_cast<std::size_t>(n);
    }
    const auto deadline = std::chrono::steady_clock::now() + wait;
    for (;;) {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd p{fd, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char buf[65536];
      const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      in.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  const std::size_t end = in.find("\r\n\r\n");
  if (in.rfind("HTTP/1.1 ", 0) != 0 || end == std::string::npos) return reply;
  reply.status = std::stoi(in.substr(9, 3));
  reply.head = in.substr(0, end);
  reply.body = in.substr(end + 4);
  return reply;
}

// GET `target` as a browser on this machine would ask for it.
inline HttpReply http_get(int port, const std::string& target) {
  return http_exchange(port, "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                                 "\r\nUser-Agent: keel-test\r\n\r\n");
}

}  // namespace keel::testing
