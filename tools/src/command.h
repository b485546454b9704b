// command.h: what every `keel journal` command gets (its parsed arguments,
// the open journal, the output streams) and returns (an exit code with a
// one-line message). Not thread-safe; one Context per run.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "keel/base/status.h"
#include "keel/journal/journal.h"
#include "keel/tools/journal_cli.h"
#include "text.h"

namespace keel::internal {

using tools::ExitCode;

// How a command ended: kOk, or a failure with the line to print.
struct Outcome {
  ExitCode code = ExitCode::kOk;
  std::string message;

  bool ok() const { return code == ExitCode::kOk; }
  static Outcome fail(ExitCode code, std::string message) { return {code, std::move(message)}; }
};

// A journal error met while a command runs: kCorruption is a damaged
// record, kNotFound an unknown id, kIoError an I/O failure.
Outcome from_status(const Status& s);

// Parsed command-line arguments of one verb.
struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;  // "--name" -> value ("" for flags)

  bool has(const std::string& name) const { return options.count(name) != 0; }
  std::string get(const std::string& name, const std::string& fallback = "") const {
    auto it = options.find(name);
    return it == options.end() ? fallback : it->second;
  }
};

class CapnpRenderer;

struct Context {
  std::ostream& out;
  std::ostream& err;
  Palette palette;
  bool json = false;
  std::string path;  // the journal's path, as given
  Journal& journal;  // opened read-only
  const CapnpRenderer* capnp = nullptr;  // --schema, or null
  const std::atomic<bool>* stop = nullptr;
  const Args& args;
};

// An unsigned decimal option or positional. Errors: kInvalidArgument naming
// `what`.
Result<std::uint64_t> parse_u64(const std::string& text, const std::string& what);

// The journal owner that `id` names: `id` itself if it has records, else
// "actor/<id>", else "workflow/<id>". Errors: kNotFound (none has records),
// kIoError.
Result<std::string> resolve_owner(Journal& journal, const std::string& id);

// The owner's highest sequence number (0 when it has no records), found by
// probing scan_owner at growing sequence numbers: O(log n) index seeks.
// Errors: kIoError.
Result<std::uint64_t> last_seq_of(Journal& journal, const std::string& owner);

// One record as a line of the human timeline: "  seq  lsn  time  kind  payload"
// with `width` digits for seq and lsn.
std::string timeline_row(const Context& ctx, const Record& r, std::size_t width, bool with_owner);

// The number of decimal digits of n.
std::size_t digits(std::uint64_t n);

// ---- The JSON documents --------------------------------------------------------
// What `keel journal stats|ls|show --json` and `keel workflow ls|show --json`
// print, and what `keel ui` serves under /api/ (docs/inspection.md, "JSON
// shapes"): one function per document, so the command line and the web view
// cannot drift apart. Each writes one JSON document and a newline to `out`
// and returns how the command ends: kUsage (a filter that is not one of its
// values; nothing written), kUnknownId (unknown owner or run; nothing
// written), kCorruptRecord (the whole document was written and lists damaged
// records), kIoError or kInternal (the document may be cut short).

// `ls` filters; empty means any.
struct OwnerFilter {
  std::string kind;    // "actor", "workflow" or "other"
  std::string status;  // "idle", "pending", a run's status, "damaged", ...
  // Look for damaged records in all of each owner's records, not only in
  // those read for its status.
  bool deep = false;
};
// `workflow ls` filters; empty means any.
struct RunFilter {
  std::string status;    // running, cancelling, completed, failed or cancelled
  std::string workflow;  // the workflow's name
};

// `deep`: count the records by reading every one (finds damaged ones)
// instead of taking the counts the journal's writer keeps.
Outcome write_stats_json(Journal& journal, const std::string& path, std::ostream& out, bool deep = false);
Outcome write_owners_json(Journal& journal, const OwnerFilter& filter, std::ostream& out);
// `id` as resolve_owner takes it; `capnp` may be null (borrowed for the call).
Outcome write_owner_json(Journal& journal, const std::string& id, const CapnpRenderer* capnp, std::ostream& out);
Outcome write_runs_json(Journal& journal, const RunFilter& filter, std::ostream& out);
// `run` is a run id, or its owner name "workflow/<id>".
Outcome write_run_json(Journal& journal, const std::string& run, std::ostream& out);

// The commands (docs/inspection.md). Each writes its results to ctx.out.
Outcome run_stats(Context& ctx);
Outcome run_ls(Context& ctx);
Outcome run_show(Context& ctx);
Outcome run_tail(Context& ctx);
Outcome run_export(Context& ctx);
Outcome run_verify(Context& ctx);
Outcome run_at(Context& ctx);
// keel workflow ls and show (commands_workflow.cc).
Outcome run_workflow_ls(Context& ctx);
Outcome run_workflow_show(Context& ctx);
// keel journal at RUN LSN (commands_workflow.cc): the workflow run of
// `owner` as its records up to `lsn` tell it, as `workflow show` shows a run.
Outcome run_workflow_at(Context& ctx, const std::string& owner, Lsn lsn);
// keel ui (ui_server.cc): serves the web view until ctx.stop is set (never,
// when it is null). Errors: kUsage (bad --port or --host), kIoError (cannot
// listen).
Outcome run_ui(Context& ctx);
// `keel workflow signal|cancel|retry|fork` (`verb`): through the live
// engine's admin endpoint, else on the journal at `path` (commands_admin.cc).
Outcome run_workflow_admin(std::string_view verb, const Args& args, const std::string& path, std::ostream& out,
                           bool json);
// `keel cluster status|hosts|shards` (`verb`) on the cluster in the
// PostgreSQL journal at `path` (commands_cluster.cc). Errors: kUsage (not a
// postgresql:// URL), kNoJournal (no journal, or no cluster in it),
// kUnreachable, kIoError.
Outcome run_cluster(std::string_view verb, const std::string& path, std::ostream& out, const Palette& palette,
                    bool json);
// kOk when `path` is a postgresql:// URL, else kUsage saying that keel
// cluster needs one.
Outcome check_cluster_url(const std::string& path);
// The outcome of read_cluster's error `s`: kNoJournal (no journal or no
// cluster), kNotAJournal, kNewerFormat, kUnreachable, or from_status's.
Outcome cluster_read_failure(const Status& s);
// `keel cluster drain HOST [--wait [--timeout S]] [--undo] [--secret-file F]`
// (commands_drain.cc): marks the host draining (or, with --undo, no longer
// draining) with the cluster's secret from --secret-file or
// `secret_from_environment`; with --wait, polls until the host holds no
// shard, then prints where its shards went. Stops waiting when `stop` (may
// be null) is set. Errors: kUsage (bad options, no secret), kNoJournal,
// kUnknownId (no such host), kRefused (the host is not live, or stopped
// being live while draining), kUnreachable (also a wrong secret),
// kTimedOut (--timeout passed or the wait was interrupted; the host stays
// draining), kIoError.
Outcome run_cluster_drain(const Args& args, const std::string& path, const std::string& secret_from_environment,
                          std::ostream& out, const Palette& palette, bool json, const std::atomic<bool>* stop);
// Compaction opens the journal for writing itself: ctx.journal is the
// read-only handle that proved the path is a readable journal, and is closed
// by `close_reader` before the writable open.
Outcome run_compact(Context& ctx, const std::function<void()>& close_reader);
// `keel journal vacuum` (commands_vacuum.cc): the same opening as compact,
// then Journal::vacuum.
Outcome run_vacuum(Context& ctx, const std::function<void()>& close_reader);

}  // namespace keel::internal
