// worker_process.h: starting a worker by fork+exec and watching it through a
// pidfd. Internal to Keel::agent.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "keel/base/status.h"

namespace keel::internal {

// A started worker process: its pid and a pidfd that polls readable once it
// has exited. The owner reaps it (reap) and closes the pidfd.
struct WorkerProcess {
  pid_t pid = -1;
  int pidfd = -1;
};

// Starts `argv[0]` with `argv` and `envp` (each entry "NAME=value"). argv and
// envp are built into flat arrays before fork; between fork and exec the
// child only makes async-signal-safe calls: it clears the signal mask, sets
// PR_SET_PDEATHSIG(SIGKILL) and exits at once if the parent already died
// (getppid() no longer the parent). PR_SET_PDEATHSIG fires when the
// *thread* that forked exits, so call this from a thread that lives as long
// as the workers should. Errors: kIoError (fork or pidfd_open failed; exec
// failures show as an exit with status 127).
Result<WorkerProcess> launch_worker(const std::vector<std::string>& argv, const std::vector<std::string>& envp);

// Waits for the exited process (call once its pidfd is readable, or after
// a SIGKILL) and closes the pidfd. Returns a description of how it ended
// ("exit status 1", "killed by signal 9").
std::string reap(WorkerProcess& p);

}  // namespace keel::internal
