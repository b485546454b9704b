// journal_internal.h: open functions with backend hooks, for Keel's own
// tests (fault injection). Not installed and not part of the API.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "keel/base/status.h"
#include "keel/journal/journal.h"

namespace rocksdb {
class Env;
}  // namespace rocksdb

namespace keel::internal {

struct BackendHooks {
  // Name of a registered sqlite3_vfs to open SQLite journals with; empty
  // means SQLite's default VFS.
  std::string sqlite_vfs;
  // The Env a RocksDB journal uses; null means rocksdb::Env::Default(). Must
  // outlive the journal.
  rocksdb::Env* rocks_env = nullptr;
  // PostgreSQL: called on the writer thread once a commit's statements are
  // all sent, with the server process id of the writer's connection (a test
  // may end that process meanwhile). Returning true makes the writer drop
  // its connection once the commit's results have arrived, and go on as if
  // it had been lost before they did: it reconnects and learns the
  // commit's outcome from the database.
  std::function<bool(int backend_pid)> pg_commit_sent;
};

// open_sqlite_journal / open_rocks_journal with `hooks`; the same contracts.
Result<std::unique_ptr<Journal>> open_sqlite_journal(const std::string& path,
                                                     const JournalOptions& options,
                                                     const BackendHooks& hooks);
Result<std::unique_ptr<Journal>> open_rocks_journal(const std::string& dir,
                                                    const JournalOptions& options,
                                                    const BackendHooks& hooks);
Result<std::unique_ptr<Journal>> open_pg_journal(const std::string& conninfo,
                                                 const JournalOptions& options,
                                                 const BackendHooks& hooks);

}  // namespace keel::internal
