// ClusterListener: LISTEN on the cluster's channel (the schema's name,
// see cluster_registry.cc and cluster_tables.h) on a connection of its
// own, made again after it broke.
#include "keel/cluster/cluster_listener.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "cluster_tables.h"
#include "pg_connection.h"
#include "pg_conninfo.h"

namespace keel {

using internal::PgConnection;
using internal::PgTarget;

class ClusterListener::Impl {
 public:
  Impl(PgTarget target, std::chrono::milliseconds connect_timeout, int wake_fd)
      : target_(std::move(target)), connect_timeout_(connect_timeout), wake_fd_(wake_fd) {}
  ~Impl() { ::close(wake_fd_); }

  Result<ClusterWakeup> wait(std::chrono::milliseconds timeout) {
    ClusterWakeup out;
    if (conn_ == nullptr || conn_->is_broken()) {
      conn_.reset();
      const TimePoint connected_by = internal::pg_now() + connect_timeout_;
      KEEL_ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> c, PgConnection::connect(target_, connected_by));
      // The schema's name is [a-z0-9_]: an identifier as it is.
      KEEL_RETURN_IF_ERROR(c->exec_script("LISTEN " + target_.schema, connected_by));
      conn_ = std::move(c);
      out.resubscribed = true;
    }
    KEEL_ASSIGN_OR_RETURN(std::vector<std::string> payloads,
                          conn_->wait_notifications(internal::pg_now() + timeout, wake_fd_));
    eventfd_t drained = 0;
    eventfd_read(wake_fd_, &drained);  // non-blocking: fails when nothing was written, which is fine
    for (const std::string& p : payloads) {
      if (p == internal::kShardsChanged) {
        out.shards = true;
        continue;
      }
      const std::size_t slash = p.find('/');
      if (slash == std::string::npos) continue;  // neither
      std::pair<std::string, std::string> name(p.substr(0, slash), p.substr(slash + 1));
      if (std::find(out.names.begin(), out.names.end(), name) == out.names.end()) out.names.push_back(std::move(name));
    }
    return out;
  }

  void interrupt() { eventfd_write(wake_fd_, 1); }

 private:
  const PgTarget target_;
  const std::chrono::milliseconds connect_timeout_;
  const int wake_fd_;
  std::unique_ptr<PgConnection> conn_;  // wait()'s caller's
};

Result<std::unique_ptr<ClusterListener>> ClusterListener::open(const std::string& url,
                                                                 std::chrono::milliseconds connect_timeout) {
  KEEL_ASSIGN_OR_RETURN(PgTarget target, internal::parse_pg_target(url, ""));
  const int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (fd < 0) return Status::io_error(std::string("eventfd: ") + std::strerror(errno));
  return std::unique_ptr<ClusterListener>(new ClusterListener(std::make_unique<Impl>(std::move(target), connect_timeout, fd)));
}

ClusterListener::ClusterListener(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ClusterListener::~ClusterListener() = default;

Result<ClusterWakeup> ClusterListener::wait(std::chrono::milliseconds timeout) { return impl_->wait(timeout); }
void ClusterListener::interrupt() { impl_->interrupt(); }

}  // namespace keel
