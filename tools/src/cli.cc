// The `keel` command line: argument parsing, opening the journal, and the
// mapping of failures to exit codes (docs/inspection.md).
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string_view>

#include "capnp_render.h"
#include "command.h"
#include "keel/journal/pg_journal.h"
#include "keel/tools/journal_cli.h"

namespace keel::internal {
namespace {

struct OptionSpec {
  std::string_view name;  // "--owner"
  std::string_view short_name;  // "-n", or empty
  bool takes_value;
};

struct VerbSpec {
  std::string_view verb;
  std::string_view usage;  // after "keel journal "
  std::size_t min_positional;
  std::size_t max_positional;
  std::vector<OptionSpec> options;
};

constexpr std::string_view kOverview =
    "usage: keel journal <command> [--journal PATH] [--json] [options]\n"
    "\n"
    "The journal is --journal PATH (-j), or $KEEL_JOURNAL: a SQLite file, a\n"
    "RocksDB directory or a postgresql:// URL. It is opened read-only (safe\n"
    "beside a live writer), except by compact and vacuum.\n"
    "\n"
    "commands:\n"
    "  stats [--deep]                     format, backend, LSN range, counts, size, times\n"
    "  ls [--kind K] [--status S] [--deep]  owners and runs with their status\n"
    "  show ID [--schema F --type T]      one owner's timeline, payloads decoded\n"
    "  tail [-f] [-n N] [--owner ID]      the newest records; -f follows new commits\n"
    "  verify                             checksums, gaps, dangling references\n"
    "  at ID LSN                          a durable actor or a workflow run as of LSN\n"
    "  export [--owner ID] [--from L] [--to L]   records as JSON lines\n"
    "  compact                            drop payloads superseded by snapshots (offline)\n"
    "  vacuum                             give the space of removed records back (offline)\n"
    "\n"
    "keel workflow ls|show|signal|cancel|retry|fork: workflow runs (keel workflow --help).\n"
    "keel ui [--port N]: the same views in a web browser (keel ui --help).\n"
    "keel cluster status|hosts|shards|drain: the cluster on a PostgreSQL journal (keel cluster --help).\n"
    "\n"
    "Exit codes: 0 ok, 1 verify found problems, 2 bad arguments, 3 no journal at\n"
    "the path, 4 not a Keel journal, 5 newer format version, 6 damaged record,\n"
    "7 unknown id or LSN, 8 owned by a live process, 9 I/O error, 10 internal,\n"
    "11 refused by the state, 12 the database server cannot be reached, 13 timed\n"
    "out. See docs/inspection.md.\n";

constexpr std::string_view kWorkflowOverview =
    "usage: keel workflow <command> [--journal PATH] [--json] [options]\n"
    "\n"
    "The journal is given as for keel journal (--journal PATH, -j, or $KEEL_JOURNAL);\n"
    "ls and show open it read-only.\n"
    "\n"
    "commands:\n"
    "  ls [--status S] [--workflow NAME]  runs with their status, steps done, result or error\n"
    "  show RUN                           one run: header, steps, pending timers, signals\n"
    "  signal RUN NAME [JSON]             deliver a signal (value as JSON; default null)\n"
    "  cancel RUN                         request cancellation\n"
    "  retry RUN                          run a failed or cancelled run again from its failed steps\n"
    "  fork RUN --from-step N [--as ID]   a new run reusing the first N step results\n"
    "\n"
    "signal, cancel, retry and fork act on the live process that owns the journal\n"
    "(through its admin endpoint, announced in PATH.admin) or, when none does, on\n"
    "the journal itself, for the program's next start.\n"
    "\n"
    "Exit codes as keel journal; 7 is an unknown run; 8 a live process without an\n"
    "admin endpoint; 11 a command the run's state refuses. See docs/inspection.md.\n";

constexpr std::string_view kClusterOverview =
    "usage: keel cluster <command> [--journal URL] [--json]\n"
    "\n"
    "The journal is a cluster's shared PostgreSQL journal: --journal URL (-j), or\n"
    "$KEEL_JOURNAL, a postgresql:// URL with its keel_schema. status, hosts and\n"
    "shards are read-only: a role with SELECT on the schema suffices. Leases are\n"
    "judged by the database's clock.\n"
    "\n"
    "commands:\n"
    "  status                             the cluster's name, live hosts, shards held, shards per host\n"
    "  hosts                              every host: incarnation, state, lease, shards, addresses, labels\n"
    "  shards                             every shard: epoch, holder, whether the holder is live\n"
    "  drain HOST [--wait [--timeout S]]  mark a live host draining: it hands its shards over, gets\n"
    "                                     no new ones and no gang members, and keeps its lease;\n"
    "                                     --wait waits (default 600 s) until it holds no shard and\n"
    "                                     prints where they went\n"
    "  drain --undo HOST                  the host is no longer draining and gets its share again\n"
    "\n"
    "drain needs the cluster's secret: --secret-file FILE (its first line) or\n"
    "$KEEL_CLUSTER_SECRET, and UPDATE on the schema's hosts table. A host's next\n"
    "incarnation (it restarted) is not draining.\n"
    "\n"
    "Exit codes as keel journal; 3 is no journal or no cluster at the URL; 7 no such\n"
    "host; 11 the host is not live; 12 also a wrong secret; 13 --wait timed out (the\n"
    "host stays draining). See docs/cluster.md.\n";

constexpr std::string_view kUiOverview =
    "usage: keel ui [--journal PATH] [--port N] [--host ADDR] [--schema F --type T]\n"
    "\n"
    "Serves a web view of the journal: runs and owners with their status and\n"
    "filters, one run's timeline, one owner's records. The page refreshes while\n"
    "the journal grows; the journal is opened read-only. Prints the URL, then\n"
    "serves until Ctrl-C.\n"
    "\n"
    "  --port N     the port (default 8787; 0 picks a free one)\n"
    "  --host ADDR  the address to listen on (default 127.0.0.1)\n"
    "\n"
    "There is no authentication: anyone who can reach the port can read the\n"
    "journal, so keep the default loopback address. The JSON under /api/ is\n"
    "what keel journal/workflow ... --json print. See docs/inspection.md.\n";

const std::vector<OptionSpec> kCommon = {
    {"--journal", "-j", true}, {"--json", "", false}, {"--help", "-h", false}};
const std::vector<OptionSpec> kSchema = {{"--schema", "", true}, {"--type", "", true}};

const std::vector<VerbSpec>& verbs() {
  static const std::vector<VerbSpec> kVerbs = {
      {"stats", "stats [--deep]", 0, 0, {{"--deep", "", false}}},
      {"ls", "ls [--kind actor|workflow|other] [--status STATUS] [--deep]", 0, 0,
       {{"--kind", "", true}, {"--status", "", true}, {"--deep", "", false}}},
      {"show", "show ID [--schema FILE.capnp [--type NAME]]", 1, 1, kSchema},
      {"tail", "tail [-f] [-n N] [--owner ID] [--limit N] [--interval-ms MS]", 0, 0,
       {{"--follow", "-f", false},
        {"--lines", "-n", true},
        {"--owner", "", true},
        {"--limit", "", true},
        {"--interval-ms", "", true},
        {"--schema", "", true},
        {"--type", "", true}}},
      {"verify", "verify", 0, 0, {}},
      {"at", "at ID LSN", 2, 2, kSchema},
      {"export", "export [--owner ID] [--from LSN] [--to LSN]", 0, 0,
       {{"--owner", "", true}, {"--from", "", true}, {"--to", "", true}, {"--schema", "", true},
        {"--type", "", true}}},
      {"compact", "compact", 0, 0, {}},
      {"vacuum", "vacuum", 0, 0, {}},
  };
  return kVerbs;
}

const std::vector<VerbSpec>& workflow_verbs() {
  static const std::vector<VerbSpec> kVerbs = {
      {"ls", "ls [--status running|cancelling|completed|failed|cancelled|damaged] [--workflow NAME]", 0, 0,
       {{"--status", "", true}, {"--workflow", "", true}}},
      {"show", "show RUN", 1, 1, {}},
      {"signal", "signal RUN NAME [JSON]", 2, 3, {}},
      {"cancel", "cancel RUN", 1, 1, {}},
      {"retry", "retry RUN", 1, 1, {}},
      {"fork", "fork RUN --from-step N [--as NEW_RUN]", 1, 1, {{"--from-step", "", true}, {"--as", "", true}}},
  };
  return kVerbs;
}

bool is_admin_verb(std::string_view group, std::string_view verb) {
  return group == "workflow" && (verb == "signal" || verb == "cancel" || verb == "retry" || verb == "fork");
}

const std::vector<VerbSpec>& cluster_verbs() {
  static const std::vector<VerbSpec> kVerbs = {
      {"status", "status", 0, 0, {}},
      {"hosts", "hosts", 0, 0, {}},
      {"shards", "shards", 0, 0, {}},
      {"drain", "drain HOST [--wait [--timeout SECONDS]] [--undo] [--secret-file FILE]", 1, 1,
       {{"--wait", "", false}, {"--timeout", "", true}, {"--undo", "", false}, {"--secret-file", "", true}}},
  };
  return kVerbs;
}

// `keel ui`: a group of one verb, without a verb word.
const std::vector<VerbSpec>& ui_verbs() {
  static const std::vector<VerbSpec> kVerbs = {
      {"ui", "[--journal PATH] [--port N] [--host ADDR]", 0, 0,
       {{"--port", "", true}, {"--host", "", true}, {"--schema", "", true}, {"--type", "", true}}},
  };
  return kVerbs;
}

// A command group: `keel <name> <verb> ...`.
struct Group {
  std::string_view name;
  std::string_view overview;
  const std::vector<VerbSpec>& verbs;
};

const OptionSpec* find_option(const VerbSpec& verb, std::string_view name) {
  for (const auto* list : {&kCommon, &verb.options}) {
    for (const OptionSpec& o : *list) {
      if (o.name == name || (!o.short_name.empty() && o.short_name == name)) return &o;
    }
  }
  return nullptr;
}

// Parses args[from...] for `verb`. Errors: kInvalidArgument.
Result<Args> parse_args(const Group& group, const VerbSpec& verb, const std::vector<std::string>& args,
                        std::size_t from) {
  Args parsed;
  bool options_done = false;
  for (std::size_t i = from; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (options_done || a.size() < 2 || a[0] != '-') {
      parsed.positional.push_back(a);
      continue;
    }
    if (a == "--") {
      options_done = true;
      continue;
    }
    std::string name = a;
    std::optional<std::string> value;
    if (const std::size_t eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
      name = a.substr(0, eq);
      value = a.substr(eq + 1);
    }
    const OptionSpec* spec = find_option(verb, name);
    if (spec == nullptr) return Status::invalid_argument("unknown option " + name + " for " + std::string(verb.verb));
    if (spec->takes_value && !value) {
      if (i + 1 >= args.size()) return Status::invalid_argument(name + " needs a value");
      value = args[++i];
    }
    if (!spec->takes_value && value) return Status::invalid_argument(name + " takes no value");
    parsed.options[std::string(spec->name)] = value.value_or("");
  }
  if (parsed.has("--help")) return parsed;
  if (parsed.positional.size() < verb.min_positional || parsed.positional.size() > verb.max_positional) {
    return Status::invalid_argument("usage: keel " + std::string(group.name) + " " + std::string(verb.usage));
  }
  return parsed;
}

// The failure of opening `path` read-only, by what the user should do. The
// journal's messages name the path and the problem ("sqlite journal a.db:
// not a Keel journal (no meta table)"), so they are printed as they are.
Outcome open_failure(const std::string& path, const Status& s) {
  std::string why(s.message());
  switch (s.code()) {
    case StatusCode::kNotFound:
      return Outcome::fail(ExitCode::kNoJournal, redacted_journal_path(path) + ": no journal at this path");
    case StatusCode::kInvalidArgument:
      // A malformed connection string is the user's argument, not a file.
      if (is_pg_conninfo(path)) return Outcome::fail(ExitCode::kUsage, std::move(why));
      return Outcome::fail(ExitCode::kNotAJournal, std::move(why));
    case StatusCode::kCorruption: return Outcome::fail(ExitCode::kNotAJournal, std::move(why));
    case StatusCode::kFailedPrecondition: return Outcome::fail(ExitCode::kNewerFormat, std::move(why));
    case StatusCode::kIoError: return Outcome::fail(ExitCode::kIoError, std::move(why));
    case StatusCode::kUnavailable:
    case StatusCode::kUnauthenticated: return Outcome::fail(ExitCode::kUnreachable, std::move(why));
    default: return Outcome::fail(ExitCode::kInternal, redacted_journal_path(path) + ": " + s.to_string());
  }
}

// Opens the journal at `path` as the read-only commands do: never created,
// nothing written. Errors: those of open_journal.
Result<std::unique_ptr<Journal>> open_read_only(const std::string& path) {
  JournalOptions options;
  options.read_only = true;
  options.create_if_missing = false;
  return open_journal(path, options);
}

Outcome dispatch(const Group& group, const VerbSpec& verb, Context& ctx, std::unique_ptr<Journal>& journal) {
  const std::string_view v = verb.verb;
  if (group.name == "workflow") return v == "ls" ? run_workflow_ls(ctx) : run_workflow_show(ctx);
  if (group.name == "ui") return run_ui(ctx);
  if (v == "stats") return run_stats(ctx);
  if (v == "ls") return run_ls(ctx);
  if (v == "show") return run_show(ctx);
  if (v == "tail") return run_tail(ctx);
  if (v == "export") return run_export(ctx);
  if (v == "verify") return run_verify(ctx);
  if (v == "at") return run_at(ctx);
  if (v == "vacuum") return run_vacuum(ctx, [&journal] { journal.reset(); });
  return run_compact(ctx, [&journal] { journal.reset(); });
}

// Opens the journal that `parsed` names read-only and runs `verb` on it.
Outcome open_and_dispatch(const Group& group, const VerbSpec& verb, const Args& parsed,
                          const tools::CliEnvironment& env) {
  const std::string path = parsed.get("--journal", env.default_journal);
  if (path.empty()) return Outcome::fail(ExitCode::kUsage, "no journal: give --journal PATH or set KEEL_JOURNAL");
  std::unique_ptr<CapnpRenderer> capnp;
  if (parsed.has("--schema")) {
    Result<std::unique_ptr<CapnpRenderer>> loaded = CapnpRenderer::load(parsed.get("--schema"), parsed.get("--type"));
    if (!loaded) return Outcome::fail(ExitCode::kUsage, std::string(loaded.status().message()));
    capnp = std::move(*loaded);
  } else if (parsed.has("--type")) {
    return Outcome::fail(ExitCode::kUsage, "--type needs --schema FILE.capnp");
  }
  Result<std::unique_ptr<Journal>> journal = open_read_only(path);
  if (!journal) return open_failure(path, journal.status());
  Context ctx{*env.out, *env.err, Palette(env.color), parsed.has("--json"), path, **journal,
              capnp.get(), env.stop, parsed};
  return dispatch(group, verb, ctx, *journal);
}

Outcome run_group(const Group& group, const std::vector<std::string>& args, const tools::CliEnvironment& env) {
  const std::string help = " (see keel " + std::string(group.name) + " --help)";
  if (args.size() < 2) return Outcome::fail(ExitCode::kUsage, "a command is needed" + help);
  if (args[1] == "--help" || args[1] == "-h" || args[1] == "help") {
    *env.out << group.overview;
    return {};
  }
  const VerbSpec* verb = nullptr;
  for (const VerbSpec& s : group.verbs) {
    if (s.verb == args[1]) verb = &s;
  }
  if (verb == nullptr) return Outcome::fail(ExitCode::kUsage, "unknown command '" + args[1] + "'" + help);
  Result<Args> parsed = parse_args(group, *verb, args, 2);
  if (!parsed) return Outcome::fail(ExitCode::kUsage, std::string(parsed.status().message()));
  if (parsed->has("--help")) {
    *env.out << "usage: keel " << group.name << " " << verb->usage << " [--journal PATH] [--json]\n";
    return {};
  }
  if (group.name == "cluster") {
    const std::string path = parsed->get("--journal", env.default_journal);
    if (path.empty()) return Outcome::fail(ExitCode::kUsage, "no journal: give --journal URL or set KEEL_JOURNAL");
    if (verb->verb == "drain") {
      return run_cluster_drain(*parsed, path, env.cluster_secret, *env.out, Palette(env.color), parsed->has("--json"),
                               env.stop);
    }
    return run_cluster(verb->verb, path, *env.out, Palette(env.color), parsed->has("--json"));
  }
  if (is_admin_verb(group.name, verb->verb)) {
    // Not opened read-only here: the command reaches the live owner, or
    // opens the journal for writing itself.
    const std::string path = parsed->get("--journal", env.default_journal);
    if (path.empty()) return Outcome::fail(ExitCode::kUsage, "no journal: give --journal PATH or set KEEL_JOURNAL");
    // A path that is not a journal this keel reads is refused as the
    // read-only commands refuse it, before anything may open it for writing.
    Result<std::unique_ptr<Journal>> journal = open_read_only(path);
    if (!journal) return open_failure(path, journal.status());
    journal->reset();
    return run_workflow_admin(verb->verb, *parsed, path, *env.out, parsed->has("--json"));
  }
  return open_and_dispatch(group, *verb, *parsed, env);
}

Outcome run_ui_group(const std::vector<std::string>& args, const tools::CliEnvironment& env) {
  const Group group{"ui", kUiOverview, ui_verbs()};
  Result<Args> parsed = parse_args(group, ui_verbs()[0], args, 1);
  if (!parsed) return Outcome::fail(ExitCode::kUsage, std::string(parsed.status().message()));
  if (parsed->has("--help")) {
    *env.out << kUiOverview;
    return {};
  }
  return open_and_dispatch(group, ui_verbs()[0], *parsed, env);
}

}  // namespace

Outcome from_status(const Status& s) {
  switch (s.code()) {
    case StatusCode::kCorruption: return Outcome::fail(ExitCode::kCorruptRecord, std::string(s.message()));
    case StatusCode::kNotFound: return Outcome::fail(ExitCode::kUnknownId, std::string(s.message()));
    case StatusCode::kIoError: return Outcome::fail(ExitCode::kIoError, std::string(s.message()));
    case StatusCode::kInvalidArgument: return Outcome::fail(ExitCode::kUsage, std::string(s.message()));
    case StatusCode::kUnavailable:
    case StatusCode::kUnauthenticated: return Outcome::fail(ExitCode::kUnreachable, std::string(s.message()));
    default: return Outcome::fail(ExitCode::kInternal, s.to_string());
  }
}

Result<std::uint64_t> parse_u64(const std::string& text, const std::string& what) {
  if (text.empty() || text.size() > 20 || text.find_first_not_of("0123456789") != std::string::npos) {
    return Status::invalid_argument(what + " must be a non-negative integer, not '" + text + "'");
  }
  errno = 0;
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  if (errno == ERANGE) return Status::invalid_argument(what + " is too large: " + text);
  return static_cast<std::uint64_t>(v);
}

}  // namespace keel::internal

