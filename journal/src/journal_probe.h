// journal_probe.h: checks that an existing file or directory is a Keel
// journal before an open writes anything to it or beside it (no lock file,
// no journal mode change, no RocksDB MANIFEST, LOG or OPTIONS file), so that
// a store refused as "not a Keel journal" is left byte for byte as it was.
// docs/journal-format.md, "File header".
#pragma once

#include <string>
#include <string_view>

#include "keel/base/status.h"

namespace rocksdb {
class Env;
}  // namespace rocksdb

namespace keel::internal {

// Checks the header entries read from a store (`what` names it in messages,
// e.g. "sqlite journal a.db"): ok for magic kJournalMagic, backend
// `expected_backend` and a format version this build reads. Errors:
// kCorruption (bad magic: "not a Keel journal"; a damaged backend or
// version entry), kFailedPrecondition (a newer format version).
Status check_header_entries(const std::string& what, std::string_view magic,
                            std::string_view format_version, std::string_view backend,
                            std::string_view expected_backend);

// Reads the header of the SQLite database at `path` (an existing, non-empty
// regular file) through a read-only connection on SQLite's VFS `vfs` (empty:
// the default). Without a "-wal" file beside it the whole database is in the
// file, and it is read as immutable, so SQLite creates no -wal or -shm
// file; otherwise the connection may create the -shm index of that -wal.
// Returns ok for a Keel journal and, when `allow_empty`, for a database with
// no schema at all (which a writable open that may create a journal turns
// into one). Errors:
// kCorruption ("not a Keel journal": not a SQLite database, tables but no
// Keel header; or a damaged header), kFailedPrecondition (a newer format
// version), kIoError (cannot read it).
Status probe_sqlite_journal(const std::string& path, const std::string& vfs, bool allow_empty);

// Reads the header of the RocksDB database in `dir` (an existing directory
// with a CURRENT file) as a read-only instance that writes nothing to the
// directory (its info log is discarded). `env` may be null (the default
// Env). Returns ok for a Keel journal and, when `allow_empty`, for a
// database that holds no key. Errors as probe_sqlite_journal.
Status probe_rocks_journal(const std::string& dir, rocksdb::Env* env, bool allow_empty);

}  // namespace keel::internal
