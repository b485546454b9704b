// file_lock.h: FileLock, an exclusive advisory lock (flock) on a lock file,
// held for the lifetime of the object. A journal writer holds one on
// "<journal>.lock" so a second writer fails fast instead of interleaving.
#pragma once

#include <memory>
#include <string>

#include "keel/base/status.h"

namespace keel::internal {

// Not thread-safe; owned by one journal.
class FileLock {
 public:
  // Creates `path` if needed and locks it without waiting. Errors:
  // kFailedPrecondition (another handle or process holds it; names `what`),
  // kIoError (cannot create or lock the file).
  static Result<std::unique_ptr<FileLock>> acquire(const std::string& path, const std::string& what);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  const int fd_;
};

}  // namespace keel::internal
