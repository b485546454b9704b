// examples/engine/demo.cc: the local actor engine in one small program.
//
// A supervisor shards jobs over three workers. A poison job makes a worker
// fail and the supervisor restart it; a slow job is answered by a timer, so an
// ask with a short timeout fails; a send to the failed incarnation becomes a
// dead letter. At the end: the diagnostics snapshot and a graceful shutdown.
//
// Run:    scripts/demo.sh   (builds, then runs build/examples/keel_demo)
// Prints: 14 lines: results, the restart, a timeout, a dead letter, the snapshot.
#include <keel/engine/engine.h>

#include <deque>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

class Supervisor;

// Squares job numbers. Job 13 is poison: the worker fails. Job 99 is slow: a
// timer answers it 30ms later, and the worker serves other jobs meanwhile.
class Worker : public keel::Actor {
 public:
  explicit Worker(keel::ActorRef<Supervisor> supervisor) : supervisor_(std::move(supervisor)) {}

  keel::Future<int> process(int job) {
    if (job == 13) fail(keel::Status::invalid_argument("job 13 is poison"));
    if (job != 99) return keel::Future<int>::ready(job * job);
    send_after<&Worker::finish_slow>(30ms, self<Worker>(), job);
    return slow_.emplace_back().future();
  }
  void finish_slow(int job) {
    slow_.front().set_value(job * job);
    slow_.pop_front();
  }
  static constexpr auto kHandlers =
      keel::handlers(keel::handler<&Worker::process>("process"),
                     keel::handler<&Worker::finish_slow>("finish_slow"));

 protected:
  keel::Status on_restart(const keel::Status& cause) override;  // tells the supervisor

 private:
  keel::ActorRef<Supervisor> supervisor_;
  std::deque<keel::Promise<int>> slow_;  // replies owed, oldest first
};

// Owns three workers and sends job n to worker n % 3. Default strategy: one-
// for-one (only the failed worker restarts), at most 3 restarts in 5s.
class Supervisor : public keel::Actor {
 public:
  keel::Future<int> submit(int job) {
    std::vector<keel::AnyRef> workers = children();  // current incarnations
    if (workers.empty()) return keel::Future<int>::ready(keel::Status::unavailable("no workers"));
    keel::ActorRef<Worker> worker(workers[static_cast<std::size_t>(job) % workers.size()]);
    return worker.ask<&Worker::process>(job);  // our reply completes with the worker's
  }
  // Completes with the report of the next worker restart.
  keel::Future<std::string> next_restart() {
    restart_ = {};
    return restart_.future();
  }
  void worker_restarted(std::string report) { restart_.set_value(std::move(report)); }
  static constexpr auto kHandlers =
      keel::handlers(keel::handler<&Supervisor::submit>("submit"),
                     keel::handler<&Supervisor::next_restart>("next_restart"),
                     keel::handler<&Supervisor::worker_restarted>("worker_restarted"));

 protected:
  keel::Status on_start() override {
    for (int i = 1; i <= 3; ++i) {
      keel::SpawnOptions options;
      options.name = "worker" + std::to_string(i);
      KEEL_RETURN_IF_ERROR(spawn_with<Worker>(options, self<Supervisor>()));
    }
    return keel::Status::ok();
  }

 private:
  keel::Promise<std::string> restart_;
};

keel::Status Worker::on_restart(const keel::Status& cause) {
  supervisor_.tell<&Supervisor::worker_restarted>(
      "worker " + std::to_string(id()) + " restarted as generation " +
      std::to_string(self().generation()) + " after " + cause.to_string());
  return keel::Status::ok();
}

int failed(const char* step, const keel::Status& s) {
  std::cerr << "demo: " << step << ": " << s << "\n";
  return 1;
}

int main() {
  keel::System system;  // one worker thread per core
  system.dead_letters().subscribe([](const keel::DeadLetter& d) {
    std::cout << "dead letter: " << keel::dead_letter_reason_name(d.reason) << " '" << d.method
              << "' to actor " << d.target << ": " << d.detail << "\n";
  });

  keel::SpawnOptions options;
  options.name = "jobs";
  keel::Result<keel::ActorRef<Supervisor>> jobs = system.spawn_with<Supervisor>(options);
  if (!jobs) return failed("spawn", jobs.status());
  keel::Result<keel::ActorRef<Worker>> worker2 = system.lookup<Worker>("worker2");  // job 13's
  if (!worker2) return failed("lookup", worker2.status());

  std::vector<keel::Future<int>> replies;  // all sent at once, collected in order
  for (int job = 1; job <= 6; ++job) replies.push_back(jobs->ask<&Supervisor::submit>(job));
  std::cout << "jobs 1-6 ->";
  for (keel::Future<int>& reply : replies) {
    keel::Result<int> r = reply.get();
    if (!r) return failed("jobs 1-6", r.status());
    std::cout << " " << *r;
  }

  const keel::AskOptions quick{.timeout = 10ms}, patient{.timeout = 5s};
  keel::Result<int> slow = jobs->ask_with<&Supervisor::submit>(quick, 99).get();
  std::cout << "\njob 99 with a 10ms timeout -> " << slow.status() << "\n";
  slow = jobs->ask_with<&Supervisor::submit>(patient, 99).get();
  if (!slow) return failed("job 99", slow.status());
  std::cout << "job 99 with a 5s timeout -> " << *slow << " (answered by a 30ms timer)\n";

  keel::Future<std::string> restart = jobs->ask_with<&Supervisor::next_restart>(patient);
  keel::Result<int> poisoned = jobs->ask<&Supervisor::submit>(13).get();
  std::cout << "job 13 -> " << poisoned.status() << "\n";
  keel::Result<std::string> report = restart.get();
  if (!report) return failed("restart", report.status());
  std::cout << "supervisor: " << *report << "\n";
  keel::Status sent = worker2->try_tell<&Worker::process>({}, 16);  // to generation 1
  std::cout << "job 16 through the old ref -> " << sent << "\n";
  // [snippet snapshot]
  keel::SystemSnapshot s = system.snapshot();
  std::cout << "snapshot: " << s.actors.size() << " actors, " << s.worker_threads << " threads\n";
  for (const keel::ActorSnapshot& a : s.actors) {
    std::cout << "  actor " << a.id << " " << a.type << " '" << a.name << "'"
              << ": generation " << a.generation << ", " << keel::actor_status_name(a.status)
              << ", restarts " << a.restarts << ", queued " << a.mailbox_depth << "\n";
  }
  std::cout << "  dead letters " << s.dead_letters_total << ", late replies " << s.late_replies
            << '\n';
  // [/snippet snapshot]
  keel::Status down = system.shutdown(keel::ShutdownMode::kDrain, 5s);
  if (!down.is_ok()) return failed("shutdown", down);
  std::cout << "shutdown (drain): " << down << "\n";
  return 0;
}
