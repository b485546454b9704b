// backends.h: the journal backends as type parameters of the typed suites,
// with the raw-handle operations the tests use to damage a journal behind
// its back. A suite built with KEEL_JOURNAL_TEST_POSTGRES runs over the
// PostgreSQL journal (pg_backend.h, against the test server); otherwise over
// SQLite and RocksDB.
#pragma once

#include <rocksdb/db.h>
#include <sqlite3.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "journal_internal.h"
#ifdef KEEL_JOURNAL_TEST_POSTGRES
#include "pg_backend.h"  // libpq: only the suites built for PostgreSQL link it
#endif
#include "keel/journal/journal.h"
#include "record_format.h"

namespace keel::testing {

struct SqliteBackend {
  static constexpr const char* kName = "sqlite";
  static constexpr const char* kBackend = kName;  // as stats() names it
  static constexpr bool kSecondWriterFences = false;  // refused: the lock file
  static std::string journal_path(const std::string& dir) { return dir + "/journal.db"; }
  static Result<std::unique_ptr<Journal>> open(const std::string& path, const JournalOptions& o,
                                               const internal::BackendHooks& hooks = {}) {
    return internal::open_sqlite_journal(path, o, hooks);
  }
  // Runs `sql` through a raw connection; returns the SQLite result code.
  static int exec(const std::string& path, const std::string& sql) {
    sqlite3* db = nullptr;
    int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr);
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr);
    sqlite3_close_v2(db);
    return rc;
  }
  // Replaces the first payload byte of `lsn` with 'X' on disk, leaving its
  // CRC alone (test payloads are ASCII and never start with 'X').
  static bool corrupt_payload(const std::string& path, Lsn lsn) {
    return exec(path, "UPDATE records SET payload = CAST('X' || substr(payload, 2) AS BLOB) "
                      "WHERE lsn = " + std::to_string(lsn)) == SQLITE_OK;
  }
  static bool set_format_version(const std::string& path, int version) {
    return exec(path, "UPDATE meta SET value = " + std::to_string(version) +
                          " WHERE key = 'format_version'") == SQLITE_OK;
  }
  // Makes the journal look like one written before the snapshot index.
  static bool drop_snapshot_index(const std::string& path) {
    return exec(path, "DROP INDEX records_snapshots") == SQLITE_OK;
  }
  // The header's format_version; -1 when unreadable.
  static int format_version(const std::string& path) {
    sqlite3* db = nullptr;
    sqlite3_stmt* s = nullptr;
    int v = -1;
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE key = 'format_version'", -1, &s, nullptr) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
      v = sqlite3_column_int(s, 0);
    }
    sqlite3_finalize(s);
    sqlite3_close_v2(db);
    return v;
  }
  // Rewrites a closed journal as format 1 wrote it: the same tables, with
  // version 1 in the header and in every record (checksums to match).
  static bool to_format1(const std::string& path) {
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) return false;
    sqlite3_stmt* select = nullptr;
    sqlite3_stmt* update = nullptr;
    bool ok = sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr) == SQLITE_OK &&
              sqlite3_prepare_v2(db, "SELECT lsn, owner, seq, kind, time_ns, compacted, payload FROM records", -1,
                                 &select, nullptr) == SQLITE_OK &&
              sqlite3_prepare_v2(db, "UPDATE records SET version = 1, crc = ?1 WHERE lsn = ?2", -1, &update,
                                 nullptr) == SQLITE_OK;
    std::vector<std::pair<std::uint32_t, Lsn>> crcs;
    while (ok && sqlite3_step(select) == SQLITE_ROW) {
      Record r;
      r.lsn = static_cast<Lsn>(sqlite3_column_int64(select, 0));
      r.owner.assign(reinterpret_cast<const char*>(sqlite3_column_text(select, 1)), sqlite3_column_bytes(select, 1));
      r.seq = static_cast<std::uint64_t>(sqlite3_column_int64(select, 2));
      r.kind = static_cast<RecordKind>(sqlite3_column_int(select, 3));
      r.time = internal::from_time_ns(sqlite3_column_int64(select, 4));
      r.compacted = sqlite3_column_int(select, 5) != 0;
      r.payload.assign(static_cast<const char*>(sqlite3_column_blob(select, 6)), sqlite3_column_bytes(select, 6));
      r.format_version = 1;
      crcs.emplace_back(internal::record_checksum(r), r.lsn);
    }
    for (const auto& [crc, lsn] : crcs) {
      sqlite3_bind_int64(update, 1, crc);
      sqlite3_bind_int64(update, 2, static_cast<std::int64_t>(lsn));
      ok = ok && sqlite3_step(update) == SQLITE_DONE;
      sqlite3_reset(update);
    }
    sqlite3_finalize(select);
    sqlite3_finalize(update);
    ok = ok && sqlite3_exec(db, "UPDATE meta SET value = 1 WHERE key = 'format_version'; COMMIT", nullptr, nullptr,
                            nullptr) == SQLITE_OK;
    sqlite3_close_v2(db);
    return ok;
  }
  // Makes the journal look like one written before the counters and owner
  // summaries.
  static bool drop_summaries(const std::string& path) {
    return exec(path, "DROP TABLE owners; DROP TABLE counters") == SQLITE_OK;
  }
  static bool has_summaries(const std::string& path) {
    return exec(path, "SELECT 1 FROM counters; SELECT 1 FROM owners") == SQLITE_OK;
  }
  // The LSN the counters count up to; kNoLsn when unreadable.
  static Lsn counters_as_of(const std::string& path) {
    sqlite3* db = nullptr;
    sqlite3_stmt* s = nullptr;
    Lsn as_of = kNoLsn;
    if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT value FROM counters WHERE name = 'as_of_lsn'", -1, &s, nullptr) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
      as_of = static_cast<Lsn>(sqlite3_column_int64(s, 0));
    }
    sqlite3_finalize(s);
    sqlite3_close_v2(db);
    return as_of;
  }
  // Makes the counters look as if a writer that does not know them appended
  // a record: counting one LSN less, with wrong counts.
  static bool rewind_counters(const std::string& path) {
    return exec(path, "UPDATE counters SET value = value + 1000 WHERE name = 'records.event';"
                      "UPDATE counters SET value = value - 1 WHERE name = 'as_of_lsn'") == SQLITE_OK;
  }
  // Deletes the record at `lsn` behind the journal's back (damage).
  static bool delete_record(const std::string& path, Lsn lsn) {
    return exec(path, "DELETE FROM records WHERE lsn = " + std::to_string(lsn)) == SQLITE_OK;
  }
  // A valid SQLite database that is not a journal.
  static bool make_foreign(const std::string& path) {
    sqlite3* db = nullptr;
    int rc = sqlite3_open(path.c_str(), &db);
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, "CREATE TABLE t (x)", nullptr, nullptr, nullptr);
    sqlite3_close(db);
    return rc == SQLITE_OK;
  }
};

