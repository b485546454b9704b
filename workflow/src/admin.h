// admin.h: the admin endpoint a WorkflowEngine opens (keel/workflow/admin.h
// is the client side). One thread accepts connections on an abstract Unix
// socket, reads one request per connection, hands it to the engine's
// handler and writes the answer.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "keel/base/status.h"
#include "keel/journal/journal.h"
#include "keel/workflow/admin.h"

namespace keel::detail {

class AdminEndpoint {
 public:
  // Runs on the endpoint's thread, one command at a time; returns the run
  // acted on, or the command's error.
  using Handler = std::function<Result<std::string>(const AdminCommand&)>;

  // Listens, and announces itself: in the file admin_file_path(journal_path)
  // (mode 0600, replaced atomically), or for a PostgreSQL journal
  // (is_pg_conninfo(journal_path)) in the admin table of `journal`, which
  // must outlive the endpoint. Errors: kIoError (socket or file), those of
  // announce_pg_admin (keel/journal/pg_journal.h).
  static Result<std::unique_ptr<AdminEndpoint>> open(Journal& journal, const std::string& journal_path,
                                                     Handler handler);
  AdminEndpoint(const AdminEndpoint&) = delete;
  AdminEndpoint& operator=(const AdminEndpoint&) = delete;
  // Stops the thread (a command in progress finishes first) and removes the
  // announcement (file or row) if it is still this endpoint's.
  ~AdminEndpoint();

 private:
  AdminEndpoint(std::string file, Journal* table, std::string token, int listen_fd, int stop_fd, Handler handler);
  void serve();
  void serve_one(int fd);

  const std::string file_;  // empty when announced in a table
  Journal* const table_;     // the PostgreSQL journal whose admin table holds the announcement, or null
  const std::string token_;
  const int listen_fd_;
  const int stop_fd_;  // an eventfd: readable once the destructor asks to stop
  Handler handler_;
  std::thread thread_;
};

}  // namespace keel::detail
