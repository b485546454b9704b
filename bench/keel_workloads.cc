// The benchmark workloads on Keel (see workloads.h for what each measures).
#include <keel/engine/engine.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "workloads.h"

namespace keel_bench {

namespace {
using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

keel::SystemConfig bench_config() {
  keel::SystemConfig cfg;
  cfg.threads = kWorkerThreads;
  return cfg;
}

Sample measured(double seconds, double ops, double start_rss) {
  Sample s;
  s.ok = true;
  s.seconds = seconds;
  s.ops = ops;
  s.start_rss = start_rss;
  s.peak_rss = peak_rss_bytes();
  return s;
}

// Fails the sample when the run produced dead letters (a lost message
// would make the figure meaningless).
Sample checked(Sample s, keel::System& system) {
  const auto dead = system.dead_letters().total();
  if (dead != 0) return Sample::failure(std::to_string(dead) + " dead letters");
  return s;
}

Sample wait_failed(const keel::Status& st) { return Sample::failure("workload failed: " + st.to_string()); }

// Lifetimes: every object an actor points to (the `done` promises) is
// declared before the System, so it is destroyed after the System has joined
// its workers. The other order is a use-after-free: future.get() returns as
// soon as the value is published, while the worker is still inside
// Promise::set_value.

// ---- ping-pong ---------------------------------------------------------------

class PingPonger : public keel::Actor {
 public:
  keel::Status setup(keel::ActorRef<PingPonger> peer, keel::Promise<void>* done) {
    peer_ = std::move(peer);
    done_ = done;
    return keel::Status::ok();
  }
  void ping(std::int64_t left) {
    if (left == 0) {
      done_->set_value();
      return;
    }
    peer_.tell<&PingPonger::ping>(left - 1);
  }
  static constexpr auto kHandlers = keel::handlers(keel::handler<&PingPonger::setup>("setup"),
                                                   keel::handler<&PingPonger::ping>("ping"));

 private:
  keel::ActorRef<PingPonger> peer_;
  keel::Promise<void>* done_ = nullptr;
};

Sample keel_ping_pong(const Sizes& sizes) {
  const double rss0 = rss_bytes();
  keel::Promise<void> done;
  auto finished = done.future();
  keel::System system(bench_config());
  auto a = system.spawn<PingPonger>().value();
  auto b = system.spawn<PingPonger>().value();
  if (auto st = a.ask<&PingPonger::setup>(b, &done).get(); !st.is_ok()) return wait_failed(st);
  if (auto st = b.ask<&PingPonger::setup>(a, &done).get(); !st.is_ok()) return wait_failed(st);
  const std::int64_t n = sizes.ping_pong_round_trips;
  const auto t0 = Clock::now();
  a.tell<&PingPonger::ping>(2 * n);  // even: the last message (0) lands on a
  if (auto st = finished.get(); !st.is_ok()) return wait_failed(st);
  return checked(measured(since(t0), static_cast<double>(n), rss0), system);
}

// ---- fan-in --------------------------------------------------------------------

class Sink : public keel::Actor {
 public:
  Sink(std::int64_t expected, keel::Promise<void>* done) : expected_(expected), done_(done) {}
  void put(std::int64_t v) {
    sum_ += v;
    if (++count_ == expected_) done_->set_value();
  }
  static constexpr auto kHandlers = keel::handlers(keel::handler<&Sink::put>("put"));