struct RocksBackend {
  static constexpr const char* kName = "rocksdb";
  static constexpr const char* kBackend = kName;
  static constexpr bool kSecondWriterFences = false;  // refused: RocksDB's LOCK
  static std::string journal_path(const std::string& dir) { return dir + "/journal.rocks"; }
  static Result<std::unique_ptr<Journal>> open(const std::string& path, const JournalOptions& o,
                                               const internal::BackendHooks& hooks = {}) {
    return internal::open_rocks_journal(path, o, hooks);
  }
  static std::unique_ptr<rocksdb::DB> raw(const std::string& path) {
    rocksdb::DB* db = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(rocksdb::Options(), path, &db);
    return s.ok() ? std::unique_ptr<rocksdb::DB>(db) : nullptr;
  }
  // Read-only, so also beside a live writer.
  static std::unique_ptr<rocksdb::DB> raw_read_only(const std::string& path) {
    rocksdb::DB* db = nullptr;
    rocksdb::Status s = rocksdb::DB::OpenForReadOnly(rocksdb::Options(), path, &db);
    return s.ok() ? std::unique_ptr<rocksdb::DB>(db) : nullptr;
  }
  static std::string lsn_key(Lsn lsn) {
    std::string k = "L";
    internal::put_be64(&k, lsn);
    return k;
  }
  // Flips the last byte of the value of `lsn` (its payload) on disk.
  static bool corrupt_payload(const std::string& path, Lsn lsn) {
    auto db = raw(path);
    if (!db) return false;
    std::string v;
    if (!db->Get(rocksdb::ReadOptions(), lsn_key(lsn), &v).ok() || v.empty()) return false;
    v.back() = static_cast<char>(v.back() ^ 1);
    rocksdb::WriteOptions w;
    w.sync = true;
    return db->Put(w, lsn_key(lsn), v).ok();
  }
  static bool set_format_version(const std::string& path, int version) {
    auto db = raw(path);
    return db && db->Put(rocksdb::WriteOptions(), "Mformat_version", std::to_string(version)).ok();
  }
  // Deletes the header entry `meta` and every key starting with `prefix`,
  // in one synced batch.
  static bool delete_meta_and_prefix(const std::string& path, const std::string& meta, const std::string& prefix) {
    auto db = raw(path);
    if (!db) return false;
    rocksdb::WriteBatch b;
    b.Delete(meta);
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) b.Delete(it->key());
    rocksdb::WriteOptions w;
    w.sync = true;
    return it->status().ok() && db->Write(w, &b).ok();
  }
  // Makes the journal look like one written before the snapshot index.
  static bool drop_snapshot_index(const std::string& path) {
    return delete_meta_and_prefix(path, "Msnapshot_index", "S");
  }
  // The header's format_version; -1 when unreadable.
  static int format_version(const std::string& path) {
    auto db = raw_read_only(path);
    std::string v;
    return db && db->Get(rocksdb::ReadOptions(), "Mformat_version", &v).ok() ? std::atoi(v.c_str()) : -1;
  }
  // Rewrites a closed journal as format 1 wrote it: version 1 in the header
  // and in every record (checksums to match), and one owner-index entry per
  // record, whose value is the record's LSN.
  static bool to_format1(const std::string& path) {
    auto db = raw(path);
    if (!db) return false;
    rocksdb::WriteBatch b;
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
    std::vector<Lsn> lsns;
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const std::string key = it->key().ToString();
      const std::string_view value(it->value().data(), it->value().size());
      if (key[0] == 'L') {
        Record r;
        r.lsn = internal::get_be64(key.data() + 1);
        if (!internal::decode_record_value(value, &r).is_ok()) return false;
        r.format_version = 1;
        r.crc = internal::record_checksum(r);
        b.Put(key, internal::encode_record_value(r));
      } else if (key[0] == 'O') {
        const std::string owner = key.substr(1, key.find('\0') - 1);
        if (!internal::decode_owner_run(value, owner, &lsns).is_ok()) return false;
        b.Delete(key);
        for (std::size_t i = 0; i < lsns.size(); ++i) {
          std::string k = key.substr(0, key.size() - 8), v;
          internal::put_be64(&k, internal::get_be64(key.data() + key.size() - 8) + i);
          internal::put_be64(&v, lsns[i]);
          b.Put(k, v);
        }
      }
    }
    b.Put("Mformat_version", "1");
    rocksdb::WriteOptions w;
    w.sync = true;
    return it->status().ok() && db->Write(w, &b).ok();
  }
  // Makes the journal look like one written before the counters and owner
  // summaries.
  static bool drop_summaries(const std::string& path) { return delete_meta_and_prefix(path, "Mcounts", "N"); }
  // Deletes the record at `lsn` behind the journal's back (damage).
  static bool delete_record(const std::string& path, Lsn lsn) {
    auto db = raw(path);
    return db != nullptr && db->Delete(rocksdb::WriteOptions(), lsn_key(lsn)).ok();
  }
  static bool has_summaries(const std::string& path) {
    auto db = raw(path);
    std::string v;
    return db && db->Get(rocksdb::ReadOptions(), "Mcounts", &v).ok();
  }
  // The LSN the counters count up to; kNoLsn when unreadable.
  static Lsn counters_as_of(const std::string& path) {
    auto db = raw_read_only(path);
    std::string v;
    internal::JournalCounts c;
    if (!db || !db->Get(rocksdb::ReadOptions(), "Mcounts", &v).ok()) return kNoLsn;
    return internal::decode_counts(v, &c).is_ok() ? c.as_of : kNoLsn;
  }
  // Makes the counters look as if a writer that does not know them appended
  // a record: counting one LSN less, with wrong counts.
  static bool rewind_counters(const std::string& path) {
    auto db = raw(path);
    std::string v;
    if (!db || !db->Get(rocksdb::ReadOptions(), "Mcounts", &v).ok()) return false;
    internal::JournalCounts c;
    if (!internal::decode_counts(v, &c).is_ok() || c.as_of == 0) return false;
    c.as_of -= 1;
    c.by_kind[static_cast<std::size_t>(RecordKind::kEvent)] += 1000;
    rocksdb::WriteOptions w;
    w.sync = true;
    return db->Put(w, "Mcounts", internal::encode_counts(c)).ok();
  }
  // A RocksDB database that is not a journal.
  static bool make_foreign(const std::string& path) {
    rocksdb::Options o;
    o.create_if_missing = true;
    rocksdb::DB* db = nullptr;
    if (!rocksdb::DB::Open(o, path, &db).ok()) return false;
    std::unique_ptr<rocksdb::DB> owned(db);
    return db->Put(rocksdb::WriteOptions(), "some", "thing").ok();
  }
};

