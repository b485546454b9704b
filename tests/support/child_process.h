// child_process.h: re-executes the running test binary as a child process
// for crash tests, with a pipe from the child back to the parent.
#pragma once

#include <fcntl.h>
#include <spawn.h>
#include <unistd.h>

#include <string>
#include <vector>

extern char** environ;

namespace keel::testing {

// A spawned child: its pid and the read end of its pipe (-1 both on failure).
struct Child {
  pid_t pid = -1;
  int fd = -1;
};

// Runs /proc/self/exe again with `env_name` set to `env_value` followed by a
// space and the number of the pipe's write end, which the child writes its
// progress to. The child's stdout (the gtest banner) goes to /dev/null; its
// stderr stays. The caller owns the returned fd and reaps the pid.
inline Child spawn_self(const std::string& env_name, const std::string& env_value) {
  Child c;
  int up[2];
  if (pipe(up) != 0) return c;
  std::string entry = env_name + "=" + env_value + " " + std::to_string(up[1]);
  std::vector<char*> env;
  for (char** e = environ; *e != nullptr; ++e) env.push_back(*e);
  env.push_back(entry.data());
  env.push_back(nullptr);
  std::string exe = "/proc/self/exe";
  char* argv[] = {exe.data(), nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addclose(&actions, up[0]);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  const int rc = posix_spawn(&c.pid, exe.c_str(), &actions, nullptr, argv, env.data());
  posix_spawn_file_actions_destroy(&actions);
  close(up[1]);
  if (rc != 0) {
    close(up[0]);
    c.pid = -1;
    return c;
  }
  c.fd = up[0];
  return c;
}

}  // namespace keel::testing
