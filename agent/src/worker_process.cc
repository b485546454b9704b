#include "worker_process.h"

#include <errno.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

namespace keel::internal {

Result<WorkerProcess> launch_worker(const std::vector<std::string>& argv, const std::vector<std::string>& envp) {
  if (argv.empty()) return Status::invalid_argument("no worker executable");
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> env;
  for (const std::string& e : envp) env.push_back(const_cast<char*>(e.c_str()));
  env.push_back(nullptr);
  sigset_t none;
  sigemptyset(&none);
  const pid_t parent = getpid();

  const pid_t pid = fork();
  if (pid < 0) return Status::io_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    // Child: async-signal-safe calls only, nothing allocated.
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) _exit(126);
    if (getppid() != parent) _exit(126);  // the parent died before prctl
    execve(args[0], args.data(), env.data());
    _exit(127);
  }
  const int fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) {
    const int err = errno;
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    return Status::io_error(std::string("pidfd_open: ") + std::strerror(err));
  }
  return WorkerProcess{pid, fd};
}

std::string reap(WorkerProcess& p) {
  int status = 0;
  pid_t r;
  do {
    r = waitpid(p.pid, &status, 0);
  } while (r < 0 && errno == EINTR);
  if (p.pidfd >= 0) close(p.pidfd);
  p.pidfd = -1;
  if (r < 0) return std::string("not reaped: ") + std::strerror(errno);
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "exit status " + std::to_string(WEXITSTATUS(status));
}

}  // namespace keel::internal
