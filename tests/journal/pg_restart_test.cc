// The PostgreSQL server stopped at once (pg_ctl stop -m immediate) while a
// writer appends, then started again: appends fail with kUnavailable while
// it is away (none hangs), work resumes when it is back, and afterwards
// every acknowledged record is there exactly once and the journal verifies.
// The test runs its own server (scripts/pg_test_server.sh, named by
// $KEEL_PG_SERVER_SCRIPT), since it stops it.
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include "backends.h"
#include "journal_test_util.h"
#include "pg_backend.h"

namespace keel::testing {
namespace {

// Runs the test server script with `command` on `dir`; its exit status.
int server(const std::string& command, const std::string& dir) {
  const char* script = std::getenv("KEEL_PG_SERVER_SCRIPT");
  if (script == nullptr) return -1;
  return std::system((std::string(script) + " " + command + " '" + dir + "'").c_str());
}

// Stops and removes the test's server however the test ends.
class ServerGuard {
 public:
  explicit ServerGuard(std::string dir) : dir_(std::move(dir)) {}
  ~ServerGuard() { EXPECT_EQ(server("stop", dir_), 0); }
  ServerGuard(const ServerGuard&) = delete;
  ServerGuard& operator=(const ServerGuard&) = delete;

 private:
  std::string dir_;
};

// What the appending thread saw, shared with the test's thread.
struct Traffic {
  Mutex mu;
  CondVar changed;
  std::set<std::string> acked KEEL_GUARDED_BY(mu);
  int failures KEEL_GUARDED_BY(mu) = 0;
  std::map<StatusCode, int> codes KEEL_GUARDED_BY(mu);
  bool stop KEEL_GUARDED_BY(mu) = false;
  bool ended KEEL_GUARDED_BY(mu) = false;  // the appending thread returned

  // Waits until pred() holds; false after the deadline.
  template <class Pred>
  bool wait(Pred pred) KEEL_EXCLUDES(mu) {
    MutexLock lock(mu);
    return changed.wait_for(lock, std::chrono::seconds(120), [&]() KEEL_REQUIRES(mu) { return ended || pred(); }) &&
           pred();
  }
};

// Stops and joins the appending thread however the test ends.
class Stopper {
 public:
  Stopper(Traffic* t, std::thread* th) : t_(t), th_(th) {}
  ~Stopper() {
    {
      MutexLock lock(t_->mu);
      t_->stop = true;
    }
    if (th_->joinable()) th_->join();
  }
  Stopper(const Stopper&) = delete;
  Stopper& operator=(const Stopper&) = delete;

 private:
  Traffic* t_;
  std::thread* th_;
};

TEST(PgJournalRestart, AcknowledgedRecordsSurviveAServerStoppedAtOnceAndNothingIsWrittenTwice) {
  ASSERT_NE(std::getenv("KEEL_PG_SERVER_SCRIPT"), nullptr)
      << "KEEL_PG_SERVER_SCRIPT is not set (CTest sets it to scripts/pg_test_server.sh)";
  TempDir dir;
  const std::string srv = dir.path() + "/server";
  ServerGuard guard(srv);
  ASSERT_EQ(server("start", srv), 0) << "scripts/pg_test_server.sh start failed: its message above says why";
  std::string url;
  {
    std::ifstream in(srv + "/url");
    std::getline(in, url);
  }
  ASSERT_FALSE(url.empty());
  const std::string path = with_schema(url, "restart");
  JournalOptions o;
  o.pg_timeout = std::chrono::seconds(2);

  Traffic t;
  std::thread appender([&] {
    auto j = internal::open_pg_journal(path, o, {});
    for (int i = 0; j.has_value(); ++i) {
      {
        MutexLock lock(t.mu);
        if (t.stop) break;
      }
      const std::string payload = "p" + std::to_string(i);
      auto r = (*j)->append(one("o" + std::to_string(i % 3), payload));
      {
        MutexLock lock(t.mu);
        if (r.has_value()) {
          t.acked.insert(payload);
        } else {
          ++t.failures;
          ++t.codes[r.status().code()];
        }
      }
      t.changed.notify_all();
      if (!r.has_value() && r.status().code() == StatusCode::kFailedPrecondition) {
        // A commit reported as of unknown outcome was written after all:
        // this handle stops, a new one goes on from what is stored.
        j = Result<std::unique_ptr<Journal>>(Status::unavailable("reopening"));
        while (!j.has_value()) {
          j = internal::open_pg_journal(path, o, {});
          MutexLock lock(t.mu);
          if (t.stop) break;
        }
      }
    }
    {
      MutexLock lock(t.mu);
      if (!t.stop) ADD_FAILURE() << "the appender stopped: " << j.status();
      t.ended = true;
    }
    t.changed.notify_all();
  });
  Stopper stopper(&t, &appender);

  std::size_t before = 0;
  ASSERT_TRUE(t.wait([&]() KEEL_REQUIRES(t.mu) { return t.acked.size() >= 20; }));
  ASSERT_EQ(server("kill", srv), 0);
  ASSERT_TRUE(t.wait([&]() KEEL_REQUIRES(t.mu) { return t.failures >= 2; })) << "appends hang while the server is away";
  ASSERT_EQ(server("start", srv), 0);
  {
    MutexLock lock(t.mu);
    before = t.acked.size();
  }
  ASSERT_TRUE(t.wait([&]() KEEL_REQUIRES(t.mu) { return t.acked.size() >= before + 20; }))
      << "appends do not resume once the server is back";
  {
    MutexLock lock(t.mu);
    t.stop = true;
  }
  appender.join();

  JournalOptions ro;
  ro.read_only = true;
  auto reader = internal::open_pg_journal(path, ro, {});
  ASSERT_OK(reader);
  std::map<std::string, int> seen;
  for (const Record& r : all_records(**reader)) ++seen[r.payload];
  MutexLock lock(t.mu);
  for (const std::string& p : t.acked) EXPECT_EQ(seen[p], 1) << p << " was acknowledged";
  for (const auto& [p, n] : seen) EXPECT_EQ(n, 1) << p << " is stored " << n << " times";
  for (const auto& [code, n] : t.codes) {
    EXPECT_TRUE(code == StatusCode::kUnavailable || code == StatusCode::kFailedPrecondition)
        << n << " appends failed with " << status_code_name(code);
  }
  EXPECT_TRUE(problems(**reader).empty());
  reader->reset();
}

}  // namespace
}  // namespace keel::testing
