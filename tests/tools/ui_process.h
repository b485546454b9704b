// ui_process.h: a running `keel ui --port 0`, for the tests of the web
// view, and the raw HTTP/1.1 client they talk to it with
// (support/http_client.h).
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "support/http_client.h"
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

}  // namespace keel::testing
