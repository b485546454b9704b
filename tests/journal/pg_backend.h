// pg_backend.h: the PostgreSQL journal as a type parameter of the typed
// journal suites, with a raw libpq connection for the tests that damage a
// journal behind its back. Each test directory gets its own schema (named
// by a hash of its path) in the test server that the CTest fixture keel_pg starts
// (scripts/pg_test_server.sh); its URL comes from $KEEL_PG_URL, or from the
// file $KEEL_PG_URL_FILE names. Without either, opens fail, saying so.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "journal_internal.h"
#include "keel/journal/journal.h"
#include "keel/journal/pg_journal.h"
#include "record_format.h"
#include "support/pg_test_server.h"  // with_schema

namespace keel::testing {

// The test server's URL, or an error saying why there is none.
inline Result<std::string> pg_test_url() {
  if (const char* url = std::getenv("KEEL_PG_URL"); url != nullptr && *url != '\0') return std::string(url);
  const char* file = std::getenv("KEEL_PG_URL_FILE");
  if (file == nullptr) {
    return Status::unavailable(
        "no PostgreSQL test server: neither KEEL_PG_URL nor KEEL_PG_URL_FILE is set (CTest's fixture keel_pg "
        "starts one with scripts/pg_test_server.sh start DIR)");
  }
  std::ifstream in(file);
  std::string url;
  if (!std::getline(in, url) || url.empty()) {
    return Status::unavailable(std::string("no PostgreSQL test server: ") + file +
                               " is missing or empty (did the fixture test pg_server_start fail? its output says why)");
  }
  return url;
}

// A raw connection to the server of a journal path (its keel_schema
// parameter taken off); runs SQL in which "S." names the journal's schema.
class PgRaw {
 public:
  explicit PgRaw(const std::string& path) {
    const std::size_t k = path.rfind("keel_schema=");
    schema_ = path.substr(k + 12);
    const std::string url = path.substr(0, k - 1);
    conn_ = PQconnectdb(url.c_str());
  }
  ~PgRaw() { PQfinish(conn_); }
  PgRaw(const PgRaw&) = delete;
  PgRaw& operator=(const PgRaw&) = delete;

  bool ok() const { return PQstatus(conn_) == CONNECTION_OK; }
  PGconn* get() const { return conn_; }
  std::string sql(const std::string& text) const {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text.compare(i, 2, "S.") == 0 && (i == 0 || text[i - 1] == ' ' || text[i - 1] == '(')) {
        out += schema_;
      } else {
        out.push_back(text[i]);
      }
    }
    return out;
  }
  // Runs `text` (several statements allowed); true on success.
  bool exec(const std::string& text) {
    PGresult* r = PQexec(conn_, sql(text).c_str());
    const ExecStatusType st = PQresultStatus(r);
    PQclear(r);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
  }
  // The first column of the first row of `text` (text format); empty when none.
  std::string value(const std::string& text) {
    PGresult* r = PQexec(conn_, sql(text).c_str());
    std::string v = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "";
    PQclear(r);
    return v;
  }
  const std::string& schema() const { return schema_; }

 private:
  PGconn* conn_ = nullptr;
  std::string schema_;
};

