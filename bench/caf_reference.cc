// The benchmark workloads on CAF 0.17 (Debian 12's libcaf-dev), as a
// reference in the same run and table. Built only when CAF 0.17 is found.
// CAF's defaults are kept (work-stealing scheduler) except for 2 worker
// threads. CAF 0.17 has no bounded mailbox, so its "threads" fan-in is
// unbounded.
#include <caf/all.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "workloads.h"

namespace keel_bench {

namespace {
using Clock = std::chrono::steady_clock;

using ping_atom = caf::atom_constant<caf::atom("ping")>;
using put_atom = caf::atom_constant<caf::atom("put")>;
using run_atom = caf::atom_constant<caf::atom("run")>;
using hello_atom = caf::atom_constant<caf::atom("hello")>;
using reply_atom = caf::atom_constant<caf::atom("reply")>;
using echo_atom = caf::atom_constant<caf::atom("echo")>;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct Config : caf::actor_system_config {
  Config() { set("scheduler.max-threads", kWorkerThreads); }
};

Sample measured(double seconds, double ops, double start_rss) {
  Sample s;
  s.ok = true;
  s.seconds = seconds;
  s.ops = ops;
  s.start_rss = start_rss;
  s.peak_rss = peak_rss_bytes();
  return s;
}

// ---- ping-pong ---------------------------------------------------------------

caf::behavior ping_ponger(caf::event_based_actor* self, std::promise<void>* done) {
  return {[=](ping_atom, std::int64_t left) {
    if (left == 0) {
      done->set_value();
      return;
    }
    self->send(caf::actor_cast<caf::actor>(self->current_sender()), ping_atom::value, left - 1);
  }};
}

Sample caf_ping_pong(const Sizes& sizes) {
  const double rss0 = rss_bytes();
  Config cfg;
  std::promise<void> done;
  auto finished = done.get_future();
  caf::actor_system system{cfg};
  auto a = system.spawn(ping_ponger, &done);
  auto b = system.spawn(ping_ponger, &done);
  const std::int64_t n = sizes.ping_pong_round_trips;
  const auto t0 = Clock::now();
  caf::send_as(b, a, ping_atom::value, 2 * n);
  finished.wait();
  Sample s = measured(since(t0), static_cast<double>(n), rss0);
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(b, caf::exit_reason::user_shutdown);
  return s;
}

// ---- fan-in --------------------------------------------------------------------

caf::behavior sink(caf::event_based_actor*, std::int64_t expected, std::promise<void>* done) {
  auto count = std::make_shared<std::int64_t>(0);
  return {[=](put_atom, std::int64_t) {
    if (++*count == expected) done->set_value();
  }};
}

Sample caf_fan_in_threads(const Sizes& sizes) {
  const double rss0 = rss_bytes();
  const int senders = sizes.fan_in_senders;
  const std::int64_t per = sizes.fan_in_messages / senders;
  Config cfg;
  std::promise<void> done;
  auto finished = done.get_future();
  caf::actor_system system{cfg};
  auto receiver = system.spawn(sink, per * senders, &done);
  std::latch go(senders + 1);
  std::vector<std::thread> threads;
  for (int i = 0; i < senders; ++i) {
    threads.emplace_back([&] {
      go.arrive_and_wait();
      for (std::int64_t k = 0; k < per; ++k) caf::anon_send(receiver, put_atom::value, std::int64_t{1});
    });
  }
  go.arrive_and_wait();
  const auto t0 = Clock::now();
  for (auto& t : threads) t.join();
  finished.wait();
  Sample s = measured(since(t0), static_cast<double>(per * senders), rss0);
  caf::anon_send_exit(receiver, caf::exit_reason::user_shutdown);
  return s;
}

caf::behavior source(caf::event_based_actor* self, caf::actor to, std::int64_t count, int chunk) {
  auto left = std::make_shared<std::int64_t>(count);
  return {[=](run_atom) {
    const std::int64_t n = std::min<std::int64_t>(chunk, *left);
    for (std::int64_t i = 0; i < n; ++i) self->send(to, put_atom::value, std::int64_t{1});
    *left -= n;
    if (*left > 0) {
      self->send(self, run_atom::value);
    } else {
      self->quit();
    }
  }};
}

Sample caf_fan_in_actors(const Sizes& sizes) {
  const double rss0 = rss_bytes();
  const int senders = sizes.fan_in_senders;
  const std::int64_t per = sizes.fan_in_messages / senders;
  Config cfg;
  std::promise<void> done;
  auto finished = done.get_future();
  caf::actor_system system{cfg};
  auto receiver = system.spawn(sink, per * senders, &done);
  std::vector<caf::actor> sources;
  for (int i = 0; i < senders; ++i) sources.push_back(system.spawn(source, receiver, per, sizes.fan_in_chunk));
  const auto t0 = Clock::now();
  for (auto& s : sources) caf::anon_send(s, run_atom::value);
  finished.wait();
  Sample s = measured(since(t0), static_cast<double>(per * senders), rss0);
  caf::anon_send_exit(receiver, caf::exit_reason::user_shutdown);
  return s;
}

// ---- spawn ---------------------------------------------------------------------

caf::behavior collector(caf::event_based_actor*, std::int64_t expected, std::promise<void>* done) {
  auto count = std::make_shared<std::int64_t>(0);
  return {[=](reply_atom) {
    if (++*count == expected) done->set_value();
  }};
}

caf::behavior spawned(caf::event_based_actor* self) {
  return {[=](hello_atom, const caf::actor& to) { self->send(to, reply_atom::value); }};
}

caf::behavior spawner(caf::event_based_actor* self) {
  return {[=](run_atom, std::int64_t n, const caf::actor& to) {
    for (std::int64_t i = 0; i < n; ++i) self->send(self->spawn(spawned), hello_atom::value, to);
  }};
}

// Spawns and sends from an actor (from_actor) or from this thread. The
// handles are dropped at once, the idiomatic CAF way: an actor is freed when
// it has handled its message. (Keeping all 100k handles alive made CAF
// 10-25x slower here, so that setup would not be a fair reference.)
Sample caf_spawn(const Sizes& sizes, bool from_actor) {
  const auto all0 = Clock::now();
  const double rss0 = rss_bytes();
  const std::int64_t n = sizes.spawn_actors;
  Sample s;
  {
    Config cfg;
    std::promise<void> done;
    auto finished = done.get_future();
    caf::actor_system system{cfg};
    auto coll = system.spawn(collector, n, &done);
    auto spawn_actor = system.spawn(spawner);
    const auto t0 = Clock::now();
    if (from_actor) {
      caf::anon_send(spawn_actor, run_atom::value, n, coll);
    } else {
      for (std::int64_t i = 0; i < n; ++i) caf::anon_send(system.spawn(spawned), hello_atom::value, coll);
    }
    finished.wait();
    s = measured(since(t0), static_cast<double>(n), rss0);
    caf::anon_send_exit(coll, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(spawn_actor, caf::exit_reason::user_shutdown);
  }
  s.extra = since(all0) - s.seconds;
  return s;
}

Sample caf_spawn_from_actor(const Sizes& sizes) { return caf_spawn(sizes, true); }
Sample caf_spawn_from_thread(const Sizes& sizes) { return caf_spawn(sizes, false); }

// ---- request/response ---------------------------------------------------------------

caf::behavior server(caf::event_based_actor*) {
  return {[](echo_atom, std::int64_t x) { return x + 1; }};
}

struct AskerState {
  std::int64_t i = 0;
};

void ask_next(caf::stateful_actor<AskerState>* self, caf::actor srv, std::int64_t n, std::promise<void>* done) {
  self->request(srv, caf::infinite, echo_atom::value, self->state.i)
      .then([=](std::int64_t r) {
        if (r != self->state.i + 1) {
          done->set_exception(std::make_exception_ptr(std::runtime_error("wrong reply")));
          return;
        }
        if (++self->state.i == n) {
          done->set_value();
        } else {
          ask_next(self, srv, n, done);
        }
      });
}

caf::behavior asker(caf::stateful_actor<AskerState>* self, caf::actor srv, std::int64_t n,
                    std::promise<void>* done) {
  return {[=](run_atom) { ask_next(self, srv, n, done); }};
}

Sample caf_asks(const Sizes& sizes) {
  const double rss0 = rss_bytes();
  Config cfg;
  std::promise<void> done;
  auto finished = done.get_future();
  caf::actor_system system{cfg};
  auto srv = system.spawn(server);
  auto a = system.spawn(asker, srv, sizes.asks, &done);
  const auto t0 = Clock::now();
  caf::anon_send(a, run_atom::value);
  finished.get();
  Sample s = measured(since(t0), static_cast<double>(sizes.asks), rss0);
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(srv, caf::exit_reason::user_shutdown);
  return s;
}

Sample caf_external_asks(const Sizes& sizes) {
  const double rss0 = rss_bytes();
  Config cfg;
  caf::actor_system system{cfg};
  auto srv = system.spawn(server);
  std::int64_t wrong = 0;
  Sample s;
  {
    caf::scoped_actor self{system};
    const auto t0 = Clock::now();
    for (std::int64_t i = 0; i < sizes.external_asks; ++i) {
      self->request(srv, caf::infinite, echo_atom::value, i)
          .receive([&](std::int64_t r) { wrong += r != i + 1; }, [&](caf::error&) { ++wrong; });
    }
    s = measured(since(t0), static_cast<double>(sizes.external_asks), rss0);
  }
  caf::anon_send_exit(srv, caf::exit_reason::user_shutdown);
  if (wrong != 0) return Sample::failure(std::to_string(wrong) + " asks failed");
  return s;
}

// ---- start-up ------------------------------------------------------------------------

caf::behavior first(caf::event_based_actor* self, std::promise<Clock::time_point>* at) {
  return {[=](run_atom) {
    at->set_value(Clock::now());
    self->quit();
  }};
}

Sample caf_startup(const Sizes& sizes) {
  const double rss0 = rss_bytes();
  std::vector<double> times;
  for (int i = 0; i < sizes.startup_repetitions; ++i) {
    std::promise<Clock::time_point> at;
    auto handled = at.get_future();
    const auto t0 = Clock::now();
    Config cfg;
    caf::actor_system system{cfg};
    caf::anon_send(system.spawn(first, &at), run_atom::value);
    times.push_back(std::chrono::duration<double>(handled.get() - t0).count());
  }
  return measured(median(times), 1, rss0);
}
}  // namespace

WorkloadSet caf_workloads() {
  WorkloadSet w;
  w.ping_pong = caf_ping_pong;
  w.fan_in_threads = caf_fan_in_threads;
  w.fan_in_actors = caf_fan_in_actors;
  w.spawn = caf_spawn_from_actor;
  w.spawn_external = caf_spawn_from_thread;
  w.asks = caf_asks;
  w.external_asks = caf_external_asks;
  w.startup = caf_startup;
  return w;
}

const char* caf_version() {
  static const std::string v = "CAF " + std::to_string(CAF_MAJOR_VERSION) + "." +
                               std::to_string(CAF_MINOR_VERSION) + "." + std::to_string(CAF_PATCH_VERSION);
  return v.c_str();
}

}  // namespace keel_bench
