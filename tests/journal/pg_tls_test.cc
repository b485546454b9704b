// A PostgreSQL journal over TLS: a server of the test's own listens on a TCP
// port of 127.0.0.1 with a self-signed certificate that openssl makes at
// test time (no network), and a journal named with sslmode=require writes,
// reads and verifies through it, every one of its connections encrypted.
#include <string>
#include <vector>

#include "journal_test_util.h"
#include "pg_backend.h"
#include "support/pg_test_server.h"

namespace keel::testing {
namespace {

TEST(PgJournalTls, AJournalWithSslmodeRequireWorksAndEveryConnectionOfItIsEncrypted) {
  TempDir dir;
  const int port = free_tcp_port();
  ASSERT_NE(port, 0) << "no free TCP port on 127.0.0.1";
  OwnPgServer server(dir.path() + "/server", port);
  ASSERT_TRUE(server.start()) << "scripts/pg_test_server.sh start (with TLS) failed: its message above says why";
  const std::string path = with_schema(server.tls_url(), "tls");
  ASSERT_NE(path.find("sslmode=require"), std::string::npos);

  auto writer = PgBackend::open(path, JournalOptions{});
  ASSERT_OK(writer);
  for (int i = 0; i < 10; ++i) ASSERT_OK((*writer)->append(one("owner", "p" + std::to_string(i))));
  JournalOptions ro;
  ro.read_only = true;
  auto reader = PgBackend::open(path, ro);
  ASSERT_OK(reader);
  EXPECT_EQ(all_records(**reader).size(), 10u);
  EXPECT_TRUE(problems(**reader).empty());

  PgRaw raw(path);
  ASSERT_TRUE(raw.ok()) << PQerrorMessage(raw.get());
  EXPECT_EQ(raw.value("SELECT ssl::text FROM pg_stat_ssl WHERE pid = pg_backend_pid()"), "true");
  // The writer's, the reader's and this one: all over TCP, all encrypted.
  const std::string tcp = "FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.client_port IS NOT NULL";
  EXPECT_GE(std::stoi(raw.value("SELECT count(*) " + tcp)), 3);
  EXPECT_EQ(raw.value("SELECT count(*) " + tcp + " AND NOT s.ssl"), "0");
}

}  // namespace
}  // namespace keel::testing
