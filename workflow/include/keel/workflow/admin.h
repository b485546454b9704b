// keel/workflow/admin.h: acting on workflow runs from outside the program
// that runs them (`keel workflow signal|cancel|retry|fork`). A
// WorkflowEngine opens a local admin endpoint when it opens a journal and
// announces it: in the file "<journal path>.admin", or for a PostgreSQL
// journal in the journal's admin table. run_admin_command() finds it there
// and asks the live engine, or, when no live process owns the journal,
// writes the same records to the journal directly, for the next
// WorkflowEngine::open to act on. A user never stops the program to signal
// or cancel a run.
//
//   keel::AdminCommand cmd;
//   cmd.op = keel::AdminOp::kSignal;
//   cmd.run = "order-17";
//   cmd.name = "approved";
//   cmd.value = keel::wire::encode_value(true);
//   KEEL_ASSIGN_OR_RETURN(keel::AdminOutcome out, keel::run_admin_command("orders.db", cmd));
//   // out.live: the running program took it; else it waits in the journal.
//
// The endpoint is a Unix socket in the abstract namespace, served to its
// own user only; a request must carry the random token of the announcement
// (a file of mode 0600 next to the journal, or a table that only roles that
// may write the journal can read), so reaching the endpoint needs the same
// access as writing the journal itself. docs/workflow.md ("Administration").
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "keel/base/clock.h"
#include "keel/base/status.h"
#include "keel/journal/journal.h"

namespace keel {

enum class AdminOp : std::uint8_t {
  kSignal = 1,  // deliver signal `name` with `value` to `run`
  kCancel = 2,  // request cancellation of `run`
  kRetry = 3,   // run a failed or cancelled `run` again from its failed steps
  kFork = 4,    // a new run `new_run` reusing the first `from_step` step results of `run`
};

struct AdminCommand {
  AdminOp op = AdminOp::kSignal;
  std::string run;
  std::string name;        // kSignal: the signal's name
  std::string value;       // kSignal: the encoded value (keel/wire/value.h)
  std::uint64_t from_step = 0;  // kFork: how many journaled step results to reuse
  std::string new_run;     // kFork: the new run's id
};

struct AdminOutcome {
  bool live = false;  // a live engine took the command (else it was journaled offline)
  std::string run;    // the run acted on (kFork: the new run)
};

// "<journal path>.admin": where an engine on the file or directory journal
// `journal_path` announces its admin endpoint (not used for PostgreSQL).
std::string admin_file_path(const std::string& journal_path);

// Carries out `cmd` on the runs of the journal at `journal_path` (a SQLite
// file, a RocksDB directory or a PostgreSQL connection string): through the
// admin endpoint of the live engine that owns it when there is one, else
// directly on the journal, which it opens for writing (an engine opening
// it meanwhile is refused, as for any second writer; on PostgreSQL it
// waits). Returns once the command's record is durable.
//
// On PostgreSQL the announcement is read from the journal's admin table
// (read_pg_admin in keel/journal/pg_journal.h): an engine on this host is
// asked through its socket; one on another host cannot be, and the command
// fails naming that host. The offline path opens the journal with
// JournalOptions::pg_exclusive, so it never fences a live writer: it runs
// only when no writer holds the journal's live lock (an engine announced
// but dead, on any host, does not). Messages name a URL without its
// password.
//
// Errors: kNotFound (no such run, or no journal there), kFailedPrecondition
// (the run has finished, or is not failed/cancelled for kRetry; a live
// process holds the journal without an admin endpoint: "announces no admin
// endpoint"; PostgreSQL: the journal's engine "runs on host H"),
// kAlreadyExists (kFork: new_run exists), kInvalidArgument (empty ids;
// kFork: the run has fewer step results than from_step), kUnavailable (the
// endpoint did not answer within `timeout`; PostgreSQL: the server could
// not be reached), kUnauthenticated (a wrong token; PostgreSQL: credentials
// refused), kCorruption (a damaged record of the run), kIoError (among
// them, on PostgreSQL, a role that may not read the admin table).
Result<AdminOutcome> run_admin_command(const std::string& journal_path, const AdminCommand& cmd,
                                       Duration timeout = std::chrono::seconds(10));

// The records that start run `new_run` as a fork of `run` (whose records
// `journal` holds): a "started" record with the source's workflow and
// input (and `code_version`, or the source's when empty), then copies of
// its first `from_step` STEP records in journal order. Errors: as
// run_admin_command for kFork (kAlreadyExists when `journal` has records
// of `new_run`). Thread-safe as the journal's reads are.
Result<std::vector<NewRecord>> fork_records(Journal& journal, const std::string& run,
                                            std::uint64_t from_step, const std::string& new_run,
                                            const std::string& code_version);

}  // namespace keel