// The backends, for typed test suites, named by their kName in test names:
//   TYPED_TEST_SUITE(MyJournalTest, Backends, BackendNames);
#ifdef KEEL_JOURNAL_TEST_POSTGRES
#ifdef KEEL_JOURNAL_TEST_SHARED_WRITER
// The journal's own suites run over a cluster's writer too.
using Backends = ::testing::Types<PgBackend, PgSharedBackend>;
#else
using Backends = ::testing::Types<PgBackend>;
#endif
#else
using Backends = ::testing::Types<SqliteBackend, RocksBackend>;
#endif
class BackendNames {
 public:
  template <class T>
  static std::string GetName(int) {
    return T::kName;
  }
};

// Opens the journal at `path` with the backend whose kName is `name`, for a
// child process told its backend by name. kInvalidArgument for a name this
// build does not know (PostgreSQL: only suites built with
// KEEL_JOURNAL_TEST_POSTGRES).
inline Result<std::unique_ptr<Journal>> open_backend_named(std::string_view name, const std::string& path,
                                                           const JournalOptions& o) {
  if (name == SqliteBackend::kName) return SqliteBackend::open(path, o);
  if (name == RocksBackend::kName) return RocksBackend::open(path, o);
#ifdef KEEL_JOURNAL_TEST_POSTGRES
  if (name == PgBackend::kName) return PgBackend::open(path, o);
  if (name == PgSharedBackend::kName) return PgSharedBackend::open(path, o);
#endif
  return Status::invalid_argument("no journal backend named '" + std::string(name) + "' in this build");
}

}  // namespace keel::testing
