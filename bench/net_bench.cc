// net_bench: Keel's transports beside raw asio on the same loopback, in one
// run, so the figures read as ratios that hold on a noisy machine.
//
//   keel_net_bench            full run, prints a table
//   keel_net_bench --quick    a smoke run (CTest: bench.net_quick)
//   keel_net_bench --json     the same figures as one JSON object
//
// Workloads (64-byte bodies unless named otherwise):
//   raw asio ping-pong        two threads, blocking asio sockets, no Keel
//   keel tcp round trip       one frame out, one back, driven from the
//                             client's callback; p50/p99 per round trip
//   raw asio pipelined        a writer streams 64-byte messages, the server
//                             echoes, a reader counts them back
//   keel tcp pipelined        `window` calls in flight, one connection and
//                             four; each reply sends the next call
//   raw tcp 1 MiB             one-way bandwidth of 1 MiB writes
//   keel tcp 1 MiB frames     one-way bandwidth of 1 MiB frames (the handler
//                             reads each body in place), sent with send()
//                             (copied into the send queue) and with
//                             send_shared() (written from the caller's
//                             buffer, as the raw row does)
//   keel shm round trip       to a fork()ed child over shared memory
//   keel shm one-way          64-byte frames to the child
//   keel shm ..., spin 50 us  the same two with the readers spinning 50 us
//                             before they sleep (for hosts with idle cores)
#include <sys/wait.h>
#include <unistd.h>

#include <asio.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "keel/net/shm_transport.h"
#include "keel/net/tcp_transport.h"

namespace {

using Clock = std::chrono::steady_clock;
using keel::Status;
using keel::wire::Connection;
using keel::wire::ConnectionCallbacks;
using keel::wire::Frame;
using keel::wire::MessageType;
using asio::ip::tcp;

constexpr std::size_t kSmall = 64;
constexpr std::size_t kLarge = 1 << 20;
// The spin of the shared-memory rows that try one (ShmWaitOptions::spin).
constexpr std::chrono::microseconds kShmSpin{50};

struct Sizes {
  std::int64_t round_trips = 50'000;
  std::int64_t pipelined = 1'000'000;
  std::int64_t window = 2048;
  std::int64_t large_frames = 512;  // 512 MiB
  std::int64_t shm_round_trips = 100'000;
  std::int64_t shm_one_way = 2'000'000;
  // Each workload runs this often, raw and Keel alternating; the row shows
  // the repetition with the median rate.
  int repetitions = 5;
  static Sizes quick() { return {2'000, 20'000, 256, 16, 2'000, 20'000, 1}; }
};

struct Row {
  std::string name;
  double ops = 0;       // per second (messages, round trips or bytes)
  std::string unit;     // "rt/s", "msg/s", "MiB/s"
  double p50_us = -1;   // latency rows only
  double p99_us = -1;
};

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "keel_net_bench: %s\n", what.c_str());
  std::exit(1);
}

void check(const Status& s, const char* what) {
  if (!s.is_ok()) fail(std::string(what) + ": " + s.to_string());
}

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// p50 and p99 of per-round-trip latencies, in microseconds.
void percentiles(std::vector<double> ns, Row& row) {
  std::sort(ns.begin(), ns.end());
  row.p50_us = ns[ns.size() / 2] / 1000;
  row.p99_us = ns[std::min(ns.size() - 1, ns.size() * 99 / 100)] / 1000;
}

// Waits on a promise with a generous deadline; a stall is a failed run.
void await(std::future<void>& f, const char* what) {
  if (f.wait_for(std::chrono::minutes(5)) != std::future_status::ready) fail(std::string(what) + ": stalled");
}

// ------------------------------------------------------------ raw asio

// A connected pair of blocking loopback sockets.
struct RawPair {
  asio::io_context io;
  tcp::socket client{io};
  tcp::socket server{io};
  RawPair() {
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::address_v4::loopback(), 0));
    client.connect(acceptor.local_endpoint());
    acceptor.accept(server);
    client.set_option(tcp::no_delay(true));
    server.set_option(tcp::no_delay(true));
  }
};

Row raw_ping_pong(std::int64_t n) {
  RawPair p;
  std::thread echo([&] {
    char buf[kSmall];
    for (std::int64_t i = 0; i < n; ++i) {
      asio::read(p.server, asio::buffer(buf));
      asio::write(p.server, asio::buffer(buf));
    }
  });
  char buf[kSmall] = {};
  std::vector<double> lat;
  lat.reserve(static_cast<std::size_t>(n));
  const auto t0 = Clock::now();
  for (std::int64_t i = 0; i < n; ++i) {
    const auto a = Clock::now();
    asio::write(p.client, asio::buffer(buf));
    asio::read(p.client, asio::buffer(buf));
    lat.push_back(std::chrono::duration<double, std::nano>(Clock::now() - a).count());
  }
  Row row{"raw asio ping-pong 64 B", n / seconds_since(t0), "rt/s"};
  echo.join();
  percentiles(std::move(lat), row);
  return row;
}

