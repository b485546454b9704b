// fault_injection.h: storage faults on command, for the journal fault tests.
//
// FaultySqliteVfs registers a SQLite VFS that wraps the default one; its
// files' xWrite / xSync fail while a fault is armed. FaultyRocksEnv is a
// RocksDB Env whose WAL files' Append / Sync fail while armed. Open a journal
// with internal::BackendHooks naming them.
//
//   FaultySqliteVfs vfs;
//   auto j = internal::open_sqlite_journal(path, {}, {.sqlite_vfs = vfs.name()});
//   vfs.arm(Fault::kWriteIoError);   // the next commits fail with kIoError
//   vfs.arm(Fault::kNone);           // and then succeed again
#pragma once

#include <atomic>
#include <memory>
#include <string>

namespace rocksdb {
class Env;
}  // namespace rocksdb

namespace keel::testing {

enum class Fault {
  kNone,
  kWriteIoError,  // writes fail: SQLITE_IOERR_WRITE / IOStatus::IOError
  kWriteNoSpace,  // writes fail: SQLITE_FULL / IOStatus::NoSpace
  kSyncIoError,   // syncs fail: SQLITE_IOERR_FSYNC / IOStatus::IOError
};

// Process-wide: SQLite VFS registration is global. Thread-safe (the armed
// fault is an atomic read by the writer thread).
class FaultySqliteVfs {
 public:
  FaultySqliteVfs();  // registers "keel-faulty" (not as the default VFS)
  ~FaultySqliteVfs();
  const char* name() const { return "keel-faulty"; }
  void arm(Fault f);
  // How many operations failed since construction.
  int failures() const;
};

// Owns an Env over RocksDB's default file system. Thread-safe.
class FaultyRocksEnv {
 public:
  FaultyRocksEnv();
  ~FaultyRocksEnv();
  rocksdb::Env* env() const;
  void arm(Fault f);
  int failures() const;

  struct State;  // shared with the wrapped files

 private:
  std::shared_ptr<State> state_;
  std::unique_ptr<rocksdb::Env> env_;
};

}  // namespace keel::testing
