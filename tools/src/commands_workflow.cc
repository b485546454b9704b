// keel workflow ls and show: workflow runs read from their journal records
// (owner "workflow/<run id>", the payloads of keel/journal/format.h),
// read-only. Each run is read once, in sequence order; only that run's
// steps, pending timers and signals are held, never the whole journal.
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "command.h"
#include "keel/journal/format.h"
#include "keel/wire/value.h"

namespace keel::internal {
namespace {

constexpr std::size_t kLsValueWidth = 48;  // result or error column of the ls table

// ---- reading a run's records ---------------------------------------------------

// The value as JSON; "null" when it is null (no bytes).
std::string json_of(const EncodedValue& v) {
  if (v.bytes.empty()) return "null";
  Result<std::string> json = wire::value_to_json(v.bytes);
  return json ? *json : "null";
}

// An error as journaled: a StatusCode number and a message.
struct RunError {
  std::uint64_t code = 0;
  std::string message;

  std::string code_name() const { return std::string(status_code_name(static_cast<StatusCode>(code))); }
  std::string json() const {
    return "{\"code\":" + std::to_string(code) + ",\"code_name\":\"" + code_name() +
           "\",\"message\":" + json_string(message) + "}";
  }
  std::string text() const { return code_name() + " (" + std::to_string(code) + "): " + message; }
};

// A decoded record of the run, with its place in the journal.
template <class T>
struct Journaled {
  T record;
  Lsn lsn = kNoLsn;
  WallTime time;
};
using StepView = Journaled<StepRecord>;
using TimerView = Journaled<TimerRecord>;
using SignalView = Journaled<SignalRecord>;

// A step's value as JSON: "null" unless it succeeded.
std::string value_json(const StepRecord& s) { return s.ok ? json_of(s.value) : "null"; }

RunError error_of(const StepRecord& s) { return {s.error_code, s.error_message}; }

// One run as its records tell it, built record by record in sequence order.
class RunView {
 public:
  explicit RunView(std::string owner) : owner_(std::move(owner)) {}

  // A record of another kind, or one whose payload does not decode as its
  // kind's type (a RunRecord for RUN, ...), is counted in records_ and
  // undecoded_ and otherwise skipped (docs/inspection.md).
  void add(const Record& r) {
    ++records_;
    last_lsn_ = r.lsn;
    last_time_ = r.time;
    if (r.compacted) return;
    switch (r.kind) {
      case RecordKind::kRun: add_decoded<RunRecord>(r, &RunView::add_run); break;
      case RecordKind::kStep: add_decoded<StepRecord>(r, &RunView::add_step); break;
      case RecordKind::kTimer: add_decoded<TimerRecord>(r, &RunView::add_timer); break;
      case RecordKind::kInbox: add_decoded<SignalRecord>(r, &RunView::add_signal); break;
      default: ++undecoded_; break;
    }
  }
  void damaged() { ++damaged_; }

  std::string run_id() const { return std::string(owner_id(owner_)); }
  const std::string& owner() const { return owner_; }
  // "damaged" when a record of the run failed its checksum (what it held is
  // unknown, so no other status can be trusted); else the newest RUN event,
  // mapped: started and retried are "running", cancel_requested is
  // "cancelling"; "-" without a RUN record.
  std::string status() const {
    if (damaged_ != 0) return "damaged";
    if (event_.empty()) return "-";
    if (event_ == "started" || event_ == "retried") return "running";
    if (event_ == "cancel_requested") return "cancelling";
    return event_;
  }
  bool finished() const { return finished_.has_value(); }

  std::string summary_json() const {
    return "\"run\":" + json_string(run_id()) + ",\"owner\":" + json_string(owner_) +
           ",\"workflow\":" + json_string(workflow_) + ",\"status\":" + json_string(status()) +
           ",\"event\":" + json_string(event_) + ",\"steps_done\":" + std::to_string(steps_.size()) +
           ",\"records\":" + std::to_string(records_) + ",\"damaged\":" + std::to_string(damaged_) +
           ",\"last_lsn\":" + std::to_string(last_lsn_) +
           ",\"last_time\":\"" + rfc3339(last_time_) + "\",\"last_time_ns\":" + std::to_string(unix_ns(last_time_)) +
           ",\"result\":" + result_json_ + ",\"error\":" + (error_ ? error_->json() : "null");
  }
  // The result (JSON) or the error, for one table cell; empty when neither.
  std::string outcome_text() const {
    if (error_) return error_->text();
    return event_ == "completed" ? result_json_ : "";
  }