Row raw_pipelined(std::int64_t n) {
  RawPair p;
  const std::size_t total = static_cast<std::size_t>(n) * kSmall;
  std::thread echo([&] {
    std::vector<char> buf(64 * 1024);
    std::size_t done = 0;
    while (done < total) {
      const std::size_t got = p.server.read_some(asio::buffer(buf));
      asio::write(p.server, asio::buffer(buf.data(), got));
      done += got;
    }
  });
  const auto t0 = Clock::now();
  std::thread writer([&] {
    std::vector<char> batch(1024 * kSmall, 'm');  // 1024 messages per write
    std::size_t sent = 0;
    while (sent < total) {
      const std::size_t k = std::min(batch.size(), total - sent);
      asio::write(p.client, asio::buffer(batch.data(), k));
      sent += k;
    }
  });
  std::vector<char> buf(64 * 1024);
  std::size_t back = 0;
  while (back < total) back += p.client.read_some(asio::buffer(buf));
  const double s = seconds_since(t0);
  writer.join();
  echo.join();
  return {"raw asio pipelined 64 B", n / s, "msg/s"};
}

Row raw_bandwidth(std::int64_t frames) {
  RawPair p;
  const std::size_t total = static_cast<std::size_t>(frames) * kLarge;
  std::thread sink([&] {
    std::vector<char> buf(kLarge);
    std::size_t done = 0;
    while (done < total) done += p.server.read_some(asio::buffer(buf));
    char ack = 1;
    asio::write(p.server, asio::buffer(&ack, 1));
  });
  std::vector<char> block(kLarge, 'L');
  const auto t0 = Clock::now();
  for (std::int64_t i = 0; i < frames; ++i) asio::write(p.client, asio::buffer(block));
  char ack = 0;
  asio::read(p.client, asio::buffer(&ack, 1));
  const double s = seconds_since(t0);
  sink.join();
  return {"raw tcp 1 MiB writes", static_cast<double>(total) / s / (1 << 20), "MiB/s"};
}

// ------------------------------------------------------------ keel tcp

keel::wire::TransportOptions keel_options(const char* node) {
  keel::wire::TransportOptions o;
  o.secret = "bench secret";
  o.node_name = node;
  o.max_send_queue_bytes = 8u << 20;  // back-pressure keeps the 1 MiB frames in a few buffers
  o.log = [](std::string_view) {};  // teardown closes are expected
  return o;
}

// Echoes calls as replies; counts large frames and acks the last one.
struct KeelServer {
  std::unique_ptr<keel::wire::TcpTransport> transport;
  std::unique_ptr<keel::wire::TcpListener> listener;
  std::int64_t large_expected = 0;
  std::int64_t large_seen = 0;  // server I/O thread only

  KeelServer() {
    transport = keel::wire::TcpTransport::create(keel_options("server")).value();
    ConnectionCallbacks cb;
    cb.on_frame = [this](Connection& c, const Frame& f) {
      if (f.type == MessageType::kCall) {
        if (f.body.size() >= kLarge) {
          // Read the body where it lies (no copy), as a journal append would.
          volatile char touch = f.body[f.body.size() / 2];
          (void)touch;
          if (++large_seen == large_expected) check(c.send(MessageType::kReply, "ack"), "ack");
          return;
        }
        Status s = c.send(MessageType::kReply, f.body);
        if (!s.is_ok()) fail("echo: " + s.to_string());
      }
    };
    listener = transport->listen("127.0.0.1", 0, cb).value();
  }
  ~KeelServer() { listener.reset(); }
};

// A client whose on_frame calls `on_reply`; returns once it is open.
std::unique_ptr<keel::wire::TcpClient> open_client(keel::wire::TcpTransport& t, std::uint16_t port,
                                                   std::function<void(Connection&, const Frame&)> on_reply,
                                                   std::function<void(Connection&)> on_writable = {}) {
  std::promise<void> opened;
  std::future<void> f = opened.get_future();
  ConnectionCallbacks cb;
  cb.on_open = [&opened](Connection&) { opened.set_value(); };
  cb.on_frame = std::move(on_reply);
  cb.on_writable = std::move(on_writable);
  cb.on_connect_error = [](const Status& s) { fail("connect: " + s.to_string()); };
  auto client = t.connect("127.0.0.1", port, cb);
  await(f, "connect");
  return client;
}

