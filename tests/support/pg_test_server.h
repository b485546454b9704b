// pg_test_server.h: a PostgreSQL server of a test's own, for the tests that
// stop and start it (so the shared server of the CTest fixture keel_pg is
// not disturbed). It runs scripts/pg_test_server.sh, which CTest names in
// $KEEL_PG_SERVER_SCRIPT, on a folder of the test's own.
//
//   testing::OwnPgServer server(dir + "/server");
//   ASSERT_TRUE(server.start()) << "no PostgreSQL server (see the script's message above)";
//   auto j = open_journal(with_schema(server.url(), "s"), JournalOptions{});
//   ASSERT_TRUE(server.kill());  // pg_ctl stop -m immediate: the data stays
//   ASSERT_TRUE(server.start()); // again, on the same data
//
// Not thread-safe; owned by the test.
#pragma once

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <utility>

namespace keel::testing {

// `url` with keel_schema=`schema` added.
inline std::string with_schema(const std::string& url, const std::string& schema) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + "keel_schema=" + schema;
}

// A TCP port of 127.0.0.1 that was free a moment ago (the kernel's pick);
// 0 when none could be had.
inline int free_tcp_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  const bool ok = fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  if (fd >= 0) ::close(fd);
  return ok ? ntohs(a.sin_port) : 0;
}

class OwnPgServer {
 public:
  // Starts nothing: start() does. `dir` is the server's folder (the
  // script makes it). A `tls_port` makes the server listen there too, on
  // 127.0.0.1, with TLS (a self-signed certificate made at its first start).
  explicit OwnPgServer(std::string dir, int tls_port = 0) : dir_(std::move(dir)), tls_port_(tls_port) {}
  // Stops the server and removes it with its data, however the test ended.
  ~OwnPgServer() {
    if (started_) {
      EXPECT_TRUE(run("stop")) << "scripts/pg_test_server.sh stop " << dir_ << " failed";
    }
  }
  OwnPgServer(const OwnPgServer&) = delete;
  OwnPgServer& operator=(const OwnPgServer&) = delete;

  // Starts the server (the first time: makes it); true once it accepts
  // connections. False when $KEEL_PG_SERVER_SCRIPT is unset or the script
  // failed (it says why on stderr).
  bool start() {
    if (std::getenv("KEEL_PG_SERVER_SCRIPT") == nullptr) {
      ADD_FAILURE() << "KEEL_PG_SERVER_SCRIPT is not set (CTest sets it to scripts/pg_test_server.sh)";
      return false;
    }
    started_ = true;
    if (!run("start")) return false;
    std::ifstream in(dir_ + "/url");
    std::getline(in, url_);
    if (tls_port_ != 0) {
      std::ifstream tls(dir_ + "/tls_url");
      std::getline(tls, tls_url_);
      if (tls_url_.empty()) return false;
    }
    return !url_.empty();
  }
  // Stops the server at once (pg_ctl stop -m immediate), as a crash would,
  // keeping its data; true on success.
  bool kill() { return run("kill"); }
  // The server's URL ("postgresql:///postgres?host=...&port=...&user=..."),
  // once started.
  const std::string& url() const { return url_; }
  // With a tls_port: "postgresql://postgres@127.0.0.1:PORT/postgres?sslmode=require".
  const std::string& tls_url() const { return tls_url_; }

 private:
  bool run(const std::string& command) {
    const char* script = std::getenv("KEEL_PG_SERVER_SCRIPT");
    const std::string env = tls_port_ != 0 ? "KEEL_PG_TLS_PORT=" + std::to_string(tls_port_) + " " : "";
    return script != nullptr &&
           std::system((env + std::string(script) + " " + command + " '" + dir_ + "'").c_str()) == 0;
  }

  std::string dir_;
  const int tls_port_;
  std::string url_;
  std::string tls_url_;
  bool started_ = false;
};

// A test with a fresh folder of its own (dir_, removed afterwards) and a
// server of its own in it (server_), started before the test body runs.
class OwnPgServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/keel-pg-server-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    server_ = std::make_unique<OwnPgServer>(dir_ + "/server");
    ASSERT_TRUE(server_->start()) << "scripts/pg_test_server.sh start failed: its message above says why";
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::string dir_;
  std::unique_ptr<OwnPgServer> server_;
};

}  // namespace keel::testing
