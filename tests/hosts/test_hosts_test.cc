// scripts/test_hosts.sh: hosts reach each other and the hub over their
// loopback-range addresses, a partition or an isolation drops exactly the
// traffic it names, and healing restores it. Sockets are made inside a
// host's network namespace by a thread that enters it (setns), so one test
// process plays every host.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

namespace {

const std::string kScript = std::string(KEEL_SOURCE_DIR) + "/scripts/test_hosts.sh";

// Runs the script with `args`; returns its exit code and its output.
std::pair<int, std::string> run_script(const std::string& args) {
  const std::string cmd = kScript + " " + args + " 2>&1";
  std::unique_ptr<FILE, int (*)(FILE*)> p(popen(cmd.c_str(), "r"), pclose);
  if (!p) return {-1, "popen failed: " + std::string(std::strerror(errno))};
  std::string out;
  std::array<char, 256> buf;
  while (std::fgets(buf.data(), static_cast<int>(buf.size()), p.get()) != nullptr) out += buf.data();
  const int status = pclose(p.release());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// A TCP socket of the network namespace `netns`, or -1 with `*why` set.
int socket_in(const std::string& netns, std::string* why) {
  int fd = -1;
  std::thread t([&] {
    const int target = open(("/run/netns/" + netns).c_str(), O_RDONLY | O_CLOEXEC);
    if (target < 0) {
      *why = "open /run/netns/" + netns + ": " + std::strerror(errno);
      return;
    }
    // The thread stays in the namespace until it ends: only this socket is made there.
    if (setns(target, CLONE_NEWNET) != 0) {
      *why = "setns " + netns + ": " + std::strerror(errno);
    } else {
      fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) *why = std::string("socket: ") + std::strerror(errno);
    }
    close(target);
  });
  t.join();
  return fd;
}

sockaddr_in address(const std::string& ip, std::uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip.c_str(), &a.sin_addr);
  return a;
}

class TestHostsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    name_ = "t" + std::to_string(getpid() % 1000000);
    auto [rc, out] = run_script("up " + name_ + " 2");
    ASSERT_EQ(rc, 0) << "the test hosts could not be made (root and iproute2 are needed): " << out;
    up_ = true;
  }
  void TearDown() override {
    for (int fd : fds_) close(fd);
    if (up_) {
      auto [rc, out] = run_script("down " + name_);
      EXPECT_EQ(rc, 0) << out;
    }
  }

  std::string netns(int host) { return "keel-" + name_ + "-" + std::to_string(host); }
  std::string addr(int host) {
    auto [rc, out] = run_script("addr " + name_ + " " + std::to_string(host));
    EXPECT_EQ(rc, 0) << out;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }
  void script(const std::string& verb_and_hosts) {
    auto [rc, out] = run_script(verb_and_hosts.substr(0, verb_and_hosts.find(' ')) + " " + name_ +
                                verb_and_hosts.substr(verb_and_hosts.find(' ')));
    ASSERT_EQ(rc, 0) << verb_and_hosts << ": " << out;
  }

  // A listening socket of `host` on its address; returns the port.
  std::uint16_t listen_on(int host) {
    std::string why;
    const int fd = socket_in(netns(host), &why);
    EXPECT_GE(fd, 0) << why;
    if (fd < 0) return 0;
    fds_.push_back(fd);
    sockaddr_in a = address(addr(host), 0);
    EXPECT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
    EXPECT_EQ(listen(fd, 16), 0) << std::strerror(errno);
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    return ntohs(a.sin_port);
  }

  // Whether a TCP connection from `from` to `to`:`port` is made within a
  // second (a dropped SYN never completes: "no" is the expected answer).
  bool connects(int from, int to, std::uint16_t port) {
    std::string why;
    const int fd = socket_in(netns(from), &why);
    EXPECT_GE(fd, 0) << why;
    if (fd < 0) return false;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    sockaddr_in a = address(addr(to), port);
    bool ok = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    if (!ok && errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int err = 0;
      socklen_t len = sizeof err;
      ok = poll(&p, 1, 1000) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
    }
    close(fd);
    return ok;
  }

  std::string name_;
  bool up_ = false;
  std::vector<int> fds_;
};

TEST_F(TestHostsTest, EveryAddressIsInTheLoopbackRange) {
  for (int h = 0; h <= 2; ++h) EXPECT_EQ(addr(h).rfind("127.10.0.", 0), 0u) << addr(h);
  EXPECT_EQ(addr(0), "127.10.0.1");
  EXPECT_EQ(addr(1), "127.10.0.11");
}

TEST_F(TestHostsTest, HostsReachEachOtherAndTheHub) {
  const std::uint16_t on2 = listen_on(2), on_hub = listen_on(0);
  EXPECT_TRUE(connects(1, 2, on2));
  EXPECT_TRUE(connects(1, 0, on_hub));
  EXPECT_TRUE(connects(2, 0, on_hub));
}

TEST_F(TestHostsTest, APartitionCutsTwoHostsApartUntilHealed) {
  const std::uint16_t on2 = listen_on(2), on_hub = listen_on(0);
  script("partition 1 2");
  EXPECT_FALSE(connects(1, 2, on2));
  EXPECT_TRUE(connects(1, 0, on_hub));  // the hub (the database) is still reachable
  EXPECT_TRUE(connects(2, 0, on_hub));
  script("heal 1");
  script("heal 2");
  EXPECT_TRUE(connects(1, 2, on2));
}

TEST_F(TestHostsTest, AnIsolatedHostReachesNobody) {
  const std::uint16_t on1 = listen_on(1), on_hub = listen_on(0);
  script("isolate 1");
  EXPECT_FALSE(connects(1, 0, on_hub));
  EXPECT_FALSE(connects(2, 1, on1));
  EXPECT_TRUE(connects(2, 0, on_hub));
  script("heal 1");
  EXPECT_TRUE(connects(1, 0, on_hub));
}

TEST(TestHostsScript, RefusesABadSetName) {
  auto [rc, out] = run_script("up Bad_Name 2");
  EXPECT_NE(rc, 0);
  EXPECT_NE(out.find("set name"), std::string::npos) << out;
}

}  // namespace