  std::string owner_;
  std::string workflow_;
  std::string event_;
  std::string code_version_;
  std::string parent_;
  std::string input_json_ = "null";
  std::string result_json_ = "null";
  std::optional<RunError> error_;
  std::optional<WallTime> started_;
  std::optional<WallTime> finished_;
  std::vector<StepView> steps_;  // in the order their current records were written
  std::map<std::string, TimerView> timers_;  // by position: TIMER records not followed by their step
  std::vector<SignalView> signals_;
  std::uint64_t records_ = 0;
  std::uint64_t damaged_ = 0;
  std::uint64_t undecoded_ = 0;
  Lsn last_lsn_ = kNoLsn;
  WallTime last_time_;

 private:
  template <class T>
  void add_decoded(const Record& r, void (RunView::*add)(Journaled<T>&&)) {
    Result<T> payload = wire::decode_value<T>(r.payload);
    if (!payload) {
      ++undecoded_;
      return;
    }
    (this->*add)(Journaled<T>{std::move(*payload), r.lsn, r.time});
  }

  void add_run(Journaled<RunRecord>&& r) {
    RunRecord& v = r.record;
    event_ = std::move(v.event);
    if (event_ == "started") {
      workflow_ = std::move(v.workflow);
      code_version_ = std::move(v.code_version);
      parent_ = std::move(v.parent);
      input_json_ = json_of(v.input);
      if (!started_) started_ = r.time;
    } else if (event_ == "completed") {
      result_json_ = json_of(v.result);
      error_.reset();
      finished_ = r.time;
    } else if (event_ == "failed" || event_ == "cancelled") {
      error_ = RunError{v.error_code, std::move(v.error_message)};
      finished_ = r.time;
    } else if (event_ == "retried") {
      // Failed steps and undo steps no longer count (docs/workflow.md).
      std::erase_if(steps_, [](const StepView& s) {
        return !s.record.ok || s.record.position.rfind("undo.", 0) == 0;
      });
      error_.reset();
      finished_.reset();
    }
  }

  void add_step(StepView&& s) {
    // A later record at the same position replaces the earlier one.
    const std::string& position = s.record.position;
    std::erase_if(steps_, [&](const StepView& old) { return old.record.position == position; });
    timers_.erase(position);
    steps_.push_back(std::move(s));
  }

  void add_timer(TimerView&& t) {
    const std::string position = t.record.position;
    timers_[position] = std::move(t);
  }

