// The admin verbs (keel/workflow/admin.h): signal, cancel, retry and fork
// through a live engine's admin endpoint, and directly on a journal that
// no live engine owns; and their errors. Both embedded journal backends,
// where the endpoint is announced in a file beside the journal; built with
// KEEL_JOURNAL_TEST_POSTGRES, the PostgreSQL journal, where it is announced
// in the journal's admin table and a live writer holds the live lock.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "backends.h"
#include "keel/journal/format.h"
#include "keel/workflow/admin.h"
#include "keel/workflow/testing.h"
#include "keel/workflow/workflow.h"

namespace keel {
namespace {

using namespace std::chrono_literals;

// How often each step function ran, by name.
struct Counts {
  std::atomic<int> a{0}, b{0}, c{0};
  std::atomic<int> fail_c{0};  // step c fails while this is above zero (and counts down)
};

template <class Backend>
class AdminTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::path(::testing::TempDir()) /
           ("keel_admin_" + std::string(Backend::kName) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = Backend::journal_path(dir_.string());
    Counts* n = &counts_;
    ASSERT_TRUE((workflows_.define<int, std::string>(
                     "wait", [](WorkflowContext& ctx, int) -> Task<Result<std::string>> {
                       KEEL_CO_ASSIGN_OR_RETURN(std::string v, ctx.signal<std::string>("go"));
                       co_return "got " + v;
                     }))
                    .is_ok());
    ASSERT_TRUE((workflows_.define<int, int>(
                     "abc", [n](WorkflowContext& ctx, int x) -> Task<Result<int>> {
                       KEEL_CO_ASSIGN_OR_RETURN(int a, ctx.step("a", [n, x] { ++n->a; return x + 1; }));
                       KEEL_CO_ASSIGN_OR_RETURN(int b, ctx.step("b", [n, a] { ++n->b; return a * 10; }));
                       KEEL_CO_ASSIGN_OR_RETURN(int c, ctx.step("c", [n, b]() -> Result<int> {
                         ++n->c;
                         if (n->fail_c.load() > 0) {
                           --n->fail_c;
                           return Status::invalid_argument("c refuses");  // not retried by the step policy
                         }
                         return b + 5;
                       }));
                       co_return c;
                     }))
                    .is_ok());
  }
  void TearDown() override {
    env_.reset();
    std::filesystem::remove_all(dir_);
  }
  WorkflowTestEnv& open(bool admin = true) {
    env_.reset();
    WorkflowTestOptions o;
    o.admin_endpoint = admin;
    o.open_journal = [](const std::string& path, const JournalOptions& jo) { return Backend::open(path, jo); };
    auto env = WorkflowTestEnv::open(workflows_, path_, o);
    EXPECT_TRUE(env.is_ok()) << env.status();
    env_ = std::move(*env);
    return *env_;
  }
  void close() { env_.reset(); }

  // Whether an engine's endpoint is announced for the journal.
  bool announced() const {
#ifdef KEEL_JOURNAL_TEST_POSTGRES
    Result<std::optional<PgAdminAnnouncement>> a = read_pg_admin(path_);
    EXPECT_TRUE(a.is_ok()) << a.status();
    return a.is_ok() && a->has_value();
#else
    return std::filesystem::exists(admin_file_path(path_));
#endif
  }
  // What a killed process leaves behind: its announcement, with nobody
  // listening. Saved while the engine is open, put back after it closed.
  void save_announcement() {
#ifdef KEEL_JOURNAL_TEST_POSTGRES
    Result<std::optional<PgAdminAnnouncement>> a = read_pg_admin(path_);
    ASSERT_TRUE(a.is_ok() && a->has_value()) << a.status();
    saved_ = **a;
#else
    std::filesystem::copy_file(admin_file_path(path_), dir_ / "saved.admin");
#endif
  }
  void restore_announcement() {
#ifdef KEEL_JOURNAL_TEST_POSTGRES
    announce_row(saved_.host, saved_.socket, saved_.token);
#else
    std::filesystem::copy_file(dir_ / "saved.admin", admin_file_path(path_));
#endif
  }
  // Changes one character of the announced token.
  void forge_token() {
#ifdef KEEL_JOURNAL_TEST_POSTGRES
    ASSERT_TRUE(testing::PgRaw(path_).exec(
        "UPDATE S.admin SET token = (CASE WHEN left(token, 1) = '0' THEN '1' ELSE '0' END) || substring(token from 2)"));
#else
    const std::string file = admin_file_path(path_);
    std::stringstream text;
    text << std::ifstream(file).rdbuf();
    std::string forged = text.str();
    const auto at = forged.find("token ") + 6;
    forged[at] = forged[at] == '0' ? '1' : '0';
    std::ofstream(file, std::ios::trunc) << forged;
#endif
  }
#ifdef KEEL_JOURNAL_TEST_POSTGRES
  // Writes the admin table's row as an engine on `host` would have.
  void announce_row(const std::string& host, const std::string& socket, const std::string& token) {
    ASSERT_TRUE(testing::PgRaw(path_).exec("INSERT INTO S.admin (only_row, host, pid, socket, token) VALUES (true, '" +
                                           host + "', 4242, '" + socket + "', '" + token +
                                           "') ON CONFLICT (only_row) DO UPDATE SET host = excluded.host, "
                                           "socket = excluded.socket, token = excluded.token"));
  }
  PgAdminAnnouncement saved_;
#endif