Row keel_round_trip(KeelServer& server, keel::wire::TcpTransport& t, std::int64_t n) {
  std::vector<double> lat;
  lat.reserve(static_cast<std::size_t>(n));
  std::promise<void> done;
  std::future<void> finished = done.get_future();
  const std::string body(kSmall, 'r');
  Clock::time_point sent_at;
  std::int64_t count = 0;  // client I/O thread after the first send
  auto client = open_client(t, server.listener->port(), [&](Connection& c, const Frame&) {
    const auto now = Clock::now();
    lat.push_back(std::chrono::duration<double, std::nano>(now - sent_at).count());
    if (++count == n) return done.set_value();
    sent_at = Clock::now();
    check(c.send(MessageType::kCall, body), "send");
  });
  const auto t0 = Clock::now();
  sent_at = Clock::now();
  check(client->send(MessageType::kCall, body), "send");
  await(finished, "round trips");
  Row row{"keel tcp round trip 64 B", n / seconds_since(t0), "rt/s"};
  percentiles(std::move(lat), row);
  return row;
}

Row keel_pipelined(KeelServer& server, keel::wire::TcpTransport& t, std::int64_t n, std::int64_t window,
                   int connections) {
  std::promise<void> done;
  std::future<void> finished = done.get_future();
  std::atomic<std::int64_t> replies{0};  // relaxed: the last one sets the promise
  std::atomic<std::int64_t> issued{0};   // relaxed: a ticket counter
  const std::string body(kSmall, 'p');
  auto on_reply = [&](Connection& c, const Frame&) {
    if (issued.fetch_add(1, std::memory_order_relaxed) < n) check(c.send(MessageType::kCall, body), "send");
    if (replies.fetch_add(1, std::memory_order_relaxed) + 1 == n) done.set_value();
  };
  std::vector<std::unique_ptr<keel::wire::TcpClient>> clients;
  for (int i = 0; i < connections; ++i) clients.push_back(open_client(t, server.listener->port(), on_reply));
  const auto t0 = Clock::now();
  for (std::int64_t i = 0; i < window; ++i) {
    if (issued.fetch_add(1, std::memory_order_relaxed) >= n) break;
    check(clients[static_cast<std::size_t>(i) % clients.size()]->send(MessageType::kCall, body), "send");
  }
  await(finished, "pipelined");
  const double s = seconds_since(t0);
  return {"keel tcp pipelined 64 B, " + std::to_string(connections) + " conn", n / s, "msg/s"};
}

Row keel_bandwidth(KeelServer& server, keel::wire::TcpTransport& t, std::int64_t frames, bool shared) {
  std::promise<void> acked;
  std::future<void> finished = acked.get_future();
  std::mutex mu;
  std::condition_variable cv;
  bool writable = false;
  auto client = open_client(
      t, server.listener->port(), [&](Connection&, const Frame&) { acked.set_value(); },
      [&](Connection&) {
        std::lock_guard<std::mutex> l(mu);
        writable = true;
        cv.notify_all();
      });
  server.large_seen = 0;  // the server is idle between workloads
  server.large_expected = frames;
  const auto block = std::make_shared<const std::string>(kLarge, 'L');
  const auto t0 = Clock::now();
  for (std::int64_t i = 0; i < frames; ++i) {
    while (true) {
      Status s = shared ? client->send_shared(MessageType::kCall, block) : client->send(MessageType::kCall, *block);
      if (s.is_ok()) break;
      if (s.code() != keel::StatusCode::kOverloaded) fail("send: " + s.to_string());
      std::unique_lock<std::mutex> l(mu);
      cv.wait_for(l, std::chrono::milliseconds(50), [&] { return writable; });
      writable = false;
    }
  }
  await(finished, "bandwidth");
  const double s = seconds_since(t0);
  return {shared ? "keel tcp 1 MiB frames, send_shared" : "keel tcp 1 MiB frames, send (copy)",
          static_cast<double>(frames) * kLarge / s / (1 << 20), "MiB/s"};
}

// ------------------------------------------------------------ keel shm