  void add_signal(SignalView&& s) { signals_.push_back(std::move(s)); }
};

// Reads the run of `owner` once, in sequence order. Errors: kIoError.
Result<RunView> read_run(Journal& journal, const std::string& owner) {
  RunView run(owner);
  KEEL_RETURN_IF_ERROR(journal.scan_owner_skipping(
      owner, 1,
      [&](const Record& r) {
        run.add(r);
        return true;
      },
      [&](const JournalProblem&) { run.damaged(); }));
  return run;
}

// ---- formatting -------------------------------------------------------------------

std::string time_json(const std::optional<WallTime>& t) {
  if (!t) return "null";
  return "{\"time\":\"" + rfc3339(*t) + "\",\"time_ns\":" + std::to_string(unix_ns(*t)) + "}";
}

// "850 ns", "12.5 us", "3.2 ms", "1.50 s", "2h03m".
std::string human_duration(std::int64_t ns) {
  char buf[32];
  const double d = static_cast<double>(ns);
  if (ns < 1'000) {
    std::snprintf(buf, sizeof buf, "%lld ns", static_cast<long long>(ns));
  } else if (ns < 1'000'000) {
    std::snprintf(buf, sizeof buf, "%.1f us", d / 1e3);
  } else if (ns < 1'000'000'000) {
    std::snprintf(buf, sizeof buf, "%.1f ms", d / 1e6);
  } else if (ns < 3'600'000'000'000) {
    std::snprintf(buf, sizeof buf, "%.2f s", d / 1e9);
  } else {
    const long long minutes = ns / 60'000'000'000;
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", minutes / 60, minutes % 60);
  }
  return buf;
}

// `s` cut to `width` code points, with "..." when cut; never splits a
// UTF-8 sequence.
std::string truncate(const std::string& s, std::size_t width) {
  if (visible_width(s) <= width) return s;
  std::size_t points = 0;
  std::size_t i = 0;
  for (; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) continue;
    if (points == width - 3) break;
    ++points;
  }
  return s.substr(0, i) + "...";
}

std::string colored_status(const Palette& p, const std::string& status) {
  if (status == "completed") return p.green(status);
  if (status == "failed" || status == "damaged") return p.red(status);
  if (status == "running" || status == "cancelling") return p.yellow(status);
  return status;
}

std::string or_dash(const std::string& s) { return s.empty() ? "-" : s; }

// Whether `s` is a status `ls --status` takes (or empty: no filter).
bool is_run_status(const std::string& s) {
  for (const char* known : {"", "running", "cancelling", "completed", "failed", "cancelled", "damaged"}) {
    if (s == known) return true;
  }
  return false;
}

bool status_matches(const RunView& run, const std::string& wanted) {
  return wanted.empty() || run.status() == wanted;
}

// The owner that RUN names: itself when it has the prefix, else "workflow/RUN".
std::string run_owner(const std::string& run) {
  return owner_kind(run) == OwnerKind::kWorkflow ? run : workflow_owner(run);
}

Outcome damaged_outcome(const RunView& run) {
  if (run.damaged_ == 0) return {};
  return Outcome::fail(ExitCode::kCorruptRecord, run.owner() + " has " + std::to_string(run.damaged_) +
                                                     (run.damaged_ == 1 ? " damaged record" : " damaged records") +
                                                     " (keel journal show " + run.owner() + " names them)");
}

// ---- show --------------------------------------------------------------------------

std::string step_json(const StepView& view) {
  const StepRecord& s = view.record;
  return "{\"position\":" + json_string(s.position) + ",\"name\":" + json_string(s.name) +
         ",\"kind\":" + json_string(s.kind) + ",\"ok\":" + (s.ok ? "true" : "false") +
         ",\"attempts\":" + std::to_string(s.attempts) + ",\"duration_ns\":" + std::to_string(s.duration_ns) +
         ",\"value\":" + value_json(s) + ",\"error\":" + (s.ok ? "null" : error_of(s).json()) +
         ",\"lsn\":" + std::to_string(view.lsn) + ",\"time\":\"" + rfc3339(view.time) + "\"}";
}

std::string timer_json(const TimerView& view) {
  const TimerRecord& t = view.record;
  return "{\"position\":" + json_string(t.position) + ",\"name\":" + json_string(t.name) +
         ",\"fire_at\":\"" + rfc3339(WallTime(Duration(t.fire_at_ns))) +
         "\",\"fire_at_ns\":" + std::to_string(t.fire_at_ns) + ",\"duration_ns\":" + std::to_string(t.duration_ns) +
         ",\"lsn\":" + std::to_string(view.lsn) + "}";
}

std::string signal_json(const SignalView& s) {
  return "{\"name\":" + json_string(s.record.name) + ",\"value\":" + json_of(s.record.value) +
         ",\"lsn\":" + std::to_string(s.lsn) + ",\"time\":\"" + rfc3339(s.time) + "\"}";
}

std::optional<std::int64_t> run_duration_ns(const RunView& run) {
  if (!run.started_ || !run.finished_) return std::nullopt;
  return (*run.finished_ - *run.started_).count();
}

template <class T, class F>
std::string json_array(const std::vector<T>& items, F element) {
  std::string out = "[";
  for (const T& item : items) out += (out.size() == 1 ? "" : ",") + element(item);
  return out + "]";
}

std::vector<TimerView> pending_timers(const RunView& run) {
  std::vector<TimerView> out;
  for (const auto& [position, timer] : run.timers_) out.push_back(timer);
  return out;
}

// `lead` is fields (with their trailing comma) to put first.
std::string show_json(const RunView& run, const std::string& lead = "") {
  const std::optional<std::int64_t> duration = run_duration_ns(run);
  return "{" + lead + run.summary_json() + ",\"code_version\":" + json_string(run.code_version_) +
         ",\"parent\":" + json_string(run.parent_) + ",\"input\":" + run.input_json_ +
         ",\"started\":" + time_json(run.started_) + ",\"finished\":" + time_json(run.finished_) +
         ",\"duration_ns\":" + (duration ? std::to_string(*duration) : "null") +
         ",\n\"steps\":" + json_array(run.steps_, step_json) +
         ",\n\"pending_timers\":" + json_array(pending_timers(run), timer_json) +
         ",\n\"signals\":" + json_array(run.signals_, signal_json) + "}";
}

// `title` is the first line; the run's owner when empty.
void print_header(const Context& ctx, const RunView& run, const std::string& title = "") {
  const Palette& p = ctx.palette;
  Table t({"", ""});
  t.add({"workflow", or_dash(run.workflow_)});
  t.add({"status", colored_status(p, run.status())});
  t.add({"code version", or_dash(run.code_version_)});
  t.add({"parent", or_dash(run.parent_)});
  t.add({"input", run.input_json_});
  if (run.event_ == "completed") t.add({"result", run.result_json_});
  if (run.error_) t.add({"error", p.red(run.error_->text())});
  t.add({"started", run.started_ ? rfc3339(*run.started_) : "-"});
  t.add({"finished", run.finished_ ? rfc3339(*run.finished_) : "-"});
  const std::optional<std::int64_t> duration = run_duration_ns(run);
  t.add({"duration", duration ? human_duration(*duration) : "-"});
  t.add({"last activity", rfc3339(run.last_time_)});
  ctx.out << p.bold(title.empty() ? run.owner() : title) << "\n";
  t.print(ctx.out, p, /*with_header=*/false);
}

void print_steps(const Context& ctx, const RunView& run) {
  const Palette& p = ctx.palette;
  ctx.out << "\n" << p.bold("steps (" + std::to_string(run.steps_.size()) + ")") << "\n";
  if (run.steps_.empty()) {
    ctx.out << "  (none)\n";
    return;
  }
  Table t({"POSITION", "NAME", "KIND", "STATUS", "ATTEMPTS", "DURATION", "VALUE OR ERROR"});
  for (const StepView& view : run.steps_) {
    const StepRecord& s = view.record;
    t.add({s.position, s.name, s.kind, s.ok ? p.green("ok") : p.red("error"), std::to_string(s.attempts),
           human_duration(s.duration_ns), s.ok ? value_json(s) : p.red(error_of(s).text())});
  }
  t.print(ctx.out, p);
}

void print_waits(const Context& ctx, const RunView& run) {
  const Palette& p = ctx.palette;
  if (!run.timers_.empty()) {
    ctx.out << "\n" << p.bold("pending timers (" + std::to_string(run.timers_.size()) + ")") << "\n";
    Table t({"POSITION", "NAME", "FIRES AT", "DURATION"});
    for (const auto& [position, timer] : run.timers_) {
      const TimerRecord& r = timer.record;
      t.add({position, r.name, rfc3339(WallTime(Duration(r.fire_at_ns))), human_duration(r.duration_ns)});
    }
    t.print(ctx.out, p);
  }
  if (!run.signals_.empty()) {
    ctx.out << "\n" << p.bold("signals received (" + std::to_string(run.signals_.size()) + ")") << "\n";
    Table t({"LSN", "TIME", "NAME", "VALUE"});
    for (const SignalView& s : run.signals_) {
      t.add({std::to_string(s.lsn), rfc3339(s.time), s.record.name, json_of(s.record.value)});
    }
    t.print(ctx.out, p);
  }
}

// ---- ls ------------------------------------------------------------------------------

std::vector<std::string> ls_row(const Palette& p, const RunView& run) {
  std::string outcome = truncate(run.outcome_text(), kLsValueWidth);
  if (run.error_) outcome = p.red(outcome);
  return {run.run_id(), or_dash(run.workflow_), colored_status(p, run.status()), std::to_string(run.steps_.size()),
          rfc3339(run.last_time_), or_dash(outcome)};
}

// Calls `visit` for each run that passes `filter`, in owners() order; one
// run is held at a time. Errors: kUsage (an unknown status), kCorruptRecord
// (after every run was visited: some had damaged records), and the
// journal's.
Outcome for_each_run(Journal& journal, const RunFilter& filter, const std::function<void(const RunView&)>& visit) {
  if (!is_run_status(filter.status)) {
    return Outcome::fail(ExitCode::kUsage,
                         "--status must be running, cancelling, completed, failed, cancelled or damaged, not '" +
                             filter.status + "'");
  }
  Result<std::vector<OwnerInfo>> owners = journal.owners();
  if (!owners) return from_status(owners.status());
  std::uint64_t damaged = 0;  // runs listed with damaged records
  std::string first_damaged;
  for (const OwnerInfo& o : *owners) {
    if (owner_kind(o.owner) != OwnerKind::kWorkflow) continue;
    Result<RunView> run = read_run(journal, o.owner);
    if (!run) return from_status(run.status());
    if (!status_matches(*run, filter.status)) continue;
    if (!filter.workflow.empty() && run->workflow_ != filter.workflow) continue;
    if (run->damaged_ != 0 && damaged++ == 0) first_damaged = run->owner();
    visit(*run);
  }
  if (damaged == 0) return {};
  return Outcome::fail(ExitCode::kCorruptRecord,
                       damaged == 1 ? first_damaged + " has damaged records (keel journal show " + first_damaged +
                                          " names them)"
                                    : std::to_string(damaged) + " runs have damaged records, " + first_damaged +
                                          " first (keel journal verify names them)");
}

// The run `id` names. Errors: kNotFound (no records), and the journal's.
Result<RunView> read_known_run(Journal& journal, const std::string& id) {
  KEEL_ASSIGN_OR_RETURN(RunView run, read_run(journal, run_owner(id)));
  if (run.records_ == 0 && run.damaged_ == 0) {
    return Status::not_found("no workflow run '" + id + "' in the journal (keel workflow ls lists them)");
  }
  return run;
}

}  // namespace

