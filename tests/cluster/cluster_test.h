// cluster_test.h: ClusterTest, the fixture of the cluster tests that need a
// database: a fresh schema per test in the PostgreSQL test server of the
// CTest fixture keel_pg, hosts joined to it, and leases ended by hand.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "keel/cluster/membership.h"
#include "pg_backend.h"

namespace keel::testing {

class ClusterTest : public ::testing::Test {
 protected:
  static constexpr const char* kSecret = "a secret of twenty-four";

  void SetUp() override {
    Result<std::string> url = pg_test_url();
    ASSERT_TRUE(url.has_value()) << url.status();
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    url_ = PgBackend::journal_path(std::string("cluster/") + info->test_suite_name() + "/" + info->name());
    PgRaw raw(url_);
    ASSERT_TRUE(raw.ok());
    raw.exec("SET client_min_messages = warning; DROP SCHEMA IF EXISTS " + raw.schema() + " CASCADE");
  }

  static MembershipOptions options(std::chrono::milliseconds lease = std::chrono::seconds(10)) {
    MembershipOptions o;
    o.cluster = "test";
    o.secret = kSecret;
    o.lease = lease;
    o.timeout = std::chrono::seconds(5);
    return o;
  }

  // Joins host `id` (null on failure, which the test then reports).
  std::unique_ptr<Membership> join(const std::string& id, Labels labels = {}, MembershipOptions o = options()) {
    Result<std::unique_ptr<Membership>> m = Membership::join(url_, HostSpec{id, {"127.10.0.1:7400"}, labels}, o);
    EXPECT_TRUE(m.has_value()) << m.status();
    return m.has_value() ? std::move(*m) : nullptr;
  }

  // Ends the lease of `id` by the database's clock, as time passing would.
  void expire(const std::string& id) {
    PgRaw raw(url_);
    ASSERT_TRUE(raw.exec("UPDATE S.hosts SET lease_ends = clock_timestamp() - interval '1 second' WHERE id = '" + id +
                         "'"));
  }

  std::string url_;
};

}  // namespace keel::testing
