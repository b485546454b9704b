// The admin endpoint (admin.h), its client, and the offline commands
// (keel/workflow/admin.h).
#include "admin.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <utility>

#include "keel/base/random_hex.h"
#include "keel/journal/format.h"
#include "keel/journal/pg_journal.h"
#include "keel/wire/value.h"

namespace keel {
namespace internal {
namespace {

// One request per connection: a 4-byte little-endian length, then the
// encoded AdminRequest; the answer is framed the same way.
struct AdminRequest {
  std::string token;
  std::uint32_t op = 0;
  std::string run;
  std::string name;
  EncodedValue value;
  std::uint64_t from_step = 0;
  std::string new_run;
  static constexpr auto kFields = keel::fields(
      keel::field<&AdminRequest::token>("token"), keel::field<&AdminRequest::op>("op"),
      keel::field<&AdminRequest::run>("run"), keel::field<&AdminRequest::name>("name"),
      keel::field<&AdminRequest::value>("value"), keel::field<&AdminRequest::from_step>("from_step"),
      keel::field<&AdminRequest::new_run>("new_run"));
};

struct AdminResponse {
  std::uint32_t code = 0;  // StatusCode
  std::string message;
  std::string run;
  static constexpr auto kFields =
      keel::fields(keel::field<&AdminResponse::code>("code"), keel::field<&AdminResponse::message>("message"),
                   keel::field<&AdminResponse::run>("run"));
};

constexpr std::size_t kMaxFrame = 64u << 20;  // a signal value may be large
constexpr std::string_view kFileMagic = "keel-admin 1";
constexpr auto kServeTimeout = std::chrono::seconds(30);  // one slow client must not hold the endpoint

using Deadline = std::chrono::steady_clock::time_point;

int ms_left(Deadline deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return left.count() <= 0 ? 0 : static_cast<int>(std::min<std::int64_t>(left.count(), 1 << 30));
}

// Waits until `fd` is ready for `events`. Errors: kUnavailable (deadline).
Status wait_fd(int fd, short events, Deadline deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    int n = poll(&p, 1, ms_left(deadline));
    if (n > 0) return Status::ok();
    if (n == 0) return Status::unavailable("the admin endpoint did not answer in time");
    if (errno != EINTR) return Status::io_error(std::string("poll: ") + std::strerror(errno));
  }
}

Status write_all(int fd, std::string_view bytes, Deadline deadline) {
  while (!bytes.empty()) {
    KEEL_RETURN_IF_ERROR(wait_fd(fd, POLLOUT, deadline));
    ssize_t n = send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return Status::io_error(std::string("admin endpoint: send: ") + std::strerror(errno));
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return Status::ok();
}

Status read_exact(int fd, char* out, std::size_t size, Deadline deadline) {
  while (size > 0) {
    KEEL_RETURN_IF_ERROR(wait_fd(fd, POLLIN, deadline));
    ssize_t n = recv(fd, out, size, MSG_DONTWAIT);
    if (n == 0) return Status::unavailable("admin endpoint: the peer closed the connection");
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return Status::io_error(std::string("admin endpoint: recv: ") + std::strerror(errno));
    }
    out += n;
    size -= static_cast<std::size_t>(n);
  }
  return Status::ok();
}

Status write_frame(int fd, const std::string& body, Deadline deadline) {
  std::string frame(4, '\0');
  const auto n = static_cast<std::uint32_t>(body.size());
  for (int i = 0; i < 4; ++i) frame[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  frame += body;
  return write_all(fd, frame, deadline);
}

Result<std::string> read_frame(int fd, Deadline deadline) {
  unsigned char len[4];
  KEEL_RETURN_IF_ERROR(read_exact(fd, reinterpret_cast<char*>(len), 4, deadline));
  const std::uint32_t n = len[0] | (len[1] << 8) | (len[2] << 16) | (static_cast<std::uint32_t>(len[3]) << 24);
  if (n > kMaxFrame) return Status::invalid_argument("admin request of " + std::to_string(n) + " bytes is too large");
  std::string body(n, '\0');
  KEEL_RETURN_IF_ERROR(read_exact(fd, body.data(), n, deadline));
  return body;
}


bool same_token(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// An abstract-namespace address: the name has no file and no length limit
// beyond sun_path's.
socklen_t abstract_address(const std::string& name, sockaddr_un* addr) {
  std::memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  const std::size_t n = std::min(name.size(), sizeof addr->sun_path - 1);
  std::memcpy(addr->sun_path + 1, name.data(), n);
  return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + n);
}

struct Announcement {
  std::string socket;
  std::string token;
};

// Errors: kNotFound (no file: no live engine announced itself),
// kCorruption (not an announcement).
Result<Announcement> read_announcement(const std::string& file) {
  std::ifstream in(file);
  if (!in) return Status::not_found("no admin endpoint is announced in " + file);
  std::string line;
  Announcement a;
  if (!std::getline(in, line) || line != kFileMagic) return Status::corruption(file + " is not a Keel admin file");
  while (std::getline(in, line)) {
    auto space = line.find(' ');
    if (space == std::string::npos) continue;
    const std::string key = line.substr(0, space);
    if (key == "socket") a.socket = line.substr(space + 1);
    if (key == "token") a.token = line.substr(space + 1);
  }
  if (a.socket.empty() || a.token.empty()) return Status::corruption(file + " names no socket or token");
  return a;
}

// Writes the announcement file `file` (mode 0600) under a temporary name
// and renames it, so a reader never sees half a file. Errors: kIoError.
Status write_announcement_file(const std::string& file, const std::string& socket, const std::string& token) {
  const std::string tmp = file + ".tmp" + std::to_string(getpid());
  const mode_t old = umask(077);
  std::ofstream out(tmp, std::ios::trunc);
  umask(old);
  out << kFileMagic << "\nsocket " << socket << "\ntoken " << token << "\npid " << getpid() << "\n";
  out.close();
  if (!out || std::rename(tmp.c_str(), file.c_str()) != 0) {
    std::remove(tmp.c_str());
    return Status::io_error("admin endpoint: cannot write " + file);
  }
  return Status::ok();
}

Status status_of(const AdminResponse& r) {
  if (r.code == 0) return Status::ok();
  return Status(static_cast<StatusCode>(r.code), r.message);
}

// The announcement in the file beside the journal at `journal_path`, or
// nullopt when there is none. Errors: kCorruption (not an announcement).
Result<std::optional<Announcement>> file_announcement(const std::string& journal_path) {
  Result<Announcement> announced = read_announcement(admin_file_path(journal_path));
  if (announced) return std::optional<Announcement>(std::move(*announced));
  if (announced.status().code() == StatusCode::kNotFound) return std::optional<Announcement>();
  return announced.status();
}

std::string this_host() {
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  return host;
}

// Asks the engine announced as `a`: the run acted on, or nullopt when
// nobody listens on its socket (its process is gone). Errors: the
// command's, kUnavailable (no answer in time), kIoError.
Result<std::optional<std::string>> ask_live(const Announcement& a, const AdminCommand& cmd, Duration timeout) {
  const Deadline deadline = std::chrono::steady_clock::now() + std::chrono::duration_cast<std::chrono::nanoseconds>(timeout);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Status::io_error(std::string("socket: ") + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  sockaddr_un addr;
  socklen_t len = abstract_address(a.socket, &addr);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    if (errno == ECONNREFUSED || errno == ENOENT) return std::optional<std::string>();
    return Status::io_error(std::string("admin endpoint: connect: ") + std::strerror(errno));
  }
  AdminRequest req;
  req.token = a.token;
  req.op = static_cast<std::uint32_t>(cmd.op);
  req.run = cmd.run;
  req.name = cmd.name;
  req.value.bytes = cmd.value;
  req.from_step = cmd.from_step;
  req.new_run = cmd.new_run;
  KEEL_RETURN_IF_ERROR(write_frame(fd, wire::encode_value(req), deadline));
  KEEL_ASSIGN_OR_RETURN(std::string body, read_frame(fd, deadline));
  KEEL_ASSIGN_OR_RETURN(AdminResponse resp, wire::decode_value<AdminResponse>(body));
  KEEL_RETURN_IF_ERROR(status_of(resp));
  return std::optional<std::string>(resp.run);
}

// What the journal says of one run.
struct RunState {
  bool started = false;
  RunRecord start;
  std::string final_event;  // completed / failed / cancelled, or "" while running
  std::vector<std::string> steps;  // STEP payloads in journal order (up to the limit asked)
  std::uint64_t step_count = 0;
  bool any_record = false;
};

Result<RunState> read_run(Journal& journal, const std::string& run, std::uint64_t keep_steps) {
  RunState st;
  Status bad;
  const std::string owner = workflow_owner(run);
  Status s = journal.scan_owner(owner, 1, [&](const Record& rec) {
    st.any_record = true;
    if (rec.compacted) return true;
    if (rec.kind == RecordKind::kStep) {
      if (st.steps.size() < keep_steps) st.steps.push_back(rec.payload);
      ++st.step_count;
    } else if (rec.kind == RecordKind::kRun) {
      auto r = wire::decode_value<RunRecord>(rec.payload);
      if (!r) {
        bad = Status::corruption("run '" + run + "', lsn " + std::to_string(rec.lsn) + ": " +
                                 std::string(r.status().message()));
        return false;
      }
      if (r->event == "started") {
        st.started = true;
        st.start = std::move(*r);
      } else if (r->event == "retried") {
        st.final_event.clear();
      } else if (r->event == "completed" || r->event == "failed" || r->event == "cancelled") {
        st.final_event = r->event;
      }
    }
    return true;
  });
  KEEL_RETURN_IF_ERROR(s);
  KEEL_RETURN_IF_ERROR(bad);
  return st;
}

Status check_ids(const AdminCommand& cmd) {
  if (cmd.run.empty()) return Status::invalid_argument("a run id is needed");
  if (cmd.op == AdminOp::kFork && cmd.new_run.empty()) return Status::invalid_argument("the fork needs a new run id");
  if (cmd.op == AdminOp::kSignal && cmd.name.empty()) return Status::invalid_argument("a signal needs a name");
  return Status::ok();
}

// The command applied to a journal no live engine owns.
Result<std::string> apply_offline(Journal& journal, const AdminCommand& cmd) {
  if (cmd.op == AdminOp::kFork) {
    KEEL_ASSIGN_OR_RETURN(std::vector<NewRecord> batch, fork_records(journal, cmd.run, cmd.from_step, cmd.new_run, ""));
    KEEL_RETURN_IF_ERROR(journal.append(std::move(batch)).status());
    return cmd.new_run;
  }
  KEEL_ASSIGN_OR_RETURN(RunState st, read_run(journal, cmd.run, 0));
  if (!st.started) return Status::not_found("no run '" + cmd.run + "' in the journal");
  const std::string owner = workflow_owner(cmd.run);
  NewRecord rec{owner, RecordKind::kRun, ""};
  switch (cmd.op) {
    case AdminOp::kSignal: {
      if (!st.final_event.empty()) return Status::failed_precondition("run '" + cmd.run + "' has finished");
      rec.kind = RecordKind::kInbox;
      rec.payload = wire::encode_value(SignalRecord{cmd.name, EncodedValue{cmd.value}});
      break;
    }
    case AdminOp::kCancel: {
      if (!st.final_event.empty()) return Status::failed_precondition("run '" + cmd.run + "' has finished");
      RunRecord r;
      r.event = "cancel_requested";
      rec.payload = wire::encode_value(r);
      break;
    }
    case AdminOp::kRetry: {
      if (st.final_event != "failed" && st.final_event != "cancelled") {
        return Status::failed_precondition("run '" + cmd.run + "' is " +
                                           (st.final_event.empty() ? std::string("running") : st.final_event) +
                                           ", not failed or cancelled");
      }
      RunRecord r;
      r.event = "retried";
      rec.payload = wire::encode_value(r);
      break;
    }
    default:
      return Status::invalid_argument("unknown admin command " + std::to_string(static_cast<int>(cmd.op)));
  }
  std::vector<NewRecord> batch;
  batch.push_back(std::move(rec));
  KEEL_RETURN_IF_ERROR(journal.append(std::move(batch)).status());
  return cmd.run;
}

}  // namespace
}  // namespace internal

std::string admin_file_path(const std::string& journal_path) {
  std::string p = journal_path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p + ".admin";
}

Result<std::vector<NewRecord>> fork_records(Journal& journal, const std::string& run, std::uint64_t from_step,
                                            const std::string& new_run, const std::string& code_version) {
  if (run.empty() || new_run.empty()) return Status::invalid_argument("a fork needs a run id and a new run id");
  if (run == new_run) return Status::invalid_argument("a fork needs a new run id, not '" + run + "'");
  KEEL_ASSIGN_OR_RETURN(internal::RunState existing, internal::read_run(journal, new_run, 0));
  if (existing.any_record) return Status::already_exists("run '" + new_run + "' exists in the journal");
  KEEL_ASSIGN_OR_RETURN(internal::RunState st, internal::read_run(journal, run, from_step));
  if (!st.started) return Status::not_found("no run '" + run + "' in the journal");
  if (st.step_count < from_step) {
    return Status::invalid_argument("run '" + run + "' has " + std::to_string(st.step_count) +
                                    " journaled step results, fewer than " + std::to_string(from_step));
  }
  const std::string owner = workflow_owner(new_run);
  RunRecord start = st.start;
  start.parent.clear();
  if (!code_version.empty()) start.code_version = code_version;
  std::vector<NewRecord> batch;
  batch.push_back({owner, RecordKind::kRun, wire::encode_value(start)});
  for (std::string& step : st.steps) batch.push_back({owner, RecordKind::kStep, std::move(step)});
  return batch;
}

namespace internal {
namespace {

// The command carried out on the journal itself, opened for writing
// (exclusively: never taking a live journal over). When a live writer
// holds it, returns refused(the open's error) instead.
Result<AdminOutcome> run_offline(const std::string& journal_path, const AdminCommand& cmd,
                                 const std::function<Status(const Status&)>& refused) {
  JournalOptions options;
  options.create_if_missing = false;
  options.pg_exclusive = true;
  Result<std::unique_ptr<Journal>> journal = open_journal(journal_path, options);
  if (!journal) {
    if (journal.status().code() == StatusCode::kFailedPrecondition &&
        journal.status().message().find("newer") == std::string_view::npos) {
      return refused(journal.status());
    }
    return journal.status();
  }
  KEEL_ASSIGN_OR_RETURN(std::string run, apply_offline(**journal, cmd));
  return AdminOutcome{false, std::move(run)};
}

Result<AdminOutcome> run_on_file(const std::string& journal_path, const AdminCommand& cmd, Duration timeout) {
  KEEL_ASSIGN_OR_RETURN(std::optional<Announcement> announced, file_announcement(journal_path));
  if (announced) {
    KEEL_ASSIGN_OR_RETURN(std::optional<std::string> live, ask_live(*announced, cmd, timeout));
    if (live) return AdminOutcome{true, *live};
  }
  return run_offline(journal_path, cmd, [&](const Status&) {
    return Status::failed_precondition("a live process holds " + journal_path + " but announces no admin endpoint (" +
                                       admin_file_path(journal_path) +
                                       "): open its WorkflowEngine with admin_endpoint on");
  });
}

// On a PostgreSQL journal the announcement is in its admin table, and the
// engine may run on another host: only one on this host can be asked.
Result<AdminOutcome> run_on_pg(const std::string& journal_path, const AdminCommand& cmd, Duration timeout) {
  const std::string name = redacted_journal_path(journal_path);
  KEEL_ASSIGN_OR_RETURN(std::optional<PgAdminAnnouncement> announced,
                        read_pg_admin(journal_path, std::chrono::duration_cast<std::chrono::milliseconds>(timeout)));
  const bool here = announced && announced->host == this_host();
  if (here) {
    KEEL_ASSIGN_OR_RETURN(std::optional<std::string> live,
                          ask_live(Announcement{announced->socket, announced->token}, cmd, timeout));
    if (live) return AdminOutcome{true, *live};
  }
  // Announced elsewhere, or a socket nobody listens on: the journal itself,
  // unless its writer is live after all.
  return run_offline(journal_path, cmd, [&](const Status& held) {
    if (announced && !here) {
      return Status::failed_precondition("the engine of " + name + " runs on host " + announced->host + " (pid " +
                                         std::to_string(announced->pid) + "): run the command there");
    }
    return Status::failed_precondition("a live process holds " + name +
                                       " but announces no admin endpoint (in the journal's admin table): open its "
                                       "WorkflowEngine with admin_endpoint on (" + std::string(held.message()) + ")");
  });
}

}  // namespace
}  // namespace internal

Result<AdminOutcome> run_admin_command(const std::string& journal_path, const AdminCommand& cmd, Duration timeout) {
  KEEL_RETURN_IF_ERROR(internal::check_ids(cmd));
  if (is_pg_conninfo(journal_path)) return internal::run_on_pg(journal_path, cmd, timeout);
  return internal::run_on_file(journal_path, cmd, timeout);
}

namespace detail {

Result<std::unique_ptr<AdminEndpoint>> AdminEndpoint::open(Journal& journal, const std::string& journal_path,
                                                           Handler handler) {
  const std::string name = "keel-admin-" + random_hex(12);
  const std::string token = random_hex(32);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Status::io_error(std::string("admin endpoint: socket: ") + std::strerror(errno));
  sockaddr_un addr;
  socklen_t len = internal::abstract_address(name, &addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 || listen(fd, 16) != 0) {
    Status s = Status::io_error(std::string("admin endpoint: bind/listen: ") + std::strerror(errno));
    close(fd);
    return s;
  }
  int stop = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop < 0) {
    close(fd);
    return Status::io_error(std::string("admin endpoint: eventfd: ") + std::strerror(errno));
  }
  Journal* table = nullptr;
  std::string file;
  Status announced;
  if (is_pg_conninfo(journal_path)) {
    table = &journal;
    announced = announce_pg_admin(journal, PgAdminAnnouncement{internal::this_host(), getpid(), name, token});
  } else {
    file = admin_file_path(journal_path);
    announced = internal::write_announcement_file(file, name, token);
  }
  if (!announced.is_ok()) {
    close(fd);
    close(stop);
    return announced;
  }
  return std::unique_ptr<AdminEndpoint>(new AdminEndpoint(file, table, token, fd, stop, std::move(handler)));
}

AdminEndpoint::AdminEndpoint(std::string file, Journal* table, std::string token, int listen_fd, int stop_fd,
                             Handler handler)
    : file_(std::move(file)),
      table_(table),
      token_(std::move(token)),
      listen_fd_(listen_fd),
      stop_fd_(stop_fd),
      handler_(std::move(handler)),
      thread_([this] { serve(); }) {}

AdminEndpoint::~AdminEndpoint() {
  const std::uint64_t one = 1;
  (void)!write(stop_fd_, &one, sizeof one);
  thread_.join();
  close(listen_fd_);
  close(stop_fd_);
  // A newer engine on the same journal may have announced itself since.
  if (table_ != nullptr) {
    withdraw_pg_admin(*table_, token_).ignore();  // a stale row only costs the next command a refused connect
    return;
  }
  Result<internal::Announcement> a = internal::read_announcement(file_);
  if (a && a->token == token_) std::remove(file_.c_str());
}

void AdminEndpoint::serve() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    int n = poll(fds, 2, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 || (fds[1].revents & POLLIN)) return;
    if (!(fds[0].revents & POLLIN)) continue;
    int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) continue;
    serve_one(fd);
    close(fd);
  }
}