namespace keel::tools {

int run_cli(const std::vector<std::string>& args, const CliEnvironment& env) {
  internal::Outcome outcome;
  if (args.empty()) {
    outcome = internal::Outcome::fail(ExitCode::kUsage, "a command is needed (see keel journal --help)");
  } else if (args[0] == "--help" || args[0] == "-h") {
    *env.out << internal::kOverview;
  } else if (args[0] == "journal") {
    outcome = internal::run_group({"journal", internal::kOverview, internal::verbs()}, args, env);
  } else if (args[0] == "workflow") {
    outcome = internal::run_group({"workflow", internal::kWorkflowOverview, internal::workflow_verbs()}, args, env);
  } else if (args[0] == "ui") {
    outcome = internal::run_ui_group(args, env);
  } else if (args[0] == "cluster") {
    outcome = internal::run_group({"cluster", internal::kClusterOverview, internal::cluster_verbs()}, args, env);
  } else {
    outcome = internal::Outcome::fail(ExitCode::kUsage, "unknown command '" + args[0] + "' (try: keel journal --help)");
  }
  env.out->flush();
  if (!outcome.ok() && !outcome.message.empty()) *env.err << "keel: " << outcome.message << "\n";
  env.err->flush();
  return static_cast<int>(outcome.code);
}

}  // namespace keel::tools
