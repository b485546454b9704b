// cli_process.h: runs the built `keel` executable as a user would, as a
// child process with its stdout and stderr on pipes, and a tiny JSON syntax
// check for its --json output.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

extern char** environ;

namespace keel::testing {

// A running `keel` (path from the build: KEEL_CLI_PATH). Not thread-safe.
class CliProcess {
 public:
  // Starts `program args...` (`keel` by default) with KEEL_JOURNAL and
  // NO_COLOR removed from the environment. started() is false if the spawn
  // failed.
  explicit CliProcess(const std::vector<std::string>& args, const std::string& program = KEEL_CLI_PATH) {
    int out[2];
    int err[2];
    if (::pipe(out) != 0 || ::pipe(err) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err[1], 2);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    posix_spawn_file_actions_addclose(&actions, err[0]);
    std::vector<std::string> argv_s = {program};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<char*> envp;
    for (char** e = environ; *e != nullptr; ++e) {
      if (std::strncmp(*e, "KEEL_JOURNAL=", 13) != 0 && std::strncmp(*e, "NO_COLOR=", 9) != 0) envp.push_back(*e);
    }
    envp.push_back(nullptr);
    if (posix_spawn(&pid_, program.c_str(), &actions, nullptr, argv.data(), envp.data()) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    ::close(err[1]);
    out_fd_ = out[0];
    err_fd_ = err[0];
  }
  ~CliProcess() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      wait();
    }
    if (out_fd_ >= 0) ::close(out_fd_);
    if (err_fd_ >= 0) ::close(err_fd_);
  }
  CliProcess(const CliProcess&) = delete;
  CliProcess& operator=(const CliProcess&) = delete;

  bool started() const { return pid_ > 0; }
  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }

  // Reads the child's output until `done(out())` holds or both pipes are
  // closed; false if `deadline` passed first.
  bool read_until(const std::function<bool(const std::string&)>& done,
                  std::chrono::steady_clock::time_point deadline) {
    while (!done(out_)) {
      if (out_fd_ < 0 && err_fd_ < 0) return true;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                              std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd fds[2] = {{out_fd_, POLLIN, 0}, {err_fd_, POLLIN, 0}};
      if (::poll(fds, 2, static_cast<int>(left.count())) < 0) return false;
      drain(fds[0], out_fd_, out_);
      drain(fds[1], err_fd_, err_);
    }
    return true;
  }
  // Reads everything until the child closes its output, then reaps it.
  // Returns its exit status (128 + signal if killed, -1 on timeout).
  int finish(std::chrono::steady_clock::time_point deadline) {
    if (!read_until([](const std::string&) { return false; }, deadline)) return -1;
    return wait();
  }
  void terminate() {
    if (pid_ > 0 && !exited_) ::kill(pid_, SIGTERM);
  }

 private:
  static void drain(const pollfd& p, int& fd, std::string& into) {
    if (fd < 0 || (p.revents & (POLLIN | POLLHUP | POLLERR)) == 0) return;
    char buf[65536];
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      into.append(buf, static_cast<std::size_t>(n));
    } else {
      ::close(fd);
      fd = -1;
    }
  }
  int wait() {
    int status = 0;
    if (::waitpid(pid_, &status, 0) != pid_) return -1;
    exited_ = true;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  pid_t pid_ = -1;
  bool exited_ = false;
  int out_fd_ = -1;
  int err_fd_ = -1;
  std::string out_;
  std::string err_;
};

struct CliRun {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs `program args...` (`keel` by default) to completion (20 s deadline).
inline CliRun run_keel(const std::vector<std::string>& args, const std::string& program = KEEL_CLI_PATH) {
  CliProcess p(args, program);
  CliRun r;
  if (!p.started()) return r;
  r.exit_code = p.finish(std::chrono::steady_clock::now() + std::chrono::seconds(20));
  r.out = p.out();
  r.err = p.err();
  return r;
}

// The lines of `text`, without their newlines (a last unterminated line is
// left out: it may still be being written).
inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
    lines.push_back(text.substr(start, nl - start));
  }
  return lines;
}

// Whether `part` occurs in `text`.
inline bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Whether `text` is exactly one JSON value (surrounding whitespace allowed).
class JsonCheck {
 public:
  static bool valid(std::string_view text) {
    JsonCheck c{text};
    c.ws();
    if (!c.value(0)) return false;
    c.ws();
    return c.i_ == text.size();
  }

 private:
  explicit JsonCheck(std::string_view s) : s_(s) {}
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' || s_[i_] == '\r')) ++i_;
  }
  bool eat(char c) {
    ws();
    if (i_ < s_.size() && s_[i_] == c) {
      ++i_;
      return true;
    }
    return false;
  }
  bool literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) return false;
    i_ += word.size();
    return true;
  }
  bool string() {
    if (!eat('"')) return false;
    while (i_ < s_.size() && s_[i_] != '"') {
      if (static_cast<unsigned char>(s_[i_]) < 0x20) return false;
      i_ += s_[i_] == '\\' ? 2 : 1;
    }
    return eat('"');
  }
  bool number() {
    const std::size_t start = i_;
    while (i_ < s_.size() && std::strchr("+-0123456789.eE", s_[i_]) != nullptr) ++i_;
    return i_ > start;
  }
  template <class F>
  bool sequence(char close, F item) {
    if (eat(close)) return true;
    do {
      if (!item()) return false;
    } while (eat(','));
    return eat(close);
  }
  bool value(int depth) {
    ws();
    if (depth > 100 || i_ >= s_.size()) return false;
    const char c = s_[i_];
    if (c == '{') {
      ++i_;
      return sequence('}', [&] { return string() && eat(':') && value(depth + 1); });
    }
    if (c == '[') {
      ++i_;
      return sequence(']', [&] { return value(depth + 1); });
    }
    if (c == '"') return string();
    if (c == 't') return literal("true");
    if (c == 'f') return literal("false");
    if (c == 'n') return literal("null");
    return number();
  }

  std::string_view s_;
  std::size_t i_ = 0;
};

}  // namespace keel::testing
