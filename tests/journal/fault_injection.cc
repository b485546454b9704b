#include "fault_injection.h"

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <sqlite3.h>

#include <cstring>

namespace keel::testing {
namespace {

// ---- SQLite ----------------------------------------------------------------

// Relaxed is enough: a test arms a fault, then appends, and the append's
// queue hand-off (a mutex) orders the store before the writer's load.
std::atomic<Fault> g_sqlite_fault{Fault::kNone};
std::atomic<int> g_sqlite_failures{0};
sqlite3_vfs g_vfs;
sqlite3_vfs* g_base = nullptr;

struct FaultyFile {
  sqlite3_file base;    // must be first: SQLite casts between the two
  sqlite3_file* real;   // lives right after this struct, in the same allocation
};

sqlite3_file* real(sqlite3_file* f) { return reinterpret_cast<FaultyFile*>(f)->real; }

int fail_with(int code) {
  g_sqlite_failures.fetch_add(1, std::memory_order_relaxed);
  return code;
}

int x_close(sqlite3_file* f) { return real(f)->pMethods->xClose(real(f)); }
int x_read(sqlite3_file* f, void* p, int n, sqlite3_int64 off) {
  return real(f)->pMethods->xRead(real(f), p, n, off);
}
int x_write(sqlite3_file* f, const void* p, int n, sqlite3_int64 off) {
  switch (g_sqlite_fault.load(std::memory_order_relaxed)) {
    case Fault::kWriteIoError: return fail_with(SQLITE_IOERR_WRITE);
    case Fault::kWriteNoSpace: return fail_with(SQLITE_FULL);
    default: return real(f)->pMethods->xWrite(real(f), p, n, off);
  }
}
int x_truncate(sqlite3_file* f, sqlite3_int64 size) {
  return real(f)->pMethods->xTruncate(real(f), size);
}
int x_sync(sqlite3_file* f, int flags) {
  if (g_sqlite_fault.load(std::memory_order_relaxed) == Fault::kSyncIoError) {
    return fail_with(SQLITE_IOERR_FSYNC);
  }
  return real(f)->pMethods->xSync(real(f), flags);
}
int x_file_size(sqlite3_file* f, sqlite3_int64* size) {
  return real(f)->pMethods->xFileSize(real(f), size);
}
int x_lock(sqlite3_file* f, int l) { return real(f)->pMethods->xLock(real(f), l); }
int x_unlock(sqlite3_file* f, int l) { return real(f)->pMethods->xUnlock(real(f), l); }
int x_check_reserved(sqlite3_file* f, int* out) {
  return real(f)->pMethods->xCheckReservedLock(real(f), out);
}
int x_file_control(sqlite3_file* f, int op, void* arg) {
  return real(f)->pMethods->xFileControl(real(f), op, arg);
}
int x_sector_size(sqlite3_file* f) { return real(f)->pMethods->xSectorSize(real(f)); }
int x_device_characteristics(sqlite3_file* f) {
  return real(f)->pMethods->xDeviceCharacteristics(real(f));
}
int x_shm_map(sqlite3_file* f, int page, int size, int extend, void volatile** out) {
  return real(f)->pMethods->xShmMap(real(f), page, size, extend, out);
}
int x_shm_lock(sqlite3_file* f, int offset, int n, int flags) {
  return real(f)->pMethods->xShmLock(real(f), offset, n, flags);
}
void x_shm_barrier(sqlite3_file* f) { real(f)->pMethods->xShmBarrier(real(f)); }
int x_shm_unmap(sqlite3_file* f, int del) { return real(f)->pMethods->xShmUnmap(real(f), del); }
int x_fetch(sqlite3_file* f, sqlite3_int64 off, int n, void** out) {
  return real(f)->pMethods->xFetch(real(f), off, n, out);
}
int x_unfetch(sqlite3_file* f, sqlite3_int64 off, void* p) {
  return real(f)->pMethods->xUnfetch(real(f), off, p);
}

const sqlite3_io_methods kMethods = {
    3,          x_close,         x_read,        x_write,       x_truncate,
    x_sync,     x_file_size,     x_lock,        x_unlock,      x_check_reserved,
    x_file_control, x_sector_size, x_device_characteristics, x_shm_map, x_shm_lock,
    x_shm_barrier, x_shm_unmap,   x_fetch,       x_unfetch};

int x_open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  auto* ff = reinterpret_cast<FaultyFile*>(f);
  ff->real = reinterpret_cast<sqlite3_file*>(ff + 1);
  std::memset(ff->real, 0, static_cast<std::size_t>(g_base->szOsFile));
  int rc = g_base->xOpen(g_base, name, ff->real, flags, out_flags);
  // SQLite calls xClose only if pMethods is set; forward only to an open file.
  ff->base.pMethods = ff->real->pMethods != nullptr ? &kMethods : nullptr;
  return rc;
}

}  // namespace

