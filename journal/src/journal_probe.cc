#include "journal_probe.h"

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>

#include "record_format.h"

namespace keel::internal {
namespace {

// ---- SQLite -------------------------------------------------------------------

// kCorruption for a file SQLite does not read as a database ("not a Keel
// journal") or finds damaged, else kIoError.
Status sqlite_error(const std::string& path, sqlite3* db, std::string_view op, int rc) {
  const int primary = rc & 0xFF;
  if (primary == SQLITE_NOTADB) {
    return Status::corruption("sqlite journal " + path + ": not a Keel journal (" +
                              sqlite3_errstr(rc) + ")");
  }
  std::string msg = "sqlite journal " + path + ": " + std::string(op) + ": " +
                    (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  if (primary == SQLITE_CORRUPT) return Status::corruption(msg);
  return Status::io_error(msg);
}

// `path` as a SQLite URI filename ("file:" form, with %, ? and # escaped).
std::string file_uri(const std::string& path) {
  // An absolute path gets an empty authority, so "//host/x" is not read as one.
  std::string uri = path.rfind('/', 0) == 0 ? "file://" : "file:";
  for (char c : path) {
    if (c == '%' || c == '?' || c == '#') {
      char escaped[4];
      std::snprintf(escaped, sizeof escaped, "%%%02X", static_cast<unsigned char>(c));
      uri += escaped;
    } else {
      uri += c;
    }
  }
  return uri;
}

// Runs `sql` on `db`, calling `row` for each result row.
Status for_each_row(sqlite3* db, const std::string& path, const char* sql,
                    const std::function<void(sqlite3_stmt*)>& row) {
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v2(db, sql, -1, &s, nullptr);
  if (rc != SQLITE_OK) return sqlite_error(path, db, "read header", rc);
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) row(s);
  sqlite3_finalize(s);
  return rc == SQLITE_DONE ? Status::ok() : sqlite_error(path, db, "read header", rc);
}

std::string column_text(sqlite3_stmt* s, int col) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(s, col));
  return text != nullptr ? text : "";
}

// ---- RocksDB ------------------------------------------------------------------

// Drops every line: a read-only instance would otherwise write its LOG file
// into the directory it reads.
class DiscardLogger final : public rocksdb::Logger {
 public:
  using rocksdb::Logger::Logv;
  void Logv(const char* /*format*/, va_list /*ap*/) override {}
};

Status rocks_error(const std::string& dir, std::string_view op, const rocksdb::Status& s) {
  std::string msg = "rocksdb journal " + dir + ": " + std::string(op) + ": " + s.ToString();
  return s.IsCorruption() ? Status::corruption(msg) : Status::io_error(msg);
}

// The key of header entry `name`: 'M' + name (docs/journal-format.md, "RocksDB").
std::string rocks_meta_key(std::string_view name) { return "M" + std::string(name); }

}  // namespace

Status check_header_entries(const std::string& what, std::string_view magic,
                            std::string_view format_version, std::string_view backend,
                            std::string_view expected_backend) {
  if (magic != kJournalMagic) return Status::corruption(what + ": not a Keel journal (bad magic)");
  if (backend != expected_backend) {
    return Status::corruption(what + ": damaged header (backend '" + std::string(backend) + "')");
  }
  const std::string version(format_version);
  char* end = nullptr;
  const unsigned long v = std::strtoul(version.c_str(), &end, 10);
  if (version.empty() || *end != '\0') {
    return Status::corruption(what + ": damaged header (format_version '" + version + "')");
  }
  if (v > kJournalFormatVersion) {
    return Status::failed_precondition(what + " has format version " + std::to_string(v) +
                                       ", newer than this build reads (up to " +
                                       std::to_string(kJournalFormatVersion) + ")");
  }
  return Status::ok();
}

Status probe_sqlite_journal(const std::string& path, const std::string& vfs, bool allow_empty) {
  struct stat st;
  const bool has_wal = ::stat((path + "-wal").c_str(), &st) == 0;
  const std::string uri = file_uri(path) + (has_wal ? "" : "?immutable=1");
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(uri.c_str(), &raw,
                                 SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX,
                                 vfs.empty() ? nullptr : vfs.c_str());
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, sqlite3_close_v2);
  if (rc != SQLITE_OK) return sqlite_error(path, raw, "open", rc);
  sqlite3_busy_timeout(raw, 10000);
  int entries = 0;
  bool has_meta = false;
  KEEL_RETURN_IF_ERROR(
      for_each_row(raw, path, "SELECT name FROM sqlite_master", [&](sqlite3_stmt* s) {
        ++entries;
        has_meta = has_meta || column_text(s, 0) == "meta";
      }));
  if (entries == 0 && allow_empty) return Status::ok();
  if (!has_meta)
    return Status::corruption("sqlite journal " + path + ": not a Keel journal (no meta table)");
  std::map<std::string, std::string> meta;
  KEEL_RETURN_IF_ERROR(for_each_row(raw, path, "SELECT key, value FROM meta", [&](sqlite3_stmt* s) {
    meta[column_text(s, 0)] = column_text(s, 1);
  }));
  return check_header_entries("sqlite journal " + path, meta["magic"], meta["format_version"],
                              meta["backend"], "sqlite");
}

Status probe_rocks_journal(const std::string& dir, rocksdb::Env* env, bool allow_empty) {
  rocksdb::Options o;
  o.info_log = std::make_shared<DiscardLogger>();
  o.max_open_files = 16;  // tables are opened as the few reads below need them
  if (env != nullptr) o.env = env;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::OpenForReadOnly(o, dir, &raw);
  if (!s.ok()) return rocks_error(dir, "open", s);
  std::unique_ptr<rocksdb::DB> db(raw);
  std::string magic;
  s = db->Get(rocksdb::ReadOptions(), rocks_meta_key("magic"), &magic);
  if (s.IsNotFound()) {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions()));
    it->SeekToFirst();
    if (!it->status().ok()) return rocks_error(dir, "read header", it->status());
    if (!it->Valid() && allow_empty) return Status::ok();
    return Status::corruption("rocksdb journal " + dir + ": not a Keel journal (no header)");
  }
  if (!s.ok()) return rocks_error(dir, "read header", s);
  std::string version;
  std::string backend;
  for (auto [name, value] :
       {std::pair{"format_version", &version}, std::pair{"backend", &backend}}) {
    s = db->Get(rocksdb::ReadOptions(), rocks_meta_key(name), value);
    if (!s.ok() && !s.IsNotFound()) return rocks_error(dir, "read header", s);
  }
  return check_header_entries("rocksdb journal " + dir, magic, version, backend, "rocksdb");
}

}  // namespace keel::internal
