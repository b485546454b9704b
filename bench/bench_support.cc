#include "bench_support.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace keel_bench {

Sizes Sizes::quick() {
  Sizes s;
  s.ping_pong_round_trips = 20'000;
  s.fan_in_messages = 200'000;
  s.fan_in_capacity = 4096;
  s.spawn_actors = 5'000;
  s.asks = 10'000;
  s.external_asks = 5'000;
  s.startup_repetitions = 3;
  s.handoff_round_trips = 5'000;
  s.dispatch_messages = 1'000'000;
  s.malloc_blocks = 200'000;
  return s;
}

Sample Sample::failure(const std::string& why) {
  Sample s;
  s.ok = false;
  std::snprintf(s.error, sizeof(s.error), "%s", why.c_str());
  return s;
}

namespace {
double status_field_kib(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::size_t n = std::strlen(key);
  while (std::getline(in, line)) {
    if (line.compare(0, n, key) == 0 && line.size() > n && line[n] == ':') {
      return std::strtod(line.c_str() + n + 1, nullptr);
    }
  }
  return 0;
}

bool write_all(int fd, const void* p, std::size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    const ssize_t w = ::write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    c += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

bool read_all(int fd, void* p, std::size_t n) {
  char* c = static_cast<char*>(p);
  while (n > 0) {
    const ssize_t r = ::read(fd, c, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    c += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}
}  // namespace

double rss_bytes() { return status_field_kib("VmRSS") * 1024.0; }
double peak_rss_bytes() { return status_field_kib("VmHWM") * 1024.0; }

bool reset_peak_rss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

Sample run_isolated(const std::function<Sample()>& fn, int timeout_s) {
  std::fflush(nullptr);  // buffered output must not be written twice
  int fds[2];
  if (::pipe(fds) != 0) return Sample::failure("pipe failed");
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return Sample::failure("fork failed");
  }
  if (pid == 0) {
    ::close(fds[0]);
    ::alarm(static_cast<unsigned>(timeout_s));  // SIGALRM ends a hung workload
    reset_peak_rss();
    Sample s;
    try {
      s = fn();
    } catch (const std::exception& e) {
      s = Sample::failure(std::string("exception: ") + e.what());
    }
    const bool written = write_all(fds[1], &s, sizeof(s));
    ::_exit(written ? 0 : 3);  // no static destructors: they belong to the parent
  }
  ::close(fds[1]);
  Sample s;
  const bool got = read_all(fds[0], &s, sizeof(s));
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!got) {
    if (WIFSIGNALED(status)) {
      const int sig = WTERMSIG(status);
      return Sample::failure(sig == SIGALRM ? "timed out" : std::string("child killed by ") + strsignal(sig));
    }
    return Sample::failure("child exited with status " + std::to_string(WEXITSTATUS(status)));
  }
  return s;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 == 1 ? v[m] : (v[m - 1] + v[m]) / 2;
}

Sample median_by_rate(const std::vector<Sample>& samples) {
  std::vector<Sample> ok;
  for (const Sample& s : samples) {
    if (s.ok) ok.push_back(s);
  }
  if (ok.empty()) return samples.empty() ? Sample::failure("not run") : samples.front();
  std::sort(ok.begin(), ok.end(), [](const Sample& a, const Sample& b) { return a.rate() < b.rate(); });
  // The lower middle for an even count: a real sample, never an average.
  return ok[(ok.size() - 1) / 2];
}

std::string si(double v) {
  char buf[32];
  const double a = std::fabs(v);
  if (a >= 1e9) {
    std::snprintf(buf, sizeof(buf), "%.2fG", v / 1e9);
  } else if (a >= 1e6) {
    std::snprintf(buf, sizeof(buf), "%.2fM", v / 1e6);
  } else if (a >= 1e3) {
    std::snprintf(buf, sizeof(buf), "%.1fk", v / 1e3);
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f", v);
  }
  return buf;
}

std::string nanos(double ns) {
  char buf[32];
  if (ns >= 1e9) {
    std::snprintf(buf, sizeof(buf), "%.3f s", ns / 1e9);
  } else if (ns >= 1e6) {
    std::snprintf(buf, sizeof(buf), "%.2f ms", ns / 1e6);
  } else if (ns >= 1e4) {
    std::snprintf(buf, sizeof(buf), "%.1f us", ns / 1e3);
  } else {
    std::snprintf(buf, sizeof(buf), "%.0f ns", ns);
  }
  return buf;
}

std::string mib(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f MiB", bytes / (1024.0 * 1024.0));
  return buf;
}

void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width;
  for (const auto& r : rows) {
    if (width.size() < r.size()) width.resize(r.size(), 0);
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  for (std::size_t k = 0; k < rows.size(); ++k) {
    std::string line;
    for (std::size_t i = 0; i < rows[k].size(); ++i) {
      std::string cell = rows[k][i];
      if (i + 1 < rows[k].size()) cell.resize(width[i] + 2, ' ');
      line += cell;
    }
    std::printf("%s\n", line.c_str());
    if (k == 0) {
      std::size_t total = 0;
      for (std::size_t w : width) total += w + 2;
      std::printf("%s\n", std::string(total - 2, '-').c_str());
    }
  }
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out;
}

std::string pg_url_from_env() {
  if (const char* url = std::getenv("KEEL_PG_URL"); url != nullptr && *url != '\0') return url;
  std::string line;
  if (const char* file = std::getenv("KEEL_PG_URL_FILE"); file != nullptr) {
    std::ifstream in(file);
    std::getline(in, line);
  }
  return line;
}

}  // namespace keel_bench
