// ui_process.h: a running `keel ui --port 0` and a raw HTTP/1.1 client for
// it, for the tests of the web view. The client writes bytes as given, so
// tests can send malformed requests.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "tools/cli_process.h"

namespace keel::testing {

inline constexpr auto kUiWait = std::chrono::seconds(30);

// `keel ui --journal PATH --port 0 args...`, started and waited for until
// it prints the URL it serves. Not thread-safe.
class UiProcess {
 public:
  explicit UiProcess(const std::string& journal, std::vector<std::string> args = {})
      : process_(make_args(journal, std::move(args))) {
    const std::string prefix = "keel ui: serving http://127.0.0.1:";
    const bool printed = process_.read_until(
        [&](const std::string& out) {
          const std::size_t at = out.find(prefix);
          return at != std::string::npos && out.find('\n', at) != std::string::npos;
        },
        std::chrono::steady_clock::now() + kUiWait);
    const std::size_t at = process_.out().find(prefix);
    if (!printed || at == std::string::npos) return;
    const std::size_t start = at + prefix.size();
    port_ = std::stoi(process_.out().substr(start, process_.out().find('/', start) - start));
    url_ = "http://127.0.0.1:" + std::to_string(port_) + "/";
  }

  // 0 when the server did not start (see out() and err()).
  int port() const { return port_; }
  const std::string& url() const { return url_; }
  const std::string& out() const { return process_.out(); }
  const std::string& err() const { return process_.err(); }
  // SIGTERM, then its exit status (-1 if it did not exit within kUiWait).
  int stop() {
    process_.terminate();
    return process_.finish(std::chrono::steady_clock::now() + kUiWait);
  }

 private:
  static std::vector<std::string> make_args(const std::string& journal, std::vector<std::string> args) {
    std::vector<std::string> all = {"ui", "--journal", journal, "--port", "0"};
    all.insert(all.end(), args.begin(), args.end());
    return all;
  }

  CliProcess process_;
  int port_ = 0;
  std::string url_;
};

struct HttpReply {
  int status = 0;       // 0: no reply (connection failed or deadline passed)
  std::string head;     // status line and headers
  std::string body;
};

// Sends `request` as is to 127.0.0.1:port and reads the reply until the
// server closes the connection (kUiWait deadline).
inline HttpReply http_exchange(int port, const std::string& request) {
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
    const auto deadline = std::chrono::steady_clock::now() + kUiWait;
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