FaultySqliteVfs::FaultySqliteVfs() {
  g_base = sqlite3_vfs_find(nullptr);
  g_vfs = *g_base;
  g_vfs.zName = name();
  g_vfs.szOsFile = static_cast<int>(sizeof(FaultyFile)) + g_base->szOsFile;
  g_vfs.xOpen = x_open;
  g_vfs.pNext = nullptr;
  sqlite3_vfs_register(&g_vfs, 0);
}

FaultySqliteVfs::~FaultySqliteVfs() {
  arm(Fault::kNone);
  sqlite3_vfs_unregister(&g_vfs);
}

void FaultySqliteVfs::arm(Fault f) { g_sqlite_fault.store(f, std::memory_order_relaxed); }
int FaultySqliteVfs::failures() const { return g_sqlite_failures.load(std::memory_order_relaxed); }

// ---- RocksDB ---------------------------------------------------------------

struct FaultyRocksEnv::State {
  // Relaxed: see g_sqlite_fault.
  std::atomic<Fault> fault{Fault::kNone};
  std::atomic<int> failures{0};

  rocksdb::IOStatus check_write() {
    switch (fault.load(std::memory_order_relaxed)) {
      case Fault::kWriteIoError:
        failures.fetch_add(1, std::memory_order_relaxed);
        return rocksdb::IOStatus::IOError("injected write fault");
      case Fault::kWriteNoSpace:
        failures.fetch_add(1, std::memory_order_relaxed);
        return rocksdb::IOStatus::NoSpace("injected full disk");
      default:
        return rocksdb::IOStatus::OK();
    }
  }
  rocksdb::IOStatus check_sync() {
    if (fault.load(std::memory_order_relaxed) != Fault::kSyncIoError) return rocksdb::IOStatus::OK();
    failures.fetch_add(1, std::memory_order_relaxed);
    return rocksdb::IOStatus::IOError("injected sync fault");
  }
};

namespace {

class FaultyWritableFile : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FaultyWritableFile(std::unique_ptr<rocksdb::FSWritableFile> file,
                     std::shared_ptr<FaultyRocksEnv::State> state)
      : FSWritableFileOwnerWrapper(std::move(file)), state_(std::move(state)) {}

  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                           rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = state_->check_write();
    return s.ok() ? target()->Append(data, o, dbg) : s;
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& o,
                           const rocksdb::DataVerificationInfo& info,
                           rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = state_->check_write();
    return s.ok() ? target()->Append(data, o, info, dbg) : s;
  }
  rocksdb::IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = state_->check_sync();
    return s.ok() ? target()->Sync(o, dbg) : s;
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = state_->check_sync();
    return s.ok() ? target()->Fsync(o, dbg) : s;
  }

 private:
  std::shared_ptr<FaultyRocksEnv::State> state_;
};

// Wraps the WAL files (*.log) only: a journal commit is a WAL write.
class FaultyFileSystem : public rocksdb::FileSystemWrapper {
 public:
  FaultyFileSystem(std::shared_ptr<rocksdb::FileSystem> base,
                   std::shared_ptr<FaultyRocksEnv::State> state)
      : FileSystemWrapper(std::move(base)), state_(std::move(state)) {}
  const char* Name() const override { return "KeelFaultyFileSystem"; }

  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* out,
                                    rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = target()->NewWritableFile(name, o, out, dbg);
    if (s.ok() && name.size() > 4 && name.compare(name.size() - 4, 4, ".log") == 0) {
      *out = std::make_unique<FaultyWritableFile>(std::move(*out), state_);
    }
    return s;
  }

 private:
  std::shared_ptr<FaultyRocksEnv::State> state_;
};

}  // namespace

FaultyRocksEnv::FaultyRocksEnv() : state_(std::make_shared<State>()) {
  env_ = rocksdb::NewCompositeEnv(
      std::make_shared<FaultyFileSystem>(rocksdb::FileSystem::Default(), state_));
}

FaultyRocksEnv::~FaultyRocksEnv() = default;
rocksdb::Env* FaultyRocksEnv::env() const { return env_.get(); }
void FaultyRocksEnv::arm(Fault f) { state_->fault.store(f, std::memory_order_relaxed); }
int FaultyRocksEnv::failures() const { return state_->failures.load(std::memory_order_relaxed); }

}  // namespace keel::testing
