#include "file_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace keel::internal {

Result<std::unique_ptr<FileLock>> FileLock::acquire(const std::string& path,
                                                    const std::string& what) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Status::io_error("cannot create lock file " + path + ": " + std::strerror(errno));
  // flock locks belong to the open file description, so a second open in
  // this process conflicts too, and a forked child does not inherit it after exec.
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) {
      return Status::failed_precondition(what + " is already open for writing (lock " + path +
                                         " is held by another handle or process)");
    }
    return Status::io_error("cannot lock " + path + ": " + std::strerror(err));
  }
  return std::unique_ptr<FileLock>(new FileLock(fd));
}

FileLock::~FileLock() { ::close(fd_); }  // closing the last descriptor releases the lock

}  // namespace keel::internal