void AdminEndpoint::serve_one(int fd) {
  const internal::Deadline deadline = std::chrono::steady_clock::now() + internal::kServeTimeout;
  internal::AdminResponse resp;
  auto answer = [&](const Status& s) {
    resp.code = static_cast<std::uint32_t>(s.code());
    resp.message = std::string(s.message());
    (void)internal::write_frame(fd, wire::encode_value(resp), deadline);
  };
  ucred peer{};
  socklen_t peer_len = sizeof peer;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &peer_len) != 0 || (peer.uid != getuid() && peer.uid != 0)) {
    answer(Status::unauthenticated("the admin endpoint serves its own user only"));
    return;
  }
  Result<std::string> body = internal::read_frame(fd, deadline);
  if (!body) {
    answer(body.status());
    return;
  }
  Result<internal::AdminRequest> req = wire::decode_value<internal::AdminRequest>(*body);
  if (!req) {
    answer(Status::invalid_argument("malformed admin request: " + std::string(req.status().message())));
    return;
  }
  if (!internal::same_token(req->token, token_)) {
    answer(Status::unauthenticated("wrong admin token"));
    return;
  }
  AdminCommand cmd;
  cmd.op = static_cast<AdminOp>(req->op);
  cmd.run = std::move(req->run);
  cmd.name = std::move(req->name);
  cmd.value = std::move(req->value.bytes);
  cmd.from_step = req->from_step;
  cmd.new_run = std::move(req->new_run);
  Status ids = internal::check_ids(cmd);
  if (!ids.is_ok()) {
    answer(ids);
    return;
  }
  Result<std::string> run = handler_(cmd);
  if (run) resp.run = *run;
  answer(run.status());
}

}  // namespace detail
}  // namespace keel
