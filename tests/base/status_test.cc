#include "keel/base/status.h"
#include "keel/base/retry_policy.h"

#include <gtest/gtest.h>

namespace keel {
namespace {

Result<int> parse_positive(int v) {
  if (v <= 0) return Status::invalid_argument("not positive: " + std::to_string(v));
  return v;
}

Status double_it(int v, int* out) {
  KEEL_ASSIGN_OR_RETURN(int x, parse_positive(v));
  *out = 2 * x;
  return Status::ok();
}

TEST(Status, OkHasNoMessageAndPrintsOk) {
  Status s;
  EXPECT_TRUE(s.is_ok());
  EXPECT_EQ(s.code(), StatusCode::kOk);
  EXPECT_EQ(s.to_string(), "ok");
}

TEST(Status, ErrorCarriesCodeAndMessage) {
  Status s = Status::corruption("lsn 12: checksum mismatch");
  EXPECT_EQ(s.code(), StatusCode::kCorruption);
  EXPECT_EQ(s.to_string(), "corruption: lsn 12: checksum mismatch");
  EXPECT_EQ(s.with_context("open").message(), "open: lsn 12: checksum mismatch");
}

TEST(Status, CodeNumbersAreStable) {
  EXPECT_EQ(static_cast<int>(StatusCode::kInvalidArgument), 1);
  EXPECT_EQ(static_cast<int>(StatusCode::kTimeout), 6);
  EXPECT_EQ(static_cast<int>(StatusCode::kInternal), 13);
  EXPECT_EQ(static_cast<int>(StatusCode::kOwnershipLost), 14);
}

TEST(Status, OwnershipLostIsNamedAndNotRetried) {
  Status s = Status::ownership_lost("actor/a: owned by another writer");
  EXPECT_EQ(s.to_string(), "ownership_lost: actor/a: owned by another writer");
  RetryPolicy retry;
  retry.max_attempts = 5;
  EXPECT_FALSE(retry.should_retry(s, 1));
  EXPECT_TRUE(retry.should_retry(Status::io_error("disk"), 1));
}

TEST(Result, AssignOrReturnPropagatesTheError) {
  int out = 0;
  EXPECT_TRUE(double_it(4, &out).is_ok());
  EXPECT_EQ(out, 8);
  Status s = double_it(-1, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "not positive: -1");
}

TEST(Result, ValueOrFallsBackOnError) {
  EXPECT_EQ(parse_positive(3).value_or(7), 3);
  EXPECT_EQ(parse_positive(0).value_or(7), 7);
}

TEST(ResultDeathTest, ValueOfAnErrorAborts) {
  EXPECT_DEATH((void)parse_positive(0).value(), "Result::value");
}

}  // namespace
}  // namespace keel
