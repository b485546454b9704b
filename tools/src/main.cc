// keel: the Keel command line. `keel journal --help` lists the commands;
// docs/inspection.md describes them, their output and their exit codes.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "keel/tools/journal_cli.h"

namespace {

// Set by SIGINT and SIGTERM; `tail -f` and `ui` poll it and exit cleanly. Relaxed:
// a lock-free flag read by one thread, no data is published through it.
std::atomic<bool> g_stop{false};

extern "C" void on_signal(int) { g_stop.store(true, std::memory_order_relaxed); }

}  // namespace

int main(int argc, char** argv) {
  std::ios::sync_with_stdio(false);
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  keel::tools::CliEnvironment env;
  env.out = &std::cout;
  env.err = &std::cerr;
  env.color = ::isatty(STDOUT_FILENO) != 0 && std::getenv("NO_COLOR") == nullptr;
  if (const char* journal = std::getenv("KEEL_JOURNAL")) env.default_journal = journal;
  if (const char* secret = std::getenv("KEEL_CLUSTER_SECRET")) env.cluster_secret = secret;
  env.stop = &g_stop;
  return keel::tools::run_cli(std::vector<std::string>(argv + 1, argv + argc), env);
}
