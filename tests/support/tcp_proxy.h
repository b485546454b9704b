// tcp_proxy.h: TcpProxy, a loopback TCP forwarder for tests: it accepts on
// its own address and copies bytes both ways to a target, as a port
// mapping or a NAT in front of a server does. Each connection gets two
// threads; the destructor closes everything and joins them.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace keel::testing {

class TcpProxy {
 public:
  // Listens on `host` (a numeric IPv4 address), port chosen by the system,
  // and forwards each connection to target_host:target_port. port() is 0
  // when it could not listen.
  TcpProxy(const std::string& host, const std::string& target_host, std::uint16_t target_port)
      : target_(address(target_host, target_port)) {
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in at = address(host, 0);
    socklen_t len = sizeof(at);
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&at), sizeof(at)) != 0 || ::listen(listener_, 16) != 0 ||
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&at), &len) != 0) {
      return;
    }
    port_ = ntohs(at.sin_port);
    accepting_ = std::thread([this] { accept_loop(); });
  }
  ~TcpProxy() {
    stopping_ = true;
    ::shutdown(listener_, SHUT_RDWR);
    ::close(listener_);
    if (accepting_.joinable()) accepting_.join();
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    }
    for (std::thread& t : pumps_) t.join();
    for (int fd : fds_) ::close(fd);
  }
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  std::uint16_t port() const { return port_; }

 private:
  static sockaddr_in address(const std::string& host, std::uint16_t port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    ::inet_pton(AF_INET, host.c_str(), &a.sin_addr);
    return a;
  }

  void accept_loop() {
    for (;;) {
      const int in = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (in < 0 || stopping_) {
        if (in >= 0) ::close(in);
        return;
      }
      const int out = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (::connect(out, reinterpret_cast<const sockaddr*>(&target_), sizeof(target_)) != 0) {
        ::close(in);
        ::close(out);
        continue;
      }
      std::lock_guard<std::mutex> lock(mu_);
      fds_.push_back(in);
      fds_.push_back(out);
      pumps_.emplace_back([in, out] { pump(in, out); });
      pumps_.emplace_back([in, out] { pump(out, in); });
    }
  }

  // Copies `from` to `to` until either side closes, then shuts both down.
  static void pump(int from, int to) {
    char buf[16384];
    for (;;) {
      const ssize_t n = ::read(from, buf, sizeof(buf));
      if (n <= 0) break;
      ssize_t sent = 0;
      while (sent < n) {
        const ssize_t w = ::send(to, buf + sent, static_cast<std::size_t>(n - sent), MSG_NOSIGNAL);
        if (w <= 0) break;
        sent += w;
      }
      if (sent < n) break;
    }
    ::shutdown(from, SHUT_RDWR);
    ::shutdown(to, SHUT_RDWR);
  }

  const sockaddr_in target_;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread accepting_;
  std::mutex mu_;
  std::vector<int> fds_;
  std::vector<std::thread> pumps_;
};

}  // namespace keel::testing
