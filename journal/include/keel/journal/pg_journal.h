// keel/journal/pg_journal.h: a journal in a PostgreSQL database, shared by
// every process that can reach it, and the writer epochs that fence it.
//
// The same Journal interface and record format as the embedded backends
// (keel/journal/journal.h); the layout, the schema per journal and the
// DDL are in docs/journal-format.md ("PostgreSQL"). The journal is named by
// a libpq connection string (a URL or keyword/value pairs) plus an optional
// `keel_schema` parameter that picks the journal within the database:
//
//   keel::JournalOptions o;
//   KEEL_ASSIGN_OR_RETURN(auto journal, keel::open_pg_journal(
//       "postgresql://keel@db.internal/app?keel_schema=orders", o));
//   KEEL_ASSIGN_OR_RETURN(keel::LsnRange r, journal->append(std::move(batch)));
//
// Fencing. A journal's owners fall into kPgShards shards (pg_shard_of), and
// each shard has a writer epoch in the database. A writable open claims
// every shard (unless it is one of a cluster's writers: see
// hold_pg_shards): it raises each epoch by one and holds the new values. Every
// commit checks, inside its own transaction, that the epochs of the shards
// it writes are still the ones it holds; once another writer has claimed
// one (a second open, or claim_pg_shards), the commit writes nothing and
// fails with kOwnershipLost, and so does every later commit of that handle.
//
// The live lock. Every writable handle also holds a session-level advisory
// lock of the journal's, shared, for as long as it is open (a process that
// dies lets go of it with its connection). An open with
// JournalOptions::pg_exclusive takes it exclusively, without waiting: it
// fails while any writer is live, so an offline command never fences a
// running engine. A WorkflowEngine also announces its admin endpoint in the
// journal (announce_pg_admin, keel/workflow/admin.h).
//
// Everything here is thread-safe; the functions block on the network.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "keel/base/status.h"
#include "keel/journal/journal.h"

