// `keel workflow signal | cancel | retry | fork`: the admin verbs, carried
// out by keel::run_admin_command (keel/workflow/admin.h) on the live
// engine that owns the journal, or on the journal itself when none does.
#include <chrono>

#include "command.h"
#include "keel/journal/pg_journal.h"
#include "keel/wire/value.h"
#include "keel/workflow/admin.h"
#include "text.h"

namespace keel::internal {
namespace {

Outcome admin_failure(const std::string& path, const Status& s) {
  const std::string why(s.message());
  switch (s.code()) {
    case StatusCode::kNotFound:
      // No run of that id; a missing journal is named as such.
      if (why.find("no run") == std::string::npos) {
        return Outcome::fail(ExitCode::kNoJournal, redacted_journal_path(path) + ": no journal at this path");
      }
      return Outcome::fail(ExitCode::kUnknownId, why);
    case StatusCode::kInvalidArgument: return Outcome::fail(ExitCode::kUsage, why);
    case StatusCode::kFailedPrecondition:
      // A live process that cannot be asked here: none of its own endpoint,
      // or (PostgreSQL) its engine runs on another host.
      if (why.find("announces no admin endpoint") != std::string::npos || why.find("runs on host") != std::string::npos) {
        return Outcome::fail(ExitCode::kLiveWriter, why);
      }
      if (why.find("format version") != std::string::npos) return Outcome::fail(ExitCode::kNewerFormat, why);
      return Outcome::fail(ExitCode::kRefused, why);
    case StatusCode::kAlreadyExists: return Outcome::fail(ExitCode::kRefused, why);
    case StatusCode::kUnauthenticated: return Outcome::fail(ExitCode::kLiveWriter, why);
    case StatusCode::kCorruption: return Outcome::fail(ExitCode::kCorruptRecord, why);
    case StatusCode::kUnavailable:
    case StatusCode::kIoError: return Outcome::fail(ExitCode::kIoError, why);
    default: return Outcome::fail(ExitCode::kInternal, s.to_string());
  }
}

}  // namespace

Outcome run_workflow_admin(std::string_view verb, const Args& args, const std::string& path, std::ostream& out,
                           bool json) {
  AdminCommand cmd;
  cmd.run = args.positional.at(0);
  if (verb == "signal") {
    cmd.op = AdminOp::kSignal;
    cmd.name = args.positional.at(1);
    const std::string text = args.positional.size() > 2 ? args.positional[2] : "null";
    Result<wire::Value> value = wire::value_from_json(text);
    if (!value) return Outcome::fail(ExitCode::kUsage, "the signal's value: " + std::string(value.status().message()));
    cmd.value = wire::encode_value(*value);
  } else if (verb == "cancel") {
    cmd.op = AdminOp::kCancel;
  } else if (verb == "retry") {
    cmd.op = AdminOp::kRetry;
  } else {
    cmd.op = AdminOp::kFork;
    if (!args.has("--from-step")) return Outcome::fail(ExitCode::kUsage, "fork needs --from-step N");
    Result<std::uint64_t> n = parse_u64(args.get("--from-step"), "--from-step");
    if (!n) return Outcome::fail(ExitCode::kUsage, std::string(n.status().message()));
    cmd.from_step = *n;
    cmd.new_run = args.get("--as");
    if (cmd.new_run.empty()) {
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
      cmd.new_run = cmd.run + "-fork-" + std::to_string(ms);
    }
  }
  Result<AdminOutcome> done = run_admin_command(path, cmd);
  if (!done) return admin_failure(path, done.status());
  const std::string how = done->live ? "live" : "journal";
  if (json) {
    out << "{\"command\":" << json_string(std::string(verb)) << ",\"run\":" << json_string(done->run)
        << ",\"via\":" << json_string(how) << "}\n";
    return {};
  }
  const std::string where = done->live ? "by the live process" : "in the journal (no live process owns it; the next "
                                                                  "WorkflowEngine::open acts on it)";
  if (verb == "signal") {
    out << "signal '" << cmd.name << "' delivered to run '" << done->run << "' " << where << "\n";
  } else if (verb == "cancel") {
    out << "cancellation of run '" << done->run << "' requested " << where << "\n";
  } else if (verb == "retry") {
    out << "run '" << done->run << "' retried from its failed steps " << where << "\n";
  } else {
    out << "run '" << done->run << "' forked from '" << cmd.run << "' reusing " << cmd.from_step << " step result"
        << (cmd.from_step == 1 ? "" : "s") << ", " << where << "\n";
  }
  return {};
}

}  // namespace keel::internal
