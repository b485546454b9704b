// `keel ui` without a browser: its /api/ documents are byte for byte what
// `keel journal ... --json` and `keel workflow ... --json` print, it answers
// bad requests with a clear status and goes on serving, it follows a
// journal that grows, and it stops cleanly on SIGTERM. Journals are made by
// the real workflow engine, on both backends.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "journal/backends.h"
#include "keel/journal/pg_journal.h"
#include "tools/cli_process.h"
#include "tools/ui_process.h"
#include "tools/workflow_runs.h"

namespace keel::testing {
namespace {

template <class B>
class UiHttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/keel-uihttp-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    path_ = B::journal_path(dir_);
    write_example_runs<B>(path_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // `keel <args...> --journal <path> --json`
  CliRun keel_json(std::vector<std::string> args) {
    args.insert(args.end(), {"--journal", path_, "--json"});
    return run_keel(args);
  }

  std::string dir_;
  std::string path_;
};
TYPED_TEST_SUITE(UiHttpTest, Backends, BackendNames);

TYPED_TEST(UiHttpTest, ApiDocumentsAreTheCommandLinesJson) {
  UiProcess ui(this->path_);
  ASSERT_NE(ui.port(), 0) << ui.out() << ui.err();
  const std::vector<std::pair<std::string, std::vector<std::string>>> cases = {
      {"/api/stats", {"journal", "stats"}},
      {"/api/owners", {"journal", "ls"}},
      {"/api/owners?kind=workflow&status=running", {"journal", "ls", "--kind", "workflow", "--status", "running"}},
      {"/api/owner/workflow%2Fo-1", {"journal", "show", "workflow/o-1"}},
      {"/api/owner/p-1", {"journal", "show", "p-1"}},
      {"/api/runs", {"workflow", "ls"}},
      {"/api/runs?status=failed", {"workflow", "ls", "--status", "failed"}},
      {"/api/runs?workflow=order", {"workflow", "ls", "--workflow", "order"}},
      {"/api/run/o-1", {"workflow", "show", "o-1"}},
      {"/api/run/workflow%2Fe-1", {"workflow", "show", "workflow/e-1"}},
  };
  for (const auto& [target, args] : cases) {
    const HttpReply reply = http_get(ui.port(), target);
    const CliRun cli = this->keel_json(args);
    ASSERT_EQ(cli.exit_code, 0) << cli.err;
    EXPECT_EQ(reply.status, 200) << target << "\n" << reply.body;
    EXPECT_TRUE(has(reply.head, "Content-Type: application/json")) << reply.head;
    EXPECT_EQ(reply.body, cli.out) << target;
    EXPECT_TRUE(JsonCheck::valid(reply.body)) << reply.body;
  }
  EXPECT_EQ(ui.stop(), 0) << ui.err();
}

TYPED_TEST(UiHttpTest, TheRootIsOneSelfContainedPage) {
  UiProcess ui(this->path_);
  ASSERT_NE(ui.port(), 0) << ui.out() << ui.err();
  const HttpReply page = http_get(ui.port(), "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_TRUE(has(page.head, "Content-Type: text/html; charset=utf-8")) << page.head;
  EXPECT_TRUE(has(page.head, "Content-Security-Policy: default-src 'none';")) << page.head;
  EXPECT_TRUE(has(page.body, "<title>Keel journal</title>")) << page.body.substr(0, 300);
  for (const char* remote : {"src=\"http", "href=\"http", "@import", "//cdn"}) {
    EXPECT_FALSE(has(page.body, remote)) << remote;
  }
}

TYPED_TEST(UiHttpTest, BadRequestsGetAClearStatusAndTheServerGoesOn) {
  UiProcess ui(this->path_);
  ASSERT_NE(ui.port(), 0) << ui.out() << ui.err();
  const std::string host = "Host: 127.0.0.1:" + std::to_string(ui.port()) + "\r\n";
  struct Case {
    std::string request;
    int status;
    std::string error;  // a part of the JSON error
  };
  const std::vector<Case> cases = {
      {"NONSENSE\r\n\r\n", 400, "malformed request line"},
      {"GET /\r\n\r\n", 400, "malformed request line"},
      {"GET / HTTP/2.0\r\n\r\n", 400, "unsupported HTTP version"},
      {"GET http://example.com/ HTTP/1.1\r\n\r\n", 400, "the target must be a path"},
      {"GET /api/stats HTTP/1.1\r\nno colon here\r\n\r\n", 400, "malformed header line"},
      {"GET /api/run/%zz HTTP/1.1\r\n\r\n", 400, "bad percent escape"},
      {"GET /api/run/../stats HTTP/1.1\r\n" + host + "\r\n", 400, "dot segments are not allowed"},
      {"GET /api/owner/%2e%2e%2fetc HTTP/1.1\r\n" + host + "\r\n", 400, "dot segments are not allowed"},
      {"GET / HTTP/1.1\r\nX-Big: " + std::string(20000, 'x') + "\r\n\r\n", 431, "request head over 16384 bytes"},
      {"POST /api/stats HTTP/1.1\r\n" + host + "Content-Length: 2\r\n\r\n{}", 405, "only GET is served"},
      {"GET /etc/passwd HTTP/1.1\r\n" + host + "\r\n", 404, "no such path: /etc/passwd"},
      {"GET /api HTTP/1.1\r\n" + host + "\r\n", 404, "no such path: /api"},
      {"GET /api/run/ HTTP/1.1\r\n" + host + "\r\n", 404, "no such path: /api/run/"},
      {"GET /api/run/nope HTTP/1.1\r\n" + host + "\r\n", 404, "no workflow run 'nope' in the journal"},
      {"GET /api/owner/nope HTTP/1.1\r\n" + host + "\r\n", 404, "no owner 'nope' in the journal"},
      {"GET /api/runs?status=asleep HTTP/1.1\r\n" + host + "\r\n", 400, "--status must be running"},
      {"GET /api/owners?kind=robot HTTP/1.1\r\n" + host + "\r\n", 400, "--kind must be actor, workflow or other"},
      {"GET /api/stats HTTP/1.1\r\nHost: attacker.example:80\r\n\r\n", 403, "only requests for a loopback host"},
  };
  for (const Case& c : cases) {
    const HttpReply reply = http_exchange(ui.port(), c.request);
    EXPECT_EQ(reply.status, c.status) << c.request.substr(0, 80) << "\n" << reply.head << "\n" << reply.body;
    EXPECT_TRUE(has(reply.head, "Content-Type: application/json")) << reply.head;
    EXPECT_TRUE(JsonCheck::valid(reply.body)) << reply.body;
    EXPECT_TRUE(has(reply.body, "\"status\":" + std::to_string(c.status))) << reply.body;
    EXPECT_TRUE(has(reply.body, c.error)) << c.request.substr(0, 80) << "\n" << reply.body;
    // Whatever came before, the next request is served.
    EXPECT_EQ(http_get(ui.port(), "/api/stats").status, 200) << "after " << c.request.substr(0, 80);
  }
  EXPECT_EQ(http_exchange(ui.port(), "GET /api/stats HTTP/1.1\r\nHost: localhost:1\r\n\r\n").status, 200);
  EXPECT_EQ(http_exchange(ui.port(), "GET /api/stats HTTP/1.0\r\n\r\n").status, 200);
  EXPECT_EQ(ui.stop(), 0) << ui.err();
}

TYPED_TEST(UiHttpTest, EachRequestSeesRecordsCommittedSinceTheLast) {
  UiProcess ui(this->path_);
  ASSERT_NE(ui.port(), 0) << ui.out() << ui.err();
  const HttpReply before = http_get(ui.port(), "/api/runs");
  ASSERT_EQ(before.status, 200);
  EXPECT_FALSE(has(before.body, "\"run\":\"o-2\"")) << before.body;
  EXPECT_EQ(http_get(ui.port(), "/api/run/o-2").status, 404);

  append_order_run<TypeParam>(this->path_, "o-2");  // beside the running server, which only reads

  const HttpReply after = http_get(ui.port(), "/api/runs");
  ASSERT_EQ(after.status, 200);
  EXPECT_TRUE(has(after.body, "{\"run\":\"o-2\",\"owner\":\"workflow/o-2\",\"workflow\":\"order\","
                              "\"status\":\"completed\""))
      << after.body;
  const HttpReply run = http_get(ui.port(), "/api/run/o-2");
  EXPECT_EQ(run.status, 200);
  EXPECT_TRUE(has(run.body, "\"result\":\"reserved o-2, 120, shipped o-2\"")) << run.body;
  EXPECT_EQ(ui.stop(), 0) << ui.err();
}

TYPED_TEST(UiHttpTest, TheCommandReportsItsUsageAndStopsOnSigterm) {
  UiProcess ui(this->path_);
  ASSERT_NE(ui.port(), 0) << ui.out() << ui.err();
  EXPECT_TRUE(has(ui.out(), "(journal " + redacted_journal_path(this->path_) + "; Ctrl-C stops)")) << ui.out();
  EXPECT_EQ(ui.stop(), 0) << ui.err();
  EXPECT_EQ(ui.err(), "");

  CliRun help = run_keel({"ui", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_TRUE(has(help.out, "usage: keel ui") && has(help.out, "no authentication")) << help.out;
  CliRun overview = run_keel({"--help"});
  EXPECT_TRUE(has(overview.out, "keel ui [--port N]")) << overview.out;

  CliRun bad_port = run_keel({"ui", "--journal", this->path_, "--port", "70000"});
  EXPECT_EQ(bad_port.exit_code, 2);
  EXPECT_TRUE(has(bad_port.err, "--port must be at most 65535")) << bad_port.err;
  CliRun bad_host = run_keel({"ui", "--journal", this->path_, "--host", "not-an-address"});
  EXPECT_EQ(bad_host.exit_code, 2);
  EXPECT_TRUE(has(bad_host.err, "--host must be an IP address")) << bad_host.err;
  CliRun no_journal = run_keel({"ui", "--journal", this->dir_ + "/absent.db"});
  EXPECT_EQ(no_journal.exit_code, 3) << no_journal.err;
  CliRun stray = run_keel({"ui", "extra"});
  EXPECT_EQ(stray.exit_code, 2);
}

TYPED_TEST(UiHttpTest, APortInUseIsAnIoError) {
  UiProcess first(this->path_);
  ASSERT_NE(first.port(), 0) << first.out() << first.err();
  CliRun second = run_keel({"ui", "--journal", this->path_, "--port", std::to_string(first.port())});
  EXPECT_EQ(second.exit_code, 9) << second.err;
  EXPECT_TRUE(has(second.err, "cannot bind 127.0.0.1 port " + std::to_string(first.port()))) << second.err;
}

}  // namespace
}  // namespace keel::testing
