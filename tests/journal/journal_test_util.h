// journal_test_util.h: helpers shared by the journal tests: a temporary
// directory, waiting with a deadline, and batch builders.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <array>
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "keel/base/status.h"
#include "keel/base/thread_annotations.h"
#include "keel/journal/journal.h"

namespace keel::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/keel-journal-test-XXXXXX";
    KEEL_CHECK(::mkdtemp(tmpl.data()) != nullptr, "mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Counts down to zero; wait() fails the test if that takes over `deadline`.
class CountDown {
 public:
  explicit CountDown(int n) : n_(n) {}
  void count_down() KEEL_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    if (--n_ == 0) cv_.notify_all();
  }
  bool wait(std::chrono::seconds deadline = std::chrono::seconds(120)) KEEL_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return cv_.wait_for(lock, deadline, [this]() KEEL_REQUIRES(mu_) { return n_ <= 0; });
  }

 private:
  Mutex mu_;
  CondVar cv_;
  int n_ KEEL_GUARDED_BY(mu_);
};

inline NewRecord rec(std::string owner, RecordKind kind, std::string payload) {
  return NewRecord{std::move(owner), kind, std::move(payload)};
}

inline std::vector<NewRecord> one(std::string owner, std::string payload,
                                  RecordKind kind = RecordKind::kEvent) {
  std::vector<NewRecord> b;
  b.push_back(rec(std::move(owner), kind, std::move(payload)));
  return b;
}

// Every record of the journal in LSN order; fails the test on error.
inline std::vector<Record> all_records(Journal& j) {
  std::vector<Record> out;
  Status s = j.scan_lsn(1, ~Lsn{0}, [&](const Record& r) {
    out.push_back(r);
    return true;
  });
  EXPECT_TRUE(s.is_ok()) << s;
  return out;
}

inline std::vector<JournalProblem> problems(Journal& j) {
  std::vector<JournalProblem> out;
  Status s = j.verify([&](const JournalProblem& p) { out.push_back(p); });
  EXPECT_TRUE(s.is_ok()) << s;
  return out;
}

}  // namespace keel::testing

// Asserts the exact code of a Status or Result.
#define EXPECT_CODE(expr, expected_code)                                          \
  do {                                                                            \
    ::keel::Status keel_s_ = ::keel::detail::to_status((expr));                   \
    EXPECT_EQ(keel_s_.code(), (expected_code)) << keel_s_;                        \
  } while (false)
#define ASSERT_OK(expr)                                                           \
  do {                                                                            \
    ::keel::Status keel_s_ = ::keel::detail::to_status((expr));                   \
    ASSERT_TRUE(keel_s_.is_ok()) << keel_s_;                                      \
  } while (false)

namespace keel::testing {

// Checks the counts of stats() and every entry of owners() against what a
// full scan of the journal finds.
inline void expect_summaries_match_a_scan(Journal& j) {
  std::array<std::uint64_t, kRecordKindSlots> by_kind{};
  std::map<std::string, Record> newest;  // owner -> its newest record
  std::map<std::string, std::pair<std::uint64_t, std::uint64_t>> kept;  // owner -> first seq, records
  std::optional<WallTime> first_time;
  std::optional<WallTime> last_time;
  const std::vector<Record> records = all_records(j);
  for (const Record& r : records) {
    ++by_kind[static_cast<std::size_t>(r.kind)];
    newest[r.owner] = r;
    auto k = kept.try_emplace(r.owner, r.seq, 0).first;
    ++k->second.second;
    if (!first_time) first_time = r.time;
    last_time = r.time;
  }
  auto stats = j.stats();
  ASSERT_OK(stats);
  EXPECT_EQ(stats->records, records.size());
  EXPECT_EQ(stats->records_by_kind, by_kind);
  EXPECT_EQ(stats->owners, newest.size());
  EXPECT_EQ(stats->first_time, first_time);
  EXPECT_EQ(stats->last_time, last_time);
  auto owners = j.owners();
  ASSERT_OK(owners);
  ASSERT_EQ(owners->size(), newest.size());
  std::size_t i = 0;
  for (const auto& [owner, r] : newest) {
    const OwnerInfo& o = (*owners)[i++];
    EXPECT_EQ(o.owner, owner);
    EXPECT_EQ(o.last_seq, r.seq) << owner;
    EXPECT_EQ(o.last_lsn, r.lsn) << owner;
    EXPECT_EQ(o.first_seq, kept[owner].first) << owner;
    EXPECT_EQ(o.records, kept[owner].second) << owner;
    EXPECT_EQ(o.last_time, r.time) << owner;
    EXPECT_EQ(o.last_kind, r.kind) << owner;
  }
}

}  // namespace keel::testing
