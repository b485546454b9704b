// agent_process.h: the keel-agent executable run as a child process of a
// test, with its standard output and error read through pipes.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

extern char** environ;

namespace keel::testing {

// One keel-agent process. Not thread-safe; owned by one test. The
// destructor stops it (SIGTERM, as an operator would) and reaps it.
class AgentProcess {
 public:
  // Starts `exe` with `args`, in this process's environment without
  // KEEL_SECRET, plus `env` ("NAME=value" entries).
  AgentProcess(const std::string& exe, const std::vector<std::string>& args, const std::vector<std::string>& env) {
    int out[2];
    int err[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) return;
    fcntl(err[0], F_SETFL, O_NONBLOCK);  // error_output reads what is there
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, err[1], STDERR_FILENO);
    std::vector<std::string> argv_store = {exe};
    argv_store.insert(argv_store.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_store) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env_store = env;
    std::vector<char*> envp;
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::strncmp(*e, "KEEL_SECRET=", 12) != 0) envp.push_back(*e);
    }
    for (auto& e : env_store) envp.push_back(e.data());
    envp.push_back(nullptr);
    if (posix_spawn(&pid_, exe.c_str(), &actions, nullptr, argv.data(), envp.data()) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    close(out[1]);
    close(err[1]);
    out_ = out[0];
    err_ = err[0];
  }
  ~AgentProcess() {
    if (pid_ > 0 && !exited_) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0) close(out_);
    if (err_ >= 0) close(err_);
  }
  AgentProcess(const AgentProcess&) = delete;
  AgentProcess& operator=(const AgentProcess&) = delete;

  bool started() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

  // The port of the ready line ("keel-agent: ready on HOST:PORT ..."), read
  // within `timeout`; nullopt when the agent printed none (it exited, or
  // the time passed).
  std::optional<std::uint16_t> wait_ready(std::chrono::milliseconds timeout) {
    std::string line;
    char ch = 0;
    pollfd p{out_, POLLIN, 0};
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (line.find('\n') == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) != 1 || read(out_, &ch, 1) != 1) {
        return std::nullopt;
      }
      line += ch;
    }
    ready_line_ = line;
    const auto colon = line.find(':', line.find("ready on "));
    if (line.rfind("keel-agent: ready on ", 0) != 0 || colon == std::string::npos) return std::nullopt;
    return static_cast<std::uint16_t>(std::atoi(line.c_str() + colon + 1));
  }

  // The line wait_ready read (with its newline), empty before.
  const std::string& ready_line() const { return ready_line_; }

  // The exit status once the agent has exited within `timeout` (-1: it did
  // not, or a signal ended it).
  int wait_exit(std::chrono::milliseconds timeout) {
    const int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid_, 0));
    if (pidfd < 0) return -1;
    pollfd p{pidfd, POLLIN, 0};
    const bool gone = poll(&p, 1, static_cast<int>(timeout.count())) == 1;
    close(pidfd);
    int status = 0;
    if (!gone || waitpid(pid_, &status, 0) != pid_) return -1;
    exited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  // What it has written to standard error so far (all of it once it has
  // exited); does not wait.
  std::string error_output() {
    std::string text;
    char buf[4096];
    ssize_t n = 0;
    while ((n = read(err_, buf, sizeof buf)) > 0) text.append(buf, static_cast<std::size_t>(n));
    return text;
  }

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
  std::string ready_line_;
  int out_ = -1;
  int err_ = -1;
};

}  // namespace keel::testing