Outcome write_runs_json(Journal& journal, const RunFilter& filter, std::ostream& out) {
  std::string json;
  Outcome outcome = for_each_run(journal, filter, [&](const RunView& run) {
    json += (json.empty() ? "\n{" : ",\n{") + run.summary_json() + "}";
  });
  if (!outcome.ok() && outcome.code != ExitCode::kCorruptRecord) return outcome;
  out << "{\"runs\":[" << json << "]}\n";
  return outcome;
}

Outcome write_run_json(Journal& journal, const std::string& run, std::ostream& out) {
  Result<RunView> view = read_known_run(journal, run);
  if (!view) return from_status(view.status());
  out << show_json(*view) << "\n";
  return damaged_outcome(*view);
}

Outcome run_workflow_ls(Context& ctx) {
  const RunFilter filter{ctx.args.get("--status"), ctx.args.get("--workflow")};
  if (ctx.json) return write_runs_json(ctx.journal, filter, ctx.out);
  Table table({"RUN", "WORKFLOW", "STATUS", "STEPS", "LAST ACTIVITY", "RESULT OR ERROR"});
  Outcome outcome = for_each_run(ctx.journal, filter, [&](const RunView& run) { table.add(ls_row(ctx.palette, run)); });
  if (!outcome.ok() && outcome.code != ExitCode::kCorruptRecord) return outcome;
  table.print(ctx.out, ctx.palette);
  return outcome;
}

