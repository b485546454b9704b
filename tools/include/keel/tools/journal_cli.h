// keel/tools/journal_cli.h: the `keel` command line (`keel journal ...`) as
// a function, so that the `keel` executable is a thin main() and the
// commands can be driven from a program. The commands, their output and
// their exit codes are documented in docs/inspection.md.
//
//   keel::tools::CliEnvironment env;
//   env.out = &std::cout;
//   env.err = &std::cerr;
//   env.default_journal = "bank.db";  // what KEEL_JOURNAL gives the executable
//   int status = keel::tools::run_cli({"journal", "stats", "--json"}, env);
//   // status == 0, std::cout holds one JSON object
#pragma once

#include <atomic>
#include <ostream>
#include <string>
#include <vector>

namespace keel::tools {

// The exit status of `keel`. Stable: scripts test these numbers.
enum class ExitCode : int {
  kOk = 0,
  kProblems = 1,        // verify found problems (each one was printed)
  kUsage = 2,           // malformed arguments
  kNoJournal = 3,       // nothing at the path
  kNotAJournal = 4,     // the path is not a Keel journal
  kNewerFormat = 5,     // the journal's format version is newer than this tool's
  kCorruptRecord = 6,   // a record the command needed is damaged
  kUnknownId = 7,       // no such owner, or an LSN outside the journal
  kLiveWriter = 8,      // compact: a live process owns the journal
  kIoError = 9,         // reading or writing the journal failed
  kInternal = 10,       // anything else
  kRefused = 11,        // keel workflow signal/cancel/retry/fork: the run's state does not allow it
  kUnreachable = 12,    // the journal's database server cannot be reached, or refused the credentials
  kTimedOut = 13,       // keel cluster drain --wait: the host still held shards at --timeout
};

// Where a run reads and writes. The streams must outlive run_cli.
struct CliEnvironment {
  std::ostream* out = nullptr;  // results
  std::ostream* err = nullptr;  // one-line errors and warnings
  bool color = false;           // colour the human output (never the JSON)
  std::string default_journal;  // used when no --journal is given (KEEL_JOURNAL)
  // The cluster's secret for `keel cluster drain` when no --secret-file is
  // given (KEEL_CLUSTER_SECRET).
  std::string cluster_secret;
  // `tail -f` and `ui` stop, with kOk, once this is set (a signal handler sets it).
  // May be null. Read with relaxed order: it is a request, not a barrier.
  const std::atomic<bool>* stop = nullptr;
};

// Runs `keel <args...>` (args excludes the program name) and returns its
// exit status. Every failure is reported as one line on env.err. Blocks
// until the command is done (`tail -f` until env.stop is set or its
// --limit is reached; `ui` until env.stop is set). Read-only commands never
// write to the journal; `keel workflow signal|cancel|retry|fork` append
// their one record (or ask the live engine to).
int run_cli(const std::vector<std::string>& args, const CliEnvironment& env);

}  // namespace keel::tools
