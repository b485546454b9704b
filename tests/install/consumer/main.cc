// Uses the installed Keel headers and libraries: if this builds, links, runs
// an actor and a durable actor (on a SQLite journal in a temp directory,
// removed at exit), echoes a frame over the TCP transport on loopback and
// returns 0, find_package(Keel) and the Keel:: targets work for a consumer.
// Returns 1 on any failure.
#include <keel/base/clock.h>
#include <keel/base/status.h>
#include <keel/engine/durable.h>
#include <keel/engine/engine.h>
#include <keel/journal/journal.h>
#include <keel/net/tcp_transport.h>
#include <stdlib.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <future>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>

class Greeter : public keel::Actor {
 public:
  int greet(int n) { return n + 1; }
  static constexpr auto kHandlers = keel::handlers(keel::handler<&Greeter::greet>("greet"));
};

struct Tally {
  std::int64_t total = 0;
  static constexpr auto kFields = keel::fields(keel::field<&Tally::total>("total"));
};

class Adder : public keel::DurableActor<Tally> {
 public:
  std::int64_t add(std::int64_t n) { return state().total += n; }
  static constexpr auto kHandlers = keel::handlers(keel::handler<&Adder::add>("add"));
};

// Spawns an Adder on a SQLite journal at `path` and asks it twice: 40, then 42.
bool run_durable(const std::string& path) {
  keel::Result<std::unique_ptr<keel::Journal>> journal =
      keel::open_sqlite_journal(path, keel::JournalOptions{});
  if (!journal) {
    std::cerr << "open journal: " << journal.status() << "\n";
    return false;
  }
  keel::SystemConfig config;
  config.journal = journal->get();
  keel::System system(config);
  keel::Result<keel::ActorRef<Adder>> adder = system.spawn_durable<Adder>("adder");
  if (!adder) {
    std::cerr << "spawn_durable: " << adder.status() << "\n";
    return false;
  }
  keel::Result<std::int64_t> first = adder->ask<&Adder::add>(std::int64_t{40}).get();
  keel::Result<std::int64_t> second = adder->ask<&Adder::add>(std::int64_t{2}).get();
  std::cout << "durable actor replied " << (second ? *second : -1) << "\n";
  return first && *first == 40 && second && *second == 42 &&
         system.shutdown(keel::ShutdownMode::kDrain).is_ok();
}

// Sends one call frame over the TCP transport on loopback and waits for the
// listener's echo of it.
bool run_tcp_echo() {
  keel::wire::TransportOptions options;
  options.secret = "install-test";
  options.log = [](std::string_view) {};
  keel::Result<std::unique_ptr<keel::wire::TcpTransport>> transport =
      keel::wire::TcpTransport::create(options);
  if (!transport) {
    std::cerr << "tcp transport: " << transport.status() << "\n";
    return false;
  }
  keel::wire::ConnectionCallbacks server;
  server.on_frame = [](keel::wire::Connection& c, const keel::wire::Frame& f) {
    c.send(keel::wire::MessageType::kReply, f.body).ignore();
  };
  keel::Result<std::unique_ptr<keel::wire::TcpListener>> listener =
      (*transport)->listen("127.0.0.1", 0, server);
  if (!listener) {
    std::cerr << "listen: " << listener.status() << "\n";
    return false;
  }
  std::promise<std::string> echoed;
  bool answered = false;  // I/O thread only
  keel::wire::ConnectionCallbacks client;
  client.on_open = [](keel::wire::Connection& c) {
    c.send(keel::wire::MessageType::kCall, "ping").ignore();
  };
  client.on_frame = [&](keel::wire::Connection&, const keel::wire::Frame& f) {
    if (!answered) echoed.set_value(std::string(f.body));
    answered = true;
  };
  std::unique_ptr<keel::wire::TcpClient> connection =
      (*transport)->connect("127.0.0.1", (*listener)->port(), client);
  std::future<std::string> reply = echoed.get_future();
  if (reply.wait_for(std::chrono::seconds(20)) != std::future_status::ready) return false;
  const std::string body = reply.get();
  std::cout << "tcp transport echoed " << body << "\n";
  return body == "ping";
}

int main() {
  keel::Status status = keel::Status::not_found("actor 7");
  std::cout << "status: " << status << "\n";

  keel::ManualClock clock;
  const keel::TimePoint start = clock.now();
  clock.advance(std::chrono::seconds(5));
  const auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(clock.now() - start);
  std::cout << "manual clock advanced " << elapsed.count() << "s\n";
  if (status.code() != keel::StatusCode::kNotFound || elapsed.count() != 5) return 1;

  keel::System system;
  keel::Result<keel::ActorRef<Greeter>> greeter = system.spawn<Greeter>();
  if (!greeter) return 1;
  keel::Future<int> reply = greeter->ask<&Greeter::greet>(41);
  if (!reply.wait_for(std::chrono::seconds(20))) return 1;
  keel::Result<int> value = reply.get();
  std::cout << "actor replied " << (value ? *value : -1) << "\n";
  if (!value || *value != 42) return 1;
  if (!system.shutdown(keel::ShutdownMode::kDrain).is_ok()) return 1;

  char dir[] = "/tmp/keel-consumer-XXXXXX";
  if (mkdtemp(dir) == nullptr) return 1;
  const bool durable_ok = run_durable(std::string(dir) + "/journal.db");
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  return durable_ok && run_tcp_echo() ? 0 : 1;
}