// Forks a child that echoes calls and counts one-way frames (kHeartbeat),
// answering the last with a reply. Returns its pid.
pid_t fork_shm_child(keel::wire::ShmRegion& region, std::int64_t one_way, std::chrono::microseconds spin) {
  const pid_t pid = fork();
  if (pid != 0) return pid;
  std::promise<void> closed;
  std::future<void> f = closed.get_future();
  std::int64_t seen = 0;  // child reader thread only
  ConnectionCallbacks cb;
  cb.on_frame = [&](Connection& c, const Frame& fr) {
    if (fr.type == MessageType::kCall) {
      c.send(MessageType::kReply, fr.body).ignore();
    } else if (++seen == one_way) {
      c.send(MessageType::kReply, "done").ignore();
    }
  };
  cb.on_close = [&](Connection&, const Status&) { closed.set_value(); };
  keel::wire::ShmOptions options;
  options.log = [](std::string_view) {};
  options.wait.spin = spin;
  auto b = keel::wire::ShmConnection::start(region, keel::wire::ShmSide::kB, cb, options);
  if (!b.has_value()) _exit(2);
  f.wait();
  _exit(0);
}

// Both sides' readers spin for `spin` before they sleep (ShmWaitOptions);
// the rows' names say so when it is not zero.
std::vector<Row> keel_shm(const Sizes& sizes, std::chrono::microseconds spin) {
  const std::string suffix = spin.count() > 0 ? ", spin " + std::to_string(spin.count()) + " us" : "";
  auto region = keel::wire::ShmRegion::create(4 << 20).value();
  const pid_t child = fork_shm_child(*region, sizes.shm_one_way, spin);
  std::vector<double> lat;
  lat.reserve(static_cast<std::size_t>(sizes.shm_round_trips));
  std::promise<void> rt_done, ow_done;
  std::future<void> rt_finished = rt_done.get_future(), ow_finished = ow_done.get_future();
  const std::string body(kSmall, 's');
  Clock::time_point sent_at;
  std::int64_t count = 0;  // reader thread
  std::atomic<bool> one_way_phase{false};  // relaxed would do: the reader is idle when it flips
  ConnectionCallbacks cb;
  cb.on_frame = [&](Connection& c, const Frame&) {
    if (one_way_phase) return ow_done.set_value();
    lat.push_back(std::chrono::duration<double, std::nano>(Clock::now() - sent_at).count());
    if (++count == sizes.shm_round_trips) return rt_done.set_value();
    sent_at = Clock::now();
    check(c.send(MessageType::kCall, body), "shm send");
  };
  keel::wire::ShmOptions options;
  options.wait.spin = spin;
  auto a = keel::wire::ShmConnection::start(*region, keel::wire::ShmSide::kA, cb, options).value();
  auto t0 = Clock::now();
  sent_at = Clock::now();
  check(a->send(MessageType::kCall, body), "shm send");
  await(rt_finished, "shm round trips");
  Row rt{"keel shm round trip 64 B" + suffix, sizes.shm_round_trips / seconds_since(t0), "rt/s"};
  percentiles(std::move(lat), rt);

  one_way_phase = true;  // the reader is idle: the round trips are done
  t0 = Clock::now();
  for (std::int64_t i = 0; i < sizes.shm_one_way; ++i) {
    Status s;
    do {
      s = a->send(MessageType::kHeartbeat, body);
    } while (s.code() == keel::StatusCode::kOverloaded);
    check(s, "shm one-way send");
  }
  await(ow_finished, "shm one-way");
  Row ow{"keel shm one-way 64 B" + suffix, sizes.shm_one_way / seconds_since(t0), "msg/s"};
  a.reset();
  int status = 0;
  waitpid(child, &status, 0);
  return {rt, ow};
}

