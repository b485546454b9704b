// remote_rows.h: what the benchmarks of remote calls share: the actors
// they call, a row of figures, timing each run of an operation, raw asio
// ping-pong of a given size (directly, or through a relay thread: the hops
// of a call through an agent) and the frame size of a small remote call.
// Header-only; each benchmark executable includes it once.
#pragma once

#include <asio.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "frame.h"
#include "keel/agent/worker_host.h"
#include "keel/engine/actor.h"
#include "keel/engine/durable.h"
#include "keel/wire/envelope.h"
#include "keel/wire/value.h"

namespace keel_bench {

// The actors the remote benchmarks call: a plain one answering at once, a
// durable one (each add commits), and a durable one that sends by key.
class BenchCounter : public keel::Actor {
 public:
  int get() const { return value_; }
  static constexpr auto kHandlers = keel::handlers(keel::handler<&BenchCounter::get>("get"));

 private:
  int value_ = 42;
};

struct Level {
  std::int64_t value = 0;
  static constexpr auto kFields = keel::fields(keel::field<&Level::value>("value"));
};
class BenchTally : public keel::DurableActor<Level> {
 public:
  std::int64_t get() const { return state().value; }
  std::int64_t add(std::int64_t n) { return state().value += n; }
  static constexpr auto kHandlers =
      keel::handlers(keel::handler<&BenchTally::get>("get"), keel::handler<&BenchTally::add>("add"));
};

// A durable actor that sends an add by key (its outbox) to a BenchTally,
// wherever it lives.
class BenchRelay : public keel::DurableActor<Level> {
 public:
  keel::Result<std::int64_t> relay(std::string to, std::int64_t n) {
    KEEL_RETURN_IF_ERROR(send_to<&BenchTally::add>(to, n));
    return ++state().value;
  }
  static constexpr auto kHandlers = keel::handlers(keel::handler<&BenchRelay::relay>("relay"));
};

// When this benchmark was started by a keel-agent as its worker
// (--keel-agent among the arguments), hosts the actors above until the
// agent goes and returns the exit code; nullopt otherwise.
inline std::optional<int> run_as_worker(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--keel-agent") {
      keel::WorkerHost host;
      host.register_type<BenchCounter>("BenchCounter");
      host.register_type<BenchTally>("BenchTally");
      host.register_type<BenchRelay>("BenchRelay");
      return host.run(argc, argv);
    }
  }
  return std::nullopt;
}

using RemoteClock = std::chrono::steady_clock;

struct Row {
  std::string name;
  double ops = 0;  // per second
  double p50_us = 0;
  double p99_us = 0;
};

// Times each of `n` runs of `op`; the row's rate is n over their sum.
template <class Op>
inline Row measure(std::string name, int n, Op&& op) {
  std::vector<double> ns;
  ns.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    const auto a = RemoteClock::now();
    op(i);
    ns.push_back(std::chrono::duration<double, std::nano>(RemoteClock::now() - a).count());
  }
  double total = 0;
  for (double v : ns) total += v;
  std::sort(ns.begin(), ns.end());
  return Row{std::move(name), n / (total / 1e9), ns[ns.size() / 2] / 1000,
             ns[std::min(ns.size() - 1, ns.size() * 99 / 100)] / 1000};
}

// Blocking loopback sockets: client <-> (relay <->) echo, `bytes` each way.
inline Row raw_ping_pong(const std::string& name, int n, std::size_t bytes, bool relay) {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, asio::ip::tcp::endpoint(asio::ip::address_v4::loopback(), 0));
  auto pair = [&](asio::ip::tcp::socket& a, asio::ip::tcp::socket& b) {
    a.connect(acceptor.local_endpoint());
    acceptor.accept(b);
    a.set_option(asio::ip::tcp::no_delay(true));
    b.set_option(asio::ip::tcp::no_delay(true));
  };
  asio::ip::tcp::socket client(io), hop_in(io), hop_out(io), echo(io);
  pair(client, hop_in);
  if (relay) pair(hop_out, echo);
  asio::ip::tcp::socket& server = relay ? echo : hop_in;
  std::thread echo_thread([&] {
    std::vector<char> buf(bytes);
    for (int i = 0; i < n; ++i) {
      asio::read(server, asio::buffer(buf));
      asio::write(server, asio::buffer(buf));
    }
  });
  std::thread relay_thread;
  if (relay) {
    relay_thread = std::thread([&] {
      std::vector<char> buf(bytes);
      for (int i = 0; i < n; ++i) {
        asio::read(hop_in, asio::buffer(buf));
        asio::write(hop_out, asio::buffer(buf));
        asio::read(hop_out, asio::buffer(buf));
        asio::write(hop_in, asio::buffer(buf));
      }
    });
  }
  std::vector<char> buf(bytes, 'x');
  Row row = measure(name, n, [&](int) {
    asio::write(client, asio::buffer(buf));
    asio::read(client, asio::buffer(buf));
  });
  echo_thread.join();
  if (relay_thread.joinable()) relay_thread.join();
  return row;
}

// The frame bytes of one remote call of a no-argument handler "get" of
// actor "c-0", as sent.
inline std::size_t call_frame_bytes() {
  keel::wire::Envelope e;
  e.id = {1, 1};
  e.target.key = "c-0";
  e.method = "get";
  e.payload = keel::wire::encode_args();
  e.reply_to.emplace();
  e.reply_to->correlation_id = 1;
  e.deadline_ns = 1;
  return keel::wire::frame_wire_bytes(keel::wire::encode_envelope(e).value().size());
}

}  // namespace keel_bench
