// keel_journal_gen writes journals that `keel journal` reads as the engine's:
// consistent counts, clean verify, and the unhandled messages it leaves. A
// small version of the journals the scale figures are measured on.
#include <gtest/gtest.h>

#include "tools/bank_journal.h"

namespace keel::testing {
namespace {

template <class B>
class GeneratedJournalTest : public BankJournalTest<B> {};
TYPED_TEST_SUITE(GeneratedJournalTest, Backends, BackendNames);

TYPED_TEST(GeneratedJournalTest, ReadsAsAJournalOfDurableActors) {
  std::vector<std::string> args = {this->path_, "--records", "20000", "--actors", "50"};
  if (std::string(TypeParam::kName) == "rocksdb") args.push_back("--rocksdb");
  CliRun gen = run_keel(args, KEEL_GEN_PATH);
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  // 10,004 messages; the last one of each of the 7 actors 0, 8, ..., 48 unhandled.
  EXPECT_EQ(gen.out, "wrote lsn 1..20001 to " + this->path_ + "\n");

  CliRun stats = this->keel("stats", {"--json"});
  ASSERT_EQ(stats.exit_code, 0) << stats.err;
  EXPECT_TRUE(has(stats.out, "\"records\":20001,\"by_kind\":{\"inbox\":10004,")) << stats.out;
  EXPECT_TRUE(has(stats.out, "\"owners\":50,")) << stats.out;

  CliRun pending = this->keel("ls", {"--status", "pending"});
  ASSERT_EQ(pending.exit_code, 0) << pending.err;
  EXPECT_EQ(lines_of(pending.out).size(), 1u + 7u) << pending.out;

  CliRun verify = this->keel("verify");
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
}

}  // namespace
}  // namespace keel::testing
