// The PostgreSQL server stopped at once (pg_ctl stop -m immediate) while a
// writer appends, then started again: appends fail with kUnavailable while
// it is away (none hangs), work resumes when it is back, and afterwards
// every acknowledged record is there exactly once and the journal verifies.
// The test runs its own server (support/pg_test_server.h), since it stops it.
#include <future>
#include <map>
#include <string>

#include "backends.h"
#include "journal_test_util.h"
#include "pg_backend.h"
#include "support/outage_traffic.h"
#include "support/pg_test_server.h"

namespace keel::testing {
namespace {

TEST(PgJournalRestart, AcknowledgedRecordsSurviveAServerStoppedAtOnceAndNothingIsWrittenTwice) {
  TempDir dir;
  OwnPgServer server(dir.path() + "/server");
  ASSERT_TRUE(server.start()) << "scripts/pg_test_server.sh start failed: its message above says why";
  const std::string path = with_schema(server.url(), "restart");
  JournalOptions o;
  o.pg_timeout = std::chrono::seconds(2);

  // Appends record "p<id>"; a handle told that a commit reported as of
  // unknown outcome was written after all (kFailedPrecondition) stops, and
  // the next call opens a new one, which goes on from what is stored.
  Result<std::unique_ptr<Journal>> j = internal::open_pg_journal(path, o, {});
  ASSERT_OK(j);
  OutageTraffic traffic([&](std::uint64_t id) -> Status {
    if (!j.has_value()) {
      j = internal::open_pg_journal(path, o, {});
      if (!j.has_value()) return j.status();
    }
    auto r = (*j)->append(one("o" + std::to_string(id % 3), "p" + std::to_string(id)));
    if (!r.has_value() && r.status().code() == StatusCode::kFailedPrecondition) {
      j = Result<std::unique_ptr<Journal>>(Status::unavailable("reopening"));
    }
    return r.status();
  });

  ASSERT_TRUE(traffic.wait_for_acks(20));
  ASSERT_TRUE(server.kill());
  ASSERT_TRUE(traffic.wait_for_failures(2)) << "appends hang while the server is away";
  ASSERT_TRUE(server.start());
  ASSERT_TRUE(traffic.wait_for_acks(traffic.ack_count() + 20)) << "appends do not resume once the server is back";
  traffic.stop();
  if (j.has_value()) j->reset();

  JournalOptions ro;
  ro.read_only = true;
  auto reader = internal::open_pg_journal(path, ro, {});
  ASSERT_OK(reader);
  std::map<std::string, int> seen;
  for (const Record& r : all_records(**reader)) ++seen[r.payload];
  for (std::uint64_t id : traffic.acked()) EXPECT_EQ(seen["p" + std::to_string(id)], 1) << id << " was acknowledged";
  for (const auto& [p, n] : seen) EXPECT_EQ(n, 1) << p << " is stored " << n << " times";
  for (const auto& [code, n] : traffic.codes()) {
    EXPECT_TRUE(code == StatusCode::kUnavailable || code == StatusCode::kFailedPrecondition)
        << n << " appends failed with " << status_code_name(code);
  }
  EXPECT_TRUE(problems(**reader).empty());
  reader->reset();
}

// An appender's chain after a batch failed because the server was away:
// the batches after it are refused with kUnavailable too (reconnect and
// retry), not kIoError, and once the chain is cleared they are written.
TEST(PgJournalRestart, BatchesAfterAFailureOnTheirChainAreRefusedAsUnavailable) {
  TempDir dir;
  OwnPgServer server(dir.path() + "/server");
  ASSERT_TRUE(server.start()) << "scripts/pg_test_server.sh start failed: its message above says why";
  JournalOptions o;
  o.pg_timeout = std::chrono::seconds(1);
  auto j = internal::open_pg_journal(with_schema(server.url(), "chain"), o, {});
  ASSERT_OK(j);
  ASSERT_TRUE(server.kill());
  AppendChain chain;
  // Each batch is appended once the one before it is done, so that it
  // meets the chain's failure rather than sharing the first one's group.
  auto append = [&](const std::string& payload) {
    std::promise<Status> done;
    (*j)->append_async(one("o", payload), &chain,
                       [&](Result<LsnRange> r) { done.set_value(r.status()); });
    auto f = done.get_future();
    EXPECT_EQ(f.wait_for(std::chrono::seconds(60)), std::future_status::ready) << "an append hangs";
    return f.get();
  };
  EXPECT_CODE(append("first"), StatusCode::kUnavailable);
  const Status refused = append("second");
  EXPECT_CODE(refused, StatusCode::kUnavailable);
  EXPECT_NE(refused.message().find("not written"), std::string_view::npos) << refused;
  ASSERT_TRUE(server.start());
  chain.clear();
  ASSERT_OK(append("third"));
  std::vector<std::string> payloads;
  for (const Record& r : all_records(**j)) payloads.push_back(r.payload);
  EXPECT_EQ(payloads, std::vector<std::string>{"third"});
}

}  // namespace
}  // namespace keel::testing