 private:
  std::int64_t expected_;
  keel::Promise<void>* done_;
  std::int64_t count_ = 0;
  std::int64_t sum_ = 0;
};

Sample keel_fan_in_threads(const Sizes& sizes) {
  const double rss0 = rss_bytes();
  const int senders = sizes.fan_in_senders;
  const std::int64_t per = sizes.fan_in_messages / senders;
  keel::Promise<void> done;
  auto finished = done.future();
  keel::System system(bench_config());
  keel::SpawnOptions opts;
  opts.mailbox.capacity = sizes.fan_in_capacity;
  opts.mailbox.policy = keel::OverflowPolicy::kBlock;
  opts.mailbox.block_timeout = std::chrono::minutes(2);  // never time out: a drop would void the run
  auto sink = system.spawn_with<Sink>(opts, per * senders, &done).value();
  std::atomic<std::int64_t> refused{0};  // relaxed: read after join
  std::latch go(senders + 1);
  std::vector<std::thread> threads;
  for (int i = 0; i < senders; ++i) {
    threads.emplace_back([&] {
      go.arrive_and_wait();
      for (std::int64_t k = 0; k < per; ++k) {
        if (!sink.try_tell<&Sink::put>(keel::SendOptions{}, std::int64_t{1}).is_ok())
          refused.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  go.arrive_and_wait();
  const auto t0 = Clock::now();
  for (auto& t : threads) t.join();
  if (refused.load() != 0) return Sample::failure(std::to_string(refused.load()) + " sends refused");
  if (auto st = finished.get(); !st.is_ok()) return wait_failed(st);
  return checked(measured(since(t0), static_cast<double>(per * senders), rss0), system);
}

class Source : public keel::Actor {
 public:
  Source(keel::ActorRef<Sink> sink, std::int64_t count, int chunk)
      : sink_(std::move(sink)), left_(count), chunk_(chunk) {}
  void run() {
    const std::int64_t n = std::min<std::int64_t>(chunk_, left_);
    for (std::int64_t i = 0; i < n; ++i) sink_.tell<&Sink::put>(std::int64_t{1});
    left_ -= n;
    if (left_ > 0) self<Source>().tell<&Source::run>();
  }
  static constexpr auto kHandlers = keel::handlers(keel::handler<&Source::run>("run"));

 private:
  keel::ActorRef<Sink> sink_;
  std::int64_t left_;
  int chunk_;
};

Sample keel_fan_in_actors(const Sizes& sizes) {
  const double rss0 = rss_bytes();
  const int senders = sizes.fan_in_senders;
  const std::int64_t per = sizes.fan_in_messages / senders;
  keel::Promise<void> done;
  auto finished = done.future();
  keel::System system(bench_config());
  auto sink = system.spawn<Sink>(per * senders, &done).value();
  std::vector<keel::ActorRef<Source>> sources;
  for (int i = 0; i < senders; ++i) sources.push_back(system.spawn<Source>(sink, per, sizes.fan_in_chunk).value());
  const auto t0 = Clock::now();
  for (auto& s : sources) s.tell<&Source::run>();
  if (auto st = finished.get(); !st.is_ok()) return wait_failed(st);
  return checked(measured(since(t0), static_cast<double>(per * senders), rss0), system);
}

// ---- spawn ---------------------------------------------------------------------

class Collector : public keel::Actor {
 public:
  Collector(std::int64_t expected, keel::Promise<void>* done) : expected_(expected), done_(done) {}
  void reply() {
    if (++count_ == expected_) done_->set_value();
  }
  static constexpr auto kHandlers = keel::handlers(keel::handler<&Collector::reply>("reply"));

 private:
  std::int64_t expected_;
  keel::Promise<void>* done_;
  std::int64_t count_ = 0;
};

class Spawned : public keel::Actor {
 public:
  void hello(keel::ActorRef<Collector> collector) { collector.tell<&Collector::reply>(); }
  static constexpr auto kHandlers = keel::handlers(keel::handler<&Spawned::hello>("hello"));
};

class Spawner : public keel::Actor {
 public:
  keel::Status go(std::int64_t n, keel::ActorRef<Collector> collector) {
    for (std::int64_t i = 0; i < n; ++i) {
      auto r = spawn<Spawned>();
      if (!r) return r.status();
      r->tell<&Spawned::hello>(collector);
    }
    return keel::Status::ok();
  }
  static constexpr auto kHandlers = keel::handlers(keel::handler<&Spawner::go>("go"));
};

// Spawns and sends from an actor (from_actor) or from this thread; the
// System's destruction (stopping every actor) is reported in `extra`.
Sample keel_spawn(const Sizes& sizes, bool from_actor) {
  const auto all0 = Clock::now();
  const double rss0 = rss_bytes();
  const std::int64_t n = sizes.spawn_actors;
  Sample s;
  {
    keel::Promise<void> done;
    auto finished = done.future();
    keel::System system(bench_config());
    auto collector = system.spawn<Collector>(n, &done).value();
    auto spawner = system.spawn<Spawner>().value();
    const auto t0 = Clock::now();
    if (from_actor) {
      spawner.tell<&Spawner::go>(n, collector);
    } else {
      for (std::int64_t i = 0; i < n; ++i) {
        auto r = system.spawn<Spawned>();
        if (!r) return wait_failed(r.status());
        r->tell<&Spawned::hello>(collector);
      }
    }
    if (auto st = finished.get(); !st.is_ok()) return wait_failed(st);
    s = checked(measured(since(t0), static_cast<double>(n), rss0), system);
    if (!s.ok) return s;
  }
  s.extra = since(all0) - s.seconds;
  return s;
}

Sample keel_spawn_from_actor(const Sizes& sizes) { return keel_spawn(sizes, true); }
Sample keel_spawn_from_thread(const Sizes& sizes) { return keel_spawn(sizes, false); }

// ---- request/response ---------------------------------------------------------------

class Server : public keel::Actor {
 public:
  std::int64_t echo(std::int64_t x) { return x + 1; }
  static constexpr auto kHandlers = keel::handlers(keel::handler<&Server::echo>("echo"));
};

class Asker : public keel::Actor {
 public:
  Asker(keel::ActorRef<Server> server, std::int64_t n, keel::Promise<void>* done)
      : server_(std::move(server)), n_(n), done_(done) {}
  void start() { next(); }
  static constexpr auto kHandlers = keel::handlers(keel::handler<&Asker::start>("start"));

 private:
  void next() {
    continue_with(server_.ask<&Server::echo>(i_), [this](keel::Result<std::int64_t> r) {
      if (!r || *r != i_ + 1) {
        done_->set_error(r ? keel::Status::internal("wrong reply") : r.status());
        return;
      }
      if (++i_ == n_) {
        done_->set_value();
      } else {
        next();
      }
    });
  }
  keel::ActorRef<Server> server_;
  std::int64_t n_;
  keel::Promise<void>* done_;
  std::int64_t i_ = 0;
};

Sample keel_asks(const Sizes& sizes) {
  const double rss0 = rss_bytes();
  keel::Promise<void> done;
  auto finished = done.future();
  keel::System system(bench_config());
  auto server = system.spawn<Server>().value();
  auto asker = system.spawn<Asker>(server, sizes.asks, &done).value();
  const auto t0 = Clock::now();
  asker.tell<&Asker::start>();
  if (auto st = finished.get(); !st.is_ok()) return wait_failed(st);
  return checked(measured(since(t0), static_cast<double>(sizes.asks), rss0), system);
}

Sample keel_external_asks(const Sizes& sizes) {
  const double rss0 = rss_bytes();
  keel::System system(bench_config());
  auto server = system.spawn<Server>().value();
  const auto t0 = Clock::now();
  for (std::int64_t i = 0; i < sizes.external_asks; ++i) {
    auto r = server.ask<&Server::echo>(i).get();
    if (!r || *r != i + 1) return Sample::failure("ask " + std::to_string(i) + " failed");
  }
  return checked(measured(since(t0), static_cast<double>(sizes.external_asks), rss0), system);
}

// ---- start-up ------------------------------------------------------------------------

class First : public keel::Actor {
 public:
  void hit(keel::Promise<Clock::time_point>* at) { at->set_value(Clock::now()); }
  static constexpr auto kHandlers = keel::handlers(keel::handler<&First::hit>("hit"));
};

Sample keel_startup(const Sizes& sizes) {
  const double rss0 = rss_bytes();
  std::vector<double> times;
  for (int i = 0; i < sizes.startup_repetitions; ++i) {
    keel::Promise<Clock::time_point> at;
    auto handled = at.future();
    const auto t0 = Clock::now();
    keel::System system(bench_config());
    auto first = system.spawn<First>().value();
    first.tell<&First::hit>(&at);
    auto t1 = handled.get();
    if (!t1) return wait_failed(t1.status());
    times.push_back(std::chrono::duration<double>(*t1 - t0).count());
  }
  return measured(median(times), 1, rss0);
}
}  // namespace

WorkloadSet keel_workloads() {
  WorkloadSet w;
  w.ping_pong = keel_ping_pong;
  w.fan_in_threads = keel_fan_in_threads;
  w.fan_in_actors = keel_fan_in_actors;
  w.spawn = keel_spawn_from_actor;
  w.spawn_external = keel_spawn_from_thread;
  w.asks = keel_asks;
  w.external_asks = keel_external_asks;
  w.startup = keel_startup;
  return w;
}

}  // namespace keel_bench
