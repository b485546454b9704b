// keel/workflow/admin.h: acting on workflow runs from outside the program
// that runs them (`keel workflow signal|cancel|retry|fork`). A
// WorkflowEngine opens a local admin endpoint when it opens a journal and
// announces it in the file "<journal path>.admin"; run_admin_command()
// finds it there and asks the live engine, or, when no live process owns
// the journal, writes the same records to the journal directly, for the
// next WorkflowEngine::open to act on. A user never stops the program to
// signal or cancel a run.
//
//   keel::AdminCommand cmd;
//   cmd.op = keel::AdminOp::kSignal;
//   cmd.run = "order-17";
//   cmd.name = "approved";
//   cmd.value = keel::wire::encode_value(true);
//   KEEL_ASSIGN_OR_RETURN(keel::AdminOutcome out, keel::run_admin_command("orders.db", cmd));
//   // out.live: the running program took it; else it waits in the journal.
//
// The endpoint is a Unix socket in the abstract namespace; a request must
// carry the random token written in the announcement file (mode 0600, next
// to the journal), so reaching the endpoint needs the same file access as
// writing the journal itself. docs/workflow.md ("Administration").
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

// "<journal path>.admin": where an engine on `journal_path` announces its
// admin endpoint.
std::string admin_file_path(const std::string& journal_path);

// Carries out `cmd` on the runs of the journal at `journal_path` (a SQLite
// file or a RocksDB directory): through the admin endpoint of the live
// engine that owns it when there is one, else directly on the journal,
// which it opens for writing (an engine opening it meanwhile is refused, as
// for any second writer). Returns once the command's record is durable.
// Errors: kNotFound (no such run), kFailedPrecondition (the run has
// finished, or is not failed/cancelled for kRetry; or a live process holds
// the journal without an admin endpoint), kAlreadyExists (kFork: new_run
// exists), kInvalidArgument (empty ids; kFork: the run has fewer step
// results than from_step), kUnavailable (the endpoint did not answer
// within `timeout`), kCorruption (a damaged record of the run), kIoError.
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