std::string fmt(double v) {
  char buf[32];
  if (v >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.2fM", v / 1e6);
  } else if (v >= 1e3) {
    std::snprintf(buf, sizeof buf, "%.1fk", v / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  }
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false, json = false;
  std::string only;  // one group of workloads, for profiling; the ratios need the whole run
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--quick") {
      quick = true;
    } else if (arg == "--json") {
      json = true;
    } else if (arg == "--only" && i + 1 < argc) {
      only = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--json] [--only rtt|pipelined|bandwidth|shm]\n", argv[0]);
      return 2;
    }
  }
  const Sizes sizes = quick ? Sizes::quick() : Sizes{};
  auto want = [&](const char* group) { return only.empty() || only == group; };
  // name -> the samples of every repetition, in first-seen order.
  std::vector<std::pair<std::string, std::vector<Row>>> samples;
  auto add = [&](Row r) {
    for (auto& [name, v] : samples) {
      if (name == r.name) return v.push_back(std::move(r));
    }
    std::string key = r.name;  // before r is moved from
    samples.emplace_back(std::move(key), std::vector<Row>{std::move(r)});
  };
  for (int rep = 0; rep < sizes.repetitions; ++rep) {
    // Shared memory first: the child is forked while this process has no
    // other threads (the TCP transports of the last repetition are gone).
    if (want("shm")) {
      for (Row& r : keel_shm(sizes, std::chrono::microseconds(0))) add(std::move(r));
      for (Row& r : keel_shm(sizes, kShmSpin)) add(std::move(r));
    }
    KeelServer server;
    auto client_transport = keel::wire::TcpTransport::create(keel_options("client")).value();
    if (want("rtt") || want("shm")) {
      add(raw_ping_pong(sizes.round_trips));
      add(keel_round_trip(server, *client_transport, sizes.round_trips));
    }
    if (want("pipelined")) {
      add(raw_pipelined(sizes.pipelined));
      add(keel_pipelined(server, *client_transport, sizes.pipelined, sizes.window, 1));
      add(keel_pipelined(server, *client_transport, sizes.pipelined, sizes.window, 4));
    }
    if (want("bandwidth")) {
      add(raw_bandwidth(sizes.large_frames));
      add(keel_bandwidth(server, *client_transport, sizes.large_frames, false));
      add(keel_bandwidth(server, *client_transport, sizes.large_frames, true));
    }
  }
  std::vector<Row> rows;
  for (auto& [name, v] : samples) {
    std::sort(v.begin(), v.end(), [](const Row& a, const Row& b) { return a.ops < b.ops; });
    rows.push_back(v[v.size() / 2]);
  }

  auto find = [&](const std::string& prefix) -> const Row* {
    for (const Row& r : rows) {
      if (r.name.rfind(prefix, 0) == 0) return &r;
    }
    return nullptr;
  };
  const Row* raw_bw = find("raw tcp 1 MiB");
  const Row* keel_bw = find("keel tcp 1 MiB frames, send_shared");
  const Row* keel_bw_copy = find("keel tcp 1 MiB frames, send (copy)");
  const Row* tcp_rt = find("keel tcp round trip");
  const Row* shm_rt = find("keel shm round trip 64 B");
  const Row* shm_spin_rt = find("keel shm round trip 64 B, spin");
  const double bw_ratio = raw_bw && keel_bw ? keel_bw->ops / raw_bw->ops : 0;
  const double bw_copy_ratio = raw_bw && keel_bw_copy ? keel_bw_copy->ops / raw_bw->ops : 0;
  // find() takes the first row with the prefix: the one without a spin.
  const double shm_speedup = tcp_rt && shm_rt ? tcp_rt->p50_us / shm_rt->p50_us : 0;
  const double shm_spin_speedup = tcp_rt && shm_spin_rt ? tcp_rt->p50_us / shm_spin_rt->p50_us : 0;
  if (json) {
    std::printf("{\"quick\":%s,\"results\":[", quick ? "true" : "false");
    for (std::size_t i = 0; i < rows.size(); ++i) {
      std::printf("%s{\"name\":\"%s\",\"rate\":%.0f,\"unit\":\"%s\",\"p50_us\":%.2f,\"p99_us\":%.2f}",
                  i ? "," : "", rows[i].name.c_str(), rows[i].ops, rows[i].unit.c_str(), rows[i].p50_us,
                  rows[i].p99_us);
    }
    std::printf("],\"bandwidth_vs_raw\":%.3f,\"bandwidth_copy_vs_raw\":%.3f,\"shm_vs_tcp_rtt\":%.2f,\"shm_spin_vs_tcp_rtt\":%.2f}\n",
                bw_ratio, bw_copy_ratio, shm_speedup, shm_spin_speedup);
    return 0;
  }
  std::printf("keel_net_bench%s: loopback, bodies of %zu bytes unless named; median of %d repetitions\n",
              quick ? " --quick" : "", kSmall, sizes.repetitions);
  std::printf("%-36s %12s %6s %10s %10s\n", "workload", "rate", "unit", "p50 us", "p99 us");
  for (const Row& r : rows) {
    std::printf("%-36s %12s %6s", r.name.c_str(), fmt(r.ops).c_str(), r.unit.c_str());
    if (r.p50_us >= 0) {
      std::printf(" %10.1f %10.1f\n", r.p50_us, r.p99_us);
    } else {
      std::printf(" %10s %10s\n", "-", "-");
    }
  }
  if (bw_ratio > 0) {
    std::printf("keel 1 MiB frames / raw tcp bandwidth: %.0f%% with send_shared, %.0f%% with send\n",
                100 * bw_ratio, 100 * bw_copy_ratio);
  }
  if (shm_speedup > 0) {
    std::printf("shm round trip p50 vs keel tcp p50: %.1fx faster; %.1fx with the spin\n", shm_speedup,
                shm_spin_speedup);
  }
  return 0;
}