  static AdminCommand command(AdminOp op, std::string run) {
    AdminCommand c;
    c.op = op;
    c.run = std::move(run);
    return c;
  }
  static AdminCommand signal(std::string run, std::string value) {
    AdminCommand c = command(AdminOp::kSignal, std::move(run));
    c.name = "go";
    c.value = wire::encode_value(value);
    return c;
  }

  std::filesystem::path dir_;
  std::string path_;
  Workflows workflows_;
  Counts counts_;
  std::unique_ptr<WorkflowTestEnv> env_;
};
TYPED_TEST_SUITE(AdminTest, testing::Backends, testing::BackendNames);

TYPED_TEST(AdminTest, SignalReachesTheLiveEngine) {
  WorkflowTestEnv& env = this->open();
  auto run = env.engine().template start<std::string>("wait", "w1", 0);
  ASSERT_TRUE(run.is_ok());
  ASSERT_TRUE(env.run_until_blocked().is_ok());
  EXPECT_TRUE(this->announced());
  Result<AdminOutcome> out = run_admin_command(this->path_, this->signal("w1", "live"));
  ASSERT_TRUE(out.is_ok()) << out.status();
  EXPECT_TRUE(out->live);
  EXPECT_EQ(out->run, "w1");
  EXPECT_EQ(*env.run_to_completion(*run), "got live");
}

TYPED_TEST(AdminTest, SignalWithoutALiveEngineWaitsInTheJournal) {
  {
    WorkflowTestEnv& env = this->open();
    ASSERT_TRUE(env.engine().template start<std::string>("wait", "w1", 0).is_ok());
    ASSERT_TRUE(env.run_until_blocked().is_ok());
    this->close();
  }
  EXPECT_FALSE(this->announced());  // removed at close
  Result<AdminOutcome> out = run_admin_command(this->path_, this->signal("w1", "offline"));
  ASSERT_TRUE(out.is_ok()) << out.status();
  EXPECT_FALSE(out->live);
  WorkflowTestEnv& env = this->open();
  EXPECT_EQ(*env.run_to_completion(env.engine().template handle<std::string>("w1")), "got offline");
}

TYPED_TEST(AdminTest, AStaleAnnouncementFallsBackToTheJournal) {
  {
    WorkflowTestEnv& env = this->open();
    ASSERT_TRUE(env.engine().template start<std::string>("wait", "w1", 0).is_ok());
    ASSERT_TRUE(env.run_until_blocked().is_ok());
    this->save_announcement();
    this->close();
    this->restore_announcement();
  }
  Result<AdminOutcome> out = run_admin_command(this->path_, this->signal("w1", "stale"));
  ASSERT_TRUE(out.is_ok()) << out.status();
  EXPECT_FALSE(out->live);
  WorkflowTestEnv& env = this->open();
  EXPECT_EQ(*env.run_to_completion(env.engine().template handle<std::string>("w1")), "got stale");
}

TYPED_TEST(AdminTest, CancelLiveAndOffline) {
  WorkflowTestEnv& env = this->open();
  auto live = env.engine().template start<std::string>("wait", "w1", 0);
  ASSERT_TRUE(env.engine().template start<std::string>("wait", "w2", 0).is_ok());
  ASSERT_TRUE(env.run_until_blocked().is_ok());
  Result<AdminOutcome> out = run_admin_command(this->path_, this->command(AdminOp::kCancel, "w1"));
  ASSERT_TRUE(out.is_ok()) << out.status();
  EXPECT_TRUE(out->live);
  EXPECT_EQ(env.run_to_completion(*live).status().code(), StatusCode::kCancelled);
  this->close();
  out = run_admin_command(this->path_, this->command(AdminOp::kCancel, "w2"));
  ASSERT_TRUE(out.is_ok()) << out.status();
  EXPECT_FALSE(out->live);
  WorkflowTestEnv& again = this->open();
  EXPECT_EQ(again.run_to_completion(again.engine().template handle<std::string>("w2")).status().code(),
            StatusCode::kCancelled);
}

TYPED_TEST(AdminTest, RetryLiveAndOfflineRunsOnlyTheFailedStep) {
  this->counts_.fail_c = 2;
  WorkflowTestEnv& env = this->open();
  auto run = env.engine().template start<int>("abc", "r1", 4);
  EXPECT_EQ(env.run_to_completion(*run).status().code(), StatusCode::kInvalidArgument);
  Result<AdminOutcome> out = run_admin_command(this->path_, this->command(AdminOp::kRetry, "r1"));
  ASSERT_TRUE(out.is_ok()) << out.status();
  EXPECT_TRUE(out->live);
  EXPECT_EQ(env.run_to_completion(*run).status().code(), StatusCode::kInvalidArgument);  // c failed again
  this->close();
  out = run_admin_command(this->path_, this->command(AdminOp::kRetry, "r1"));
  ASSERT_TRUE(out.is_ok()) << out.status();
  EXPECT_FALSE(out->live);
  WorkflowTestEnv& again = this->open();
  EXPECT_EQ(*again.run_to_completion(again.engine().template handle<int>("r1")), 55);
  EXPECT_EQ(this->counts_.a.load(), 1);
  EXPECT_EQ(this->counts_.b.load(), 1);
  EXPECT_EQ(this->counts_.c.load(), 3);
}

TYPED_TEST(AdminTest, ForkReusesTheFirstStepsAndRunsTheRest) {
  WorkflowTestEnv& env = this->open();
  auto run = env.engine().template start<int>("abc", "r1", 4);
  ASSERT_EQ(*env.run_to_completion(*run), 55);
  AdminCommand fork = this->command(AdminOp::kFork, "r1");
  fork.from_step = 2;
  fork.new_run = "r1-live";
  Result<AdminOutcome> out = run_admin_command(this->path_, fork);
  ASSERT_TRUE(out.is_ok()) << out.status();
  EXPECT_TRUE(out->live);
  EXPECT_EQ(out->run, "r1-live");
  EXPECT_EQ(*env.run_to_completion(env.engine().template handle<int>("r1-live")), 55);
  EXPECT_EQ(this->counts_.a.load(), 1);
  EXPECT_EQ(this->counts_.b.load(), 1);
  EXPECT_EQ(this->counts_.c.load(), 2);
  this->close();
  fork.from_step = 1;
  fork.new_run = "r1-offline";
  out = run_admin_command(this->path_, fork);
  ASSERT_TRUE(out.is_ok()) << out.status();
  EXPECT_FALSE(out->live);
  WorkflowTestEnv& again = this->open();
  EXPECT_EQ(*again.run_to_completion(again.engine().template handle<int>("r1-offline")), 55);
  EXPECT_EQ(this->counts_.a.load(), 1);
  EXPECT_EQ(this->counts_.b.load(), 2);
  EXPECT_EQ(this->counts_.c.load(), 3);
}

TYPED_TEST(AdminTest, ErrorsNameTheProblemLiveAndOffline) {
  WorkflowTestEnv& env = this->open();
  auto done = env.engine().template start<int>("abc", "r1", 4);
  ASSERT_EQ(*env.run_to_completion(*done), 55);
  for (int pass = 0; pass < 2; ++pass) {
    SCOPED_TRACE(pass == 0 ? "live" : "offline");
    EXPECT_EQ(run_admin_command(this->path_, this->signal("nope", "x")).status().code(), StatusCode::kNotFound);
    EXPECT_EQ(run_admin_command(this->path_, this->signal("r1", "x")).status().code(),
              StatusCode::kFailedPrecondition);
    EXPECT_EQ(run_admin_command(this->path_, this->command(AdminOp::kCancel, "r1")).status().code(),
              StatusCode::kFailedPrecondition);
    Result<AdminOutcome> retry = run_admin_command(this->path_, this->command(AdminOp::kRetry, "r1"));
    EXPECT_EQ(retry.status().code(), StatusCode::kFailedPrecondition);
    EXPECT_NE(retry.status().message().find("completed"), std::string_view::npos) << retry.status();
    AdminCommand fork = this->command(AdminOp::kFork, "r1");
    fork.from_step = 4;
    fork.new_run = "f";
    Result<AdminOutcome> too_far = run_admin_command(this->path_, fork);
    EXPECT_EQ(too_far.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(too_far.status().message().find("3 journaled step results"), std::string_view::npos)
        << too_far.status();
    fork.from_step = 1;
    fork.new_run = "r1";
    EXPECT_EQ(run_admin_command(this->path_, fork).status().code(), StatusCode::kInvalidArgument);
    fork.new_run = "";
    EXPECT_EQ(run_admin_command(this->path_, fork).status().code(), StatusCode::kInvalidArgument);
    this->close();
  }
  // Nothing was written by the refused commands: r1 holds its 3 steps and
  // its two RUN records only.
  auto journal = TypeParam::open(this->path_, JournalOptions{});
  ASSERT_TRUE(journal.is_ok());
  int records = 0;
  ASSERT_TRUE((*journal)->scan_owner(workflow_owner("r1"), 1, [&](const Record&) { return ++records, true; }).is_ok());
  EXPECT_EQ(records, 5);
  Result<std::vector<OwnerInfo>> owners = (*journal)->owners();
  ASSERT_TRUE(owners.is_ok());
  EXPECT_EQ(owners->size(), 1u);
}

TYPED_TEST(AdminTest, ALiveProcessWithoutAnEndpointIsNamed) {
  WorkflowTestEnv& env = this->open(/*admin=*/false);
  ASSERT_TRUE(env.engine().template start<std::string>("wait", "w1", 0).is_ok());
  ASSERT_TRUE(env.run_until_blocked().is_ok());
  Result<AdminOutcome> out = run_admin_command(this->path_, this->signal("w1", "x"));
  EXPECT_EQ(out.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(out.status().message().find("announces no admin endpoint"), std::string_view::npos) << out.status();
  // The refused command took nothing over: the engine's next commits land.
  auto run = env.engine().template handle<std::string>("w1");
  Future<void> signalled = env.engine().signal("w1", "go", std::string("in process"));
  EXPECT_EQ(*env.run_to_completion(run), "got in process");
  EXPECT_TRUE(signalled.get().is_ok());
}

TYPED_TEST(AdminTest, AWrongTokenIsRefused) {
  WorkflowTestEnv& env = this->open();
  ASSERT_TRUE(env.engine().template start<std::string>("wait", "w1", 0).is_ok());
  ASSERT_TRUE(env.run_until_blocked().is_ok());
  this->forge_token();
  Result<AdminOutcome> out = run_admin_command(this->path_, this->signal("w1", "x"));
  EXPECT_EQ(out.status().code(), StatusCode::kUnauthenticated) << out.status();
  Result<RunInfo> info = env.engine().describe("w1");
  ASSERT_TRUE(info.is_ok());
  EXPECT_EQ(info->status, RunStatus::kRunning);
}

#ifdef KEEL_JOURNAL_TEST_POSTGRES
// What only a PostgreSQL journal has: writers that are not engines, and
// engines on other hosts.
using PgAdminTest = AdminTest<testing::PgBackend>;

TEST_F(PgAdminTest, ALiveWriterWithoutAnEndpointIsRefusedAndNotFenced) {
  auto writer = testing::PgBackend::open(path_, JournalOptions{});
  ASSERT_TRUE(writer.is_ok()) << writer.status();
  ASSERT_TRUE((*writer)->append({{"actor/a", RecordKind::kEvent, "before"}}).is_ok());
  Result<AdminOutcome> out = run_admin_command(path_, signal("w1", "x"));
  EXPECT_EQ(out.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(out.status().message().find("announces no admin endpoint"), std::string_view::npos) << out.status();
  EXPECT_NE(out.status().message().find("pid"), std::string_view::npos) << "names the writer: " << out.status();
  Result<LsnRange> after = (*writer)->append({{"actor/a", RecordKind::kEvent, "after"}});
  EXPECT_TRUE(after.is_ok()) << after.status();
}

TEST_F(PgAdminTest, AnEngineAnnouncedOnAnotherHostIsNamedAndNotFenced) {
  auto writer = testing::PgBackend::open(path_, JournalOptions{});
  ASSERT_TRUE(writer.is_ok()) << writer.status();
  announce_row("elsewhere.example", "keel-admin-0", "00");
  Result<AdminOutcome> out = run_admin_command(path_, signal("w1", "x"));
  EXPECT_EQ(out.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(out.status().message().find("runs on host elsewhere.example (pid 4242)"), std::string_view::npos)
      << out.status();
  EXPECT_TRUE((*writer)->append({{"actor/a", RecordKind::kEvent, "still mine"}}).is_ok());
}

TEST_F(PgAdminTest, AStaleAnnouncementOfAnotherHostFallsBackToTheJournal) {
  {
    WorkflowTestEnv& env = open();
    ASSERT_TRUE(env.engine().start<std::string>("wait", "w1", 0).is_ok());
    ASSERT_TRUE(env.run_until_blocked().is_ok());
    close();
  }
  // What an engine killed on another host leaves: its row, and no live lock.
  announce_row("elsewhere.example", "keel-admin-0", "00");
  Result<AdminOutcome> out = run_admin_command(path_, signal("w1", "from afar"));
  ASSERT_TRUE(out.is_ok()) << out.status();
  EXPECT_FALSE(out->live);
  WorkflowTestEnv& env = open();
  EXPECT_EQ(*env.run_to_completion(env.engine().handle<std::string>("w1")), "got from afar");
}
#endif

}  // namespace
}  // namespace keel