Outcome run_workflow_show(Context& ctx) {
  if (ctx.json) return write_run_json(ctx.journal, ctx.args.positional[0], ctx.out);
  Result<RunView> run = read_known_run(ctx.journal, ctx.args.positional[0]);
  if (!run) return from_status(run.status());
  print_header(ctx, *run);
  print_steps(ctx, *run);
  print_waits(ctx, *run);
  return damaged_outcome(*run);
}

Outcome run_workflow_at(Context& ctx, const std::string& owner, Lsn lsn) {
  RunView run(owner);
  Status s = ctx.journal.scan_owner_skipping(
      owner, 1,
      [&](const Record& r) {
        if (r.lsn > lsn) return false;
        run.add(r);
        return true;
      },
      [&](const JournalProblem& p) {
        if (p.lsn <= lsn) run.damaged();
      });
  if (!s.is_ok()) return from_status(s);
  if (ctx.json) {
    ctx.out << show_json(run, "\"as_of_lsn\":" + std::to_string(lsn) + ",") << "\n";
    return damaged_outcome(run);
  }
  const std::string title = owner + " as of lsn " + std::to_string(lsn);
  if (run.records_ == 0 && run.damaged_ == 0) {
    ctx.out << ctx.palette.bold(title) << "\n"
            << "no record of the run at or before lsn " << lsn << ": it had not started\n";
    return {};
  }
  print_header(ctx, run, title);
  print_steps(ctx, run);
  print_waits(ctx, run);
  return damaged_outcome(run);
}

}  // namespace keel::internal
