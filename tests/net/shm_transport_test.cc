// The shared-memory transport (keel/net/shm_transport.h): frames in place,
// back-pressure, and a fork()ed child peer under concurrent load and when it
// dies. Waits have deadlines; nothing sleeps.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "keel/net/shm_transport.h"
#include "mapped_shm_region.h"
#include "net/net_test_support.h"

namespace keel::wire {
namespace {

using testing::Events;

ShmOptions quiet_options(Events& events) {
  ShmOptions o;
  o.log = [&events](std::string_view line) { events.log(line); };
  return o;
}

ConnectionCallbacks echo(Events& events) {
  ConnectionCallbacks cb;
  cb.on_frame = [&events](Connection& c, const Frame& f) {
    if (f.type == MessageType::kCall) {
      Status s = c.send(MessageType::kReply, f.body);
      if (!s.is_ok()) events.log("echo failed: " + s.to_string());
    }
    events.add("frames");
  };
  cb.on_close = [&events](Connection&, const Status& why) {
    events.add("close_" + std::string(status_code_name(why.code())));
  };
  return cb;
}

// Runs `child` in a fork()ed process and returns its pid; the child exits
// with child()'s result.
pid_t fork_child(const std::function<int()>& child) {
  const pid_t pid = fork();
  if (pid == 0) _exit(child());
  return pid;
}

// The ring that side A writes (from the region's private implementation).
RingRegion a_to_b(const ShmRegion& region) {
  return static_cast<const internal::MappedShmRegion&>(region).a_to_b();
}

int wait_exit_code(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST(ShmTransport, FramesArriveInPlaceInTheSharedMapping) {
  auto region = ShmRegion::create(64 * 1024).value();
  Events events;
  std::string got;
  const char* where = nullptr;
  ConnectionCallbacks cb;
  cb.on_frame = [&](Connection&, const Frame& f) {
    got = std::string(f.body);
    where = f.body.data();
    events.add("frames");
  };
  auto b = ShmConnection::start(*region, ShmSide::kB, cb, quiet_options(events)).value();
  auto a = ShmConnection::start(*region, ShmSide::kA, {}, quiet_options(events)).value();
  ASSERT_TRUE(a->send(MessageType::kCall, "in place").is_ok());
  ASSERT_TRUE(events.wait_count("frames", 1));
  EXPECT_EQ(got, "in place");
  const RingRegion ring = a_to_b(*region);
  EXPECT_TRUE(where >= ring.data && where < ring.data + ring.capacity);
}

TEST(ShmTransport, OversizedFrameIsInvalidArgument) {
  auto region = ShmRegion::create(4096).value();
  Events events;
  auto a = ShmConnection::start(*region, ShmSide::kA, {}, quiet_options(events)).value();
  auto b = ShmConnection::start(*region, ShmSide::kB, {}, quiet_options(events)).value();
  EXPECT_EQ(a->send(MessageType::kCall, std::string(4096, 'x')).code(), StatusCode::kInvalidArgument);
}

TEST(ShmTransport, FullRingIsOverloadedUntilThePeerConsumes) {
  auto region = ShmRegion::create(4096).value();
  Events events;
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  ConnectionCallbacks cb;
  cb.on_frame = [&](Connection&, const Frame&) {
    if (events.count("frames") == 0) released.wait();
    events.add("frames");
  };
  ShmOptions o = quiet_options(events);
  o.send_wait = std::chrono::milliseconds(20);
  auto b = ShmConnection::start(*region, ShmSide::kB, cb, o).value();
  auto a = ShmConnection::start(*region, ShmSide::kA, {}, o).value();
  const std::string body(1000, 'p');
  long sent = 0;
  Status s;
  for (int i = 0; i < 1000; ++i) {
    s = a->send(MessageType::kCall, body);
    if (!s.is_ok()) break;
    ++sent;
  }
  ASSERT_EQ(s.code(), StatusCode::kOverloaded) << s;
  release.set_value();
  ASSERT_TRUE(events.wait_count("frames", sent));
  do {
    s = a->send(MessageType::kCall, body);  // the last credits may still be on their way
  } while (s.code() == StatusCode::kOverloaded);
  ASSERT_TRUE(s.is_ok()) << s;
  ASSERT_TRUE(events.wait_count("frames", sent + 1));
}

TEST(ShmTransport, ForkedChildServesConcurrentSendersInOrder) {
  auto region = ShmRegion::create(256 * 1024).value();
  const pid_t child = fork_child([&] {
    Events events;
    auto b = ShmConnection::start(*region, ShmSide::kB, echo(events), quiet_options(events));
    if (!b.has_value()) return 2;
    // Serves until side A closes.
    return events.wait_count("close_unavailable", 1) ? 0 : 3;
  });
  ASSERT_GT(child, 0);

  constexpr int kThreads = 4;
  constexpr std::uint64_t kPerThread = 20'000;
  Events events;
  std::vector<std::uint64_t> next(kThreads, 0);
  bool in_order = true;
  ConnectionCallbacks cb;
  cb.on_frame = [&](Connection&, const Frame& f) {
    std::uint64_t word[2];
    std::memcpy(word, f.body.data(), sizeof word);
    in_order = in_order && word[1] == next[word[0]];
    ++next[word[0]];
    events.add("replies");
  };
  {
    auto a = ShmConnection::start(*region, ShmSide::kA, cb, quiet_options(events)).value();
    std::vector<std::thread> senders;
    for (int t = 0; t < kThreads; ++t) {
      senders.emplace_back([&, t] {
        for (std::uint64_t i = 0; i < kPerThread; ++i) {
          std::uint64_t word[2] = {static_cast<std::uint64_t>(t), i};
          std::string body(16 + (i % 7) * 24, 'z');
          std::memcpy(body.data(), word, sizeof word);
          Status s;
          do {
            s = a->send(MessageType::kCall, body);
          } while (s.code() == StatusCode::kOverloaded);
          ASSERT_TRUE(s.is_ok()) << s;
        }
      });
    }
    for (std::thread& t : senders) t.join();
    ASSERT_TRUE(events.wait_count("replies", kThreads * kPerThread)) << events.count("replies");
  }
  EXPECT_TRUE(in_order);
  EXPECT_EQ(wait_exit_code(child), 0);
}

TEST(ShmTransport, PeerDeathIsReportedAsUnavailable) {
  auto region = ShmRegion::create(64 * 1024).value();
  const pid_t child = fork_child([&] {
    Events events;
    ConnectionCallbacks cb;
    // Dies without closing anything, as a crashed process would.
    cb.on_frame = [](Connection&, const Frame&) { kill(getpid(), SIGKILL); };
    auto b = ShmConnection::start(*region, ShmSide::kB, cb, quiet_options(events));
    events.wait_count("never", 1);
    return 4;
  });
  ASSERT_GT(child, 0);
  Events events;
  ShmOptions o = quiet_options(events);
  o.wait.poll_interval = std::chrono::milliseconds(5);
  o.wait.peer_timeout = std::chrono::milliseconds(200);
  auto a = ShmConnection::start(*region, ShmSide::kA, echo(events), o).value();
  ASSERT_TRUE(a->send(MessageType::kCall, "die").is_ok());
  EXPECT_EQ(wait_exit_code(child), 128 + SIGKILL);
  ASSERT_TRUE(events.wait_count("close_unavailable", 1)) << events.lines();
  EXPECT_TRUE(events.wait_log({"heartbeat stopped"})) << events.lines();
  EXPECT_EQ(a->send(MessageType::kCall, "anyone?").code(), StatusCode::kUnavailable);
}

TEST(ShmTransport, RegionOpensFromItsDescriptor) {
  auto region = ShmRegion::create(8192).value();
  auto again = ShmRegion::open(dup(region->fd()));
  ASSERT_TRUE(again.has_value()) << again.status();
  EXPECT_EQ(a_to_b(**again).capacity, a_to_b(*region).capacity);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ::close(fds[1]);
  EXPECT_EQ(ShmRegion::open(fds[0]).status().code(), StatusCode::kCorruption);
}

}  // namespace
}  // namespace keel::wire
