// pg_outage.h: calls made through an outage of a test's own PostgreSQL
// server: it is stopped at once (pg_ctl stop -m immediate) mid-traffic and
// started again, and the test checks what came of the calls.
//
//   testing::PgOutage outage;
//   ASSERT_NO_FATAL_FAILURE(testing::call_through_outage(server, call, &outage));
//   for (std::uint64_t id : outage.acked) ... each acknowledged effect is there once ...
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <map>
#include <set>
#include <string>

#include "support/outage_traffic.h"
#include "support/pg_test_server.h"

namespace keel::testing {

// What came of the calls.
struct PgOutage {
  std::set<std::uint64_t> acked;  // the ids of the acknowledged calls
  std::uint64_t calls = 0;        // calls made in all: ids 1..calls
  // A journal handle learned that a commit it had reported as of unknown
  // outcome (kUnavailable) was written, and stopped (kFailedPrecondition:
  // "reopen the journal"); the calls ended there.
  bool stopped_on_unknown_outcome = false;
};

// Makes call(1), call(2), ... one at a time; once 20 were acknowledged,
// kills `server`, and once 2 failed, starts it again; returns when 20 more
// were acknowledged or a call failed with kFailedPrecondition. Fails the
// test when calls hang (a call must return on its own, within a deadline),
// do not resume, or fail with any code but kUnavailable and
// kFailedPrecondition. Prints the codes seen, with the first message of each.
inline void call_through_outage(OwnPgServer& server, const OutageTraffic::Call& call, PgOutage* out) {
  OutageTraffic traffic(call, 1, StatusCode::kFailedPrecondition);
  ASSERT_TRUE(traffic.wait_for_acks(20)) << traffic.last_failure();
  ASSERT_TRUE(server.kill());
  ASSERT_TRUE(traffic.wait_for_failures(2)) << "calls hang while the server is away";
  ASSERT_TRUE(server.start());
  ASSERT_TRUE(traffic.wait_for_acks_or_end(traffic.ack_count() + 20))
      << "calls do not resume once the server is back: " << traffic.last_failure();
  traffic.stop();
  const std::map<StatusCode, Status> first = traffic.first_failures();
  for (const auto& [code, n] : traffic.codes()) {
    std::printf("%d calls failed with %s, the first: %s\n", n, std::string(status_code_name(code)).c_str(),
                first.at(code).to_string().c_str());
    EXPECT_TRUE(code == StatusCode::kUnavailable || code == StatusCode::kFailedPrecondition)
        << n << " calls failed with " << first.at(code);
  }
  out->acked = traffic.acked();
  out->calls = traffic.next_id() - 1;
  out->stopped_on_unknown_outcome = traffic.ended_on_code();
  std::printf("%zu calls acknowledged of %llu%s\n", out->acked.size(), static_cast<unsigned long long>(out->calls),
              out->stopped_on_unknown_outcome ? "; the journal handle stopped on a commit of unknown outcome that "
                                                "was written"
                                              : "");
}

}  // namespace keel::testing