namespace keel {

// The number of shards a PostgreSQL journal made by this build has (stored
// in its header, so a later build that changes it reads the old value).
inline constexpr std::uint32_t kPgShards = 64;

// The shard of `owner` in a journal of `shards` shards: CRC-32C of the
// owner's bytes, modulo `shards`. Stable: it is how stored epochs apply.
std::uint32_t pg_shard_of(std::string_view owner, std::uint32_t shards = kPgShards);

// Opens (or creates) the PostgreSQL journal named by `conninfo`. The
// connection string is libpq's (passwords from the string, PGPASSWORD or
// ~/.pgpass; sslmode and the rest as libpq reads them), with one addition:
// `keel_schema` (a URL query parameter, or a keyword=value pair) names the
// PostgreSQL schema that holds the journal, so one database holds several
// journals. Without it the schema is options.pg_schema, or "keel" when
// that is empty; both must agree when both are given. A schema name is 1 to
// 63 characters of [a-z0-9_], not starting with a digit.
//
// A writable open connects, creates the schema's tables (or upgrades an
// older layout) in one transaction, refuses a newer layout or record
// format, claims every shard (see above) and starts the writer thread,
// which owns one connection. A read-only open only reads (a role with
// SELECT rights on the schema suffices). Deadlines: each call that needs
// the server waits at most options.pg_timeout for it (connecting, or
// reconnecting with backoff after a lost connection), then fails with
// kUnavailable; and the server cancels a statement of the journal's that
// runs or waits (on another session's lock) over three quarters of it,
// which fails the call with kTimeout, nothing written. No message ever
// contains the password.
//
// Errors: kInvalidArgument (a malformed connection string or schema name),
// kUnavailable (the server cannot be reached, naming the host),
// kUnauthenticated (the server refused the credentials), kNotFound (no
// such journal, and read_only or !create_if_missing), kCorruption (the
// schema holds tables but no Keel journal), kFailedPrecondition (a newer
// layout or format version; or the role lacks a right the open needs, such
// as a reader's role opened for writing), kIoError (any other server error).
Result<std::unique_ptr<Journal>> open_pg_journal(const std::string& conninfo, const JournalOptions& options);

// True when `path` names a PostgreSQL journal for open_journal: a
// "postgresql://" or "postgres://" URL, or a libpq keyword/value string
// (one that starts with a keyword of [a-z_] and '=', and is not an
// existing file).
bool is_pg_conninfo(std::string_view path);

// `path` as messages may show it: itself, or for a PostgreSQL connection
// string (is_pg_conninfo) the journal's name without the password
// ("postgresql://user@host:port/db?keel_schema=s"; a malformed string is
// named only as such).
std::string redacted_journal_path(const std::string& path);

// A shard's writer epoch as claim_pg_shards left it.
struct PgShardEpoch {
  std::uint32_t shard = 0;
  std::uint64_t epoch = 0;
};

// Claims `shards` of the journal at `conninfo` for `holder` (a name for
// people: host and process), in one transaction: each shard's epoch goes
// up by one, so the writer that held it is fenced (its next commit that
// writes an owner of that shard fails with kOwnershipLost). Returns the new
// epochs, in the order of `shards`. This is the hook a cluster layer uses
// to move shards between hosts; a writable open calls it for every shard.
// Errors: kInvalidArgument (a shard >= the journal's shard count),
// kNotFound (no journal there), kUnavailable, kIoError.
Result<std::vector<PgShardEpoch>> claim_pg_shards(const std::string& conninfo,
                                                  const std::vector<std::uint32_t>& shards,
                                                  std::string_view holder,
                                                  std::chrono::milliseconds timeout = std::chrono::seconds(10));

// A cluster's writer: a writable handle opened with
// JournalOptions::pg_claim_all_shards = false claims no shard at open and
// writes only the shards handed to it, which a cluster layer claims with
// claim_pg_shards (keel/cluster/shard_claims.h does) and passes on here.
// A batch with an owner of a shard the handle does not hold is refused
// before it is written, with kOwnershipLost; the others of its commit group
// are written. A commit fenced on a shard (another host claimed it) makes
// the handle read its shards' epochs again and stop holding those that
// moved; the group is written again without their batches, so losing one
// shard fails only that shard's appends. Its records are numbered after the
// highest LSN stored when its commit takes the journal's writer lock, so
// LSNs follow the order of commits across hosts.
//
// hold_pg_shards: from now on the handle writes `epochs`' shards, at those
// epochs (each commit checks them), and reads its owners' last sequence
// numbers again. drop_pg_shards: it stops writing `shards`: batches of their
// owners, queued or new, are refused with kOwnershipLost. held_pg_shards:
// what it holds, by shard. Each runs on the handle's writer thread between
// two commit groups and returns once done. Errors: kInvalidArgument (not a
// PostgreSQL journal, a handle that claims every shard, a shard out of
// range, an epoch of 0), kFailedPrecondition (a read-only handle).
Status hold_pg_shards(Journal& journal, const std::vector<PgShardEpoch>& epochs);
Status drop_pg_shards(Journal& journal, const std::vector<std::uint32_t>& shards);
Result<std::vector<PgShardEpoch>> held_pg_shards(Journal& journal);

// The number of shards of `journal`, as its header holds it: the `shards`
// argument of pg_shard_of for its owners. Errors: kInvalidArgument (not a
// PostgreSQL journal).
Result<std::uint32_t> pg_shard_count(Journal& journal);

// The admin endpoint of a WorkflowEngine on a PostgreSQL journal, as its
// admin table holds it (docs/journal-format.md, "Live lock and admin
// endpoint"). Value type.
struct PgAdminAnnouncement {
  std::string host;    // gethostname() of the engine's process
  std::int64_t pid = 0;
  std::string socket;  // the endpoint's abstract Unix socket name
  std::string token;   // what a request must carry
};

// Writes `a` into the admin table of `journal`, replacing any earlier
// announcement. `journal` must be a writable handle that open_pg_journal
// (or open_journal on a URL) returned. Errors: kInvalidArgument (not a
// PostgreSQL journal), kFailedPrecondition (a read-only handle),
// kUnavailable, kIoError. Thread-safe.
Status announce_pg_admin(Journal& journal, const PgAdminAnnouncement& a);

// Removes the announcement of `journal` if it still carries `token` (a
// newer engine may have replaced it). Errors as announce_pg_admin.
Status withdraw_pg_admin(Journal& journal, std::string_view token);

// The admin endpoint announced in the journal at `conninfo`, or nullopt
// when none is (or the journal's layout predates the admin table). Reads
// only; the role needs SELECT on the admin table, which a read-only role
// is denied (docs/operations.md). Errors: kInvalidArgument, kNotFound (no
// journal there), kUnavailable, kUnauthenticated, kIoError (among them a
// role without SELECT on the table).
Result<std::optional<PgAdminAnnouncement>> read_pg_admin(const std::string& conninfo,
                                                         std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace keel