struct PgBackend {
  static constexpr const char* kName = "postgresql";
  static constexpr const char* kBackend = "postgresql";  // as stats() names it
  // A second writable open takes the journal over (fencing the first).
  static constexpr bool kSecondWriterFences = true;
  // A schema per test directory: "t_" + a 64-bit FNV-1a hash of its path.
  static std::string journal_path(const std::string& dir) {
    auto url = pg_test_url();
    std::uint64_t h = 14695981039346656037ull;
    for (unsigned char c : dir) h = (h ^ c) * 1099511628211ull;
    char schema[32];
    std::snprintf(schema, sizeof schema, "t_%016llx", static_cast<unsigned long long>(h));
    return with_schema(url.has_value() ? *url : std::string("postgresql://no-test-server"), schema);
  }
  static Result<std::unique_ptr<Journal>> open(const std::string& path, const JournalOptions& o,
                                               const internal::BackendHooks& hooks = {}) {
    auto url = pg_test_url();
    if (!url.has_value()) return url.status();
    return internal::open_pg_journal(path, o, hooks);
  }
  static bool corrupt_payload(const std::string& path, Lsn lsn) {
    return PgRaw(path).exec("UPDATE S.records SET payload = 'X'::bytea || substring(payload from 2) WHERE lsn = " +
                            std::to_string(lsn));
  }
  static bool set_format_version(const std::string& path, int version) {
    return PgRaw(path).exec("UPDATE S.meta SET value = '" + std::to_string(version) + "' WHERE key = 'format_version'");
  }
  static bool drop_snapshot_index(const std::string& path) { return PgRaw(path).exec("DROP INDEX S.records_snapshots"); }
  static int format_version(const std::string& path) {
    const std::string v = PgRaw(path).value("SELECT value FROM S.meta WHERE key = 'format_version'");
    return v.empty() ? -1 : std::atoi(v.c_str());
  }
  // Rewrites a closed journal as format 1 would have: version 1 in the
  // header and in every record, checksums to match.
  static bool to_format1(const std::string& path) {
    PgRaw raw(path);
    PGresult* r = PQexecParams(raw.get(),
                               raw.sql("SELECT lsn, owner, seq, kind, time_ns, compacted, payload FROM S.records").c_str(),
                               0, nullptr, nullptr, nullptr, nullptr, 1);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
      PQclear(r);
      return false;
    }
    auto be = [&](int row, int col) {
      std::uint64_t v = 0;
      const char* p = PQgetvalue(r, row, col);
      for (int i = 0; i < PQgetlength(r, row, col); ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
      return v;
    };
    std::string updates = "BEGIN;";
    for (int i = 0; i < PQntuples(r); ++i) {
      Record rec;
      rec.lsn = be(i, 0);
      rec.owner.assign(PQgetvalue(r, i, 1), PQgetlength(r, i, 1));
      rec.seq = be(i, 2);
      rec.kind = static_cast<RecordKind>(be(i, 3));
      rec.time = internal::from_time_ns(static_cast<std::int64_t>(be(i, 4)));
      rec.compacted = be(i, 5) != 0;
      rec.payload.assign(PQgetvalue(r, i, 6), PQgetlength(r, i, 6));
      rec.format_version = 1;
      updates += "UPDATE S.records SET version = 1, crc = " + std::to_string(internal::record_checksum(rec)) +
                 " WHERE lsn = " + std::to_string(rec.lsn) + ";";
    }
    PQclear(r);
    return raw.exec(updates + "UPDATE S.meta SET value = '1' WHERE key = 'format_version'; COMMIT");
  }
  static bool drop_summaries(const std::string& path) { return PgRaw(path).exec("DROP TABLE S.owners, S.counters"); }
  static bool has_summaries(const std::string& path) {
    return PgRaw(path).exec("SELECT 1 FROM S.counters; SELECT 1 FROM S.owners");
  }
  static Lsn counters_as_of(const std::string& path) {
    const std::string v = PgRaw(path).value("SELECT value FROM S.counters WHERE name = 'as_of_lsn'");
    return v.empty() ? kNoLsn : static_cast<Lsn>(std::strtoull(v.c_str(), nullptr, 10));
  }
  static bool rewind_counters(const std::string& path) {
    return PgRaw(path).exec("UPDATE S.counters SET value = value + 1000 WHERE name = 'records.event';"
                            "UPDATE S.counters SET value = value - 1 WHERE name = 'as_of_lsn'");
  }
  static bool delete_record(const std::string& path, Lsn lsn) {
    return PgRaw(path).exec("DELETE FROM S.records WHERE lsn = " + std::to_string(lsn));
  }
  // A schema that holds a table but no journal.
  static bool make_foreign(const std::string& path) {
    PgRaw raw(path);
    return raw.exec("CREATE SCHEMA " + raw.schema() + "; CREATE TABLE S.t (x integer)");
  }
};

// The same journal written as one of a cluster's writers does: opened
// without claiming (JournalOptions::pg_claim_all_shards = false), then
// every shard claimed with claim_pg_shards and handed to it with
// hold_pg_shards. Its commits take the shared path: LSNs from the stored
// highest, checkpoints the server computes, fencing per shard.
struct PgSharedBackend : PgBackend {
  static constexpr const char* kName = "postgresql_shared";
  static Result<std::unique_ptr<Journal>> open(const std::string& path, const JournalOptions& o,
                                               const internal::BackendHooks& hooks = {}) {
    auto url = pg_test_url();
    if (!url.has_value()) return url.status();
    JournalOptions shared = o;
    shared.pg_claim_all_shards = false;
    KEEL_ASSIGN_OR_RETURN(std::unique_ptr<Journal> j, internal::open_pg_journal(path, shared, hooks));
    if (o.read_only) return j;
    std::vector<std::uint32_t> all(kPgShards);
    for (std::uint32_t s = 0; s < kPgShards; ++s) all[s] = s;
    KEEL_ASSIGN_OR_RETURN(std::vector<PgShardEpoch> epochs, claim_pg_shards(path, all, "a test's cluster writer"));
    KEEL_RETURN_IF_ERROR(hold_pg_shards(*j, epochs));
    return j;
  }
};

}  // namespace keel::testing
