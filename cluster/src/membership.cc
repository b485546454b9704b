// Membership: the cluster's tables in the journal's schema, the lease and
// its renewal thread. The SQL is here; the layout is documented in
// docs/cluster.md ("Tables").
#include "keel/cluster/membership.h"

#include <algorithm>
#include <atomic>
#include <optional>

#include "cluster_secret.h"
#include "cluster_tables.h"
#include "keel/base/thread_annotations.h"
#include "pg_connection.h"
#include "pg_conninfo.h"
#include "pg_link.h"
#include "round_thread.h"
#include "pg_schema.h"

namespace keel {
namespace {

using internal::PgConnection;
using internal::PgLink;
using internal::PgParams;
using internal::PgResult;
using internal::PgTarget;

constexpr std::string_view kClusterTables = R"sql(
CREATE TABLE IF NOT EXISTS S.cluster (
  name text PRIMARY KEY, secret_salt bytea NOT NULL, secret_hash bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS S.hosts (
  id text PRIMARY KEY, incarnation bigint NOT NULL, addresses text NOT NULL, labels text NOT NULL,
  state text NOT NULL CHECK (state IN ('joined', 'left')), lease_ms bigint NOT NULL,
  lease_ends timestamptz NOT NULL, joined_at timestamptz NOT NULL, renewed_at timestamptz NOT NULL,
  slots bigint NOT NULL DEFAULT 0, draining boolean NOT NULL DEFAULT false);
ALTER TABLE S.hosts ADD COLUMN IF NOT EXISTS slots bigint NOT NULL DEFAULT 0;
ALTER TABLE S.hosts ADD COLUMN IF NOT EXISTS draining boolean NOT NULL DEFAULT false;
CREATE TABLE IF NOT EXISTS S.gangs (
  ticket text PRIMARY KEY, name text NOT NULL, owner text NOT NULL, policy text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS S.gang_members (
  ticket text NOT NULL REFERENCES S.gangs (ticket) ON DELETE CASCADE, rank integer NOT NULL, host text NOT NULL,
  incarnation bigint NOT NULL,
  PRIMARY KEY (ticket, rank));
CREATE INDEX IF NOT EXISTS gang_members_host ON S.gang_members (host);
CREATE TABLE IF NOT EXISTS S.actors (
  key text PRIMARY KEY, type text NOT NULL, shard integer NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE INDEX IF NOT EXISTS actors_shard ON S.actors (shard);
CREATE TABLE IF NOT EXISTS S.registry (
  ns text NOT NULL, name text NOT NULL, key text NOT NULL, host text NOT NULL, incarnation bigint NOT NULL,
  seq bigserial NOT NULL, PRIMARY KEY (ns, name, key));
CREATE INDEX IF NOT EXISTS registry_key ON S.registry (key);
CREATE TABLE IF NOT EXISTS S.registry_names (
  ns text NOT NULL, name text NOT NULL, version bigint NOT NULL, PRIMARY KEY (ns, name));
)sql";

// Joining: a new row at incarnation 1, or the next incarnation of the row,
// which is not draining whatever its predecessor was.
constexpr std::string_view kJoin =
    "INSERT INTO S.hosts (id, incarnation, addresses, labels, state, lease_ms, lease_ends, joined_at, renewed_at, "
    "slots) VALUES ($1, 1, $2, $3, 'joined', $4::bigint, clock_timestamp() + $4::bigint * interval '1 millisecond', "
    "clock_timestamp(), clock_timestamp(), $5::bigint) "
    "ON CONFLICT (id) DO UPDATE SET incarnation = S.hosts.incarnation + 1, addresses = excluded.addresses, "
    "labels = excluded.labels, state = 'joined', lease_ms = excluded.lease_ms, lease_ends = excluded.lease_ends, "
    "joined_at = excluded.joined_at, renewed_at = excluded.renewed_at, slots = excluded.slots, draining = false "
    "RETURNING incarnation";
constexpr std::string_view kRenew =
    "UPDATE S.hosts SET lease_ends = clock_timestamp() + lease_ms * interval '1 millisecond', "
    "renewed_at = clock_timestamp() "
    "WHERE id = $1 AND incarnation = $2::bigint AND state = 'joined' AND lease_ends > clock_timestamp() RETURNING 1";
constexpr std::string_view kLeave =
    "UPDATE S.hosts SET state = 'left', lease_ends = clock_timestamp() "
    "WHERE id = $1 AND incarnation = $2::bigint AND state = 'joined' AND lease_ends > clock_timestamp() RETURNING 1";
// Why a renewal matched no row.
constexpr std::string_view kWhyNot =
    "SELECT incarnation, state = 'left', (extract(epoch FROM clock_timestamp() - lease_ends) * 1000)::bigint "
    "FROM S.hosts WHERE id = $1";

bool is_name_char(char c, std::string_view extra) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         extra.find(c) != std::string_view::npos;
}

Status check_name(std::string_view what, std::string_view s, std::size_t max, std::string_view extra) {
  if (s.empty() || s.size() > max) {
    return Status::invalid_argument(std::string(what) + " must have 1 to " + std::to_string(max) + " characters");
  }
  for (char c : s) {
    if (!is_name_char(c, extra)) {
      return Status::invalid_argument(std::string(what) + " \"" + std::string(s) + "\" may hold only letters, digits and " +
                                      std::string(extra));
    }
  }
  return Status::ok();
}

Status check_spec(const HostSpec& self, const MembershipOptions& o) {
  KEEL_RETURN_IF_ERROR(check_name("a host id", self.id, 128, "._:-"));
  KEEL_RETURN_IF_ERROR(check_name("a cluster name", o.cluster, 63, "._-"));
  for (const std::string& a : self.addresses) {
    if (a.empty() || a.find('\n') != std::string::npos) {
      return Status::invalid_argument("a host address must be non-empty, on one line");
    }
  }
  for (const auto& [key, value] : self.labels) {
    KEEL_RETURN_IF_ERROR(check_name("a label key", key, 63, "._-"));
    if (value.find_first_of(",=\n") != std::string::npos) {
      return Status::invalid_argument("the value of label \"" + key + "\" may not hold ',', '=' or a newline");
    }
  }
  if (o.secret.size() < 16) return Status::invalid_argument("the cluster secret must have at least 16 bytes");
  if (o.lease < std::chrono::seconds(1) || o.lease > std::chrono::hours(1)) {
    return Status::invalid_argument("the lease must be 1 s to 1 h");
  }
  if (o.renew_every.count() < 0 || o.renew_every >= o.lease) {
    return Status::invalid_argument("renew_every must be shorter than the lease");
  }
  if (o.timeout.count() <= 0) return Status::invalid_argument("the timeout must be positive");
  return Status::ok();
}

std::string joined_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& l : lines) {
    if (!out.empty()) out += '\n';
    out += l;
  }
  return out;
}

std::string labels_as_lines(const Labels& labels) {
  std::vector<std::string> lines;
  for (const auto& [key, value] : labels) lines.push_back(key + "=" + value);
  return joined_lines(lines);
}

// The least a renewal waits for the database.
constexpr auto kMinWait = std::chrono::milliseconds(50);

// The margin by which a host gives up its lease before the database ends
// it: rates of clocks differ by far less than this.
Duration lease_margin(std::chrono::milliseconds lease) { return std::chrono::duration_cast<Duration>(lease / 10); }

}  // namespace

class Membership::Impl {
 public:
  Impl(PgTarget target, MembershipOptions options, std::string id, std::uint64_t incarnation, TimePoint deadline)
      : target_(std::move(target)), options_(std::move(options)), id_(std::move(id)), incarnation_(incarnation),
        deadline_ns_(deadline.time_since_epoch().count()),
        // The server cancels a renewal stuck for half a lease, so one the
        // host abandoned rarely extends the row's lease after the host gave
        // it up (which errs on the safe side: others wait longer).
        renew_link_(&target_, std::min(options_.timeout, options_.lease / 2)),
        query_link_(&target_, internal::pg_statement_timeout(options_.timeout)) {}

  ~Impl() { rounds_.stop(); }

  // Renews every renew_every from now on.
  void start() {
    next_ = internal::pg_now() + renew_every();
    rounds_.start([this] { return round(); });
  }

  std::string sql(std::string_view text) const { return internal::in_schema(target_.schema, text); }

  TimePoint lease_deadline() const { return TimePoint(Duration(deadline_ns_.load(std::memory_order_acquire))); }
  std::uint64_t renewals() const { return renewals_.load(std::memory_order_relaxed); }
  std::uint64_t renewal_failures() const { return renewal_failures_.load(std::memory_order_relaxed); }
  bool holds_lease() const { return !lost_.load(std::memory_order_acquire) && internal::pg_now() < lease_deadline(); }

  Status renew() KEEL_EXCLUDES(renew_mu_) {
    MutexLock lock(renew_mu_);
    if (lost_.load(std::memory_order_acquire)) return lost_status();
    const TimePoint sent = internal::pg_now();
    // A renewal that answers after the lease's local deadline is no use:
    // the host has given the lease up by then.
    const TimePoint deadline =
        std::min<TimePoint>(sent + options_.timeout, std::max<TimePoint>(lease_deadline(), sent + kMinWait));
    return renew_link_.run_until(deadline, [&](PgConnection* c, TimePoint deadline) -> Status {
      PgParams p;
      p.text(id_).int64(static_cast<std::int64_t>(incarnation_));
      KEEL_ASSIGN_OR_RETURN(PgResult r, c->exec(sql(kRenew), p, deadline));
      if (r.rows() == 1) {
        const TimePoint until = sent + options_.lease - lease_margin(options_.lease);
        deadline_ns_.store(until.time_since_epoch().count(), std::memory_order_release);
        return Status::ok();
      }
      return lose(why_not(c, deadline));
    });
  }

  Status leave() KEEL_EXCLUDES(renew_mu_, mu_) {
    Status result;
    {
      MutexLock lock(renew_mu_);
      if (lost_.load(std::memory_order_acquire)) return lost_status();
      Status left = renew_link_.run(options_.timeout, [&](PgConnection* c, TimePoint deadline) -> Status {
        PgParams p;
        p.text(id_).int64(static_cast<std::int64_t>(incarnation_));
        KEEL_ASSIGN_OR_RETURN(PgResult r, c->exec(sql(kLeave), p, deadline));
        if (r.rows() == 1) {
          // A wake-up for the other hosts' keepers; the leave has committed.
          internal::notify_shards_changed(c, target_, deadline).ignore();
          lose(Status::ownership_lost("host " + id_ + " left the cluster")).ignore();
        } else {
          result = lose(why_not(c, deadline));
        }
        return Status::ok();
      });
      if (!left.is_ok()) return left;
      // Before renew_mu_ is released: the renewal thread, waiting for it,
      // must not report the lease lost.
      rounds_.request_stop();
    }
    rounds_.stop();
    return result;
  }

  void on_lease_lost(std::function<void(const Status&)> callback) KEEL_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    callback_ = std::move(callback);
  }

  Result<std::vector<HostView>> hosts() {
    return query_link_.run(options_.timeout, [this](PgConnection* c, TimePoint deadline) {
      return internal::read_hosts(c, target_, deadline);
    });
  }

 private:
  Status lost_status() const KEEL_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    return lost_why_;
  }

  // Marks the lease lost with `why` (an ownership-lost status), once.
  Status lose(Status why) KEEL_EXCLUDES(mu_) {
    MutexLock lock(mu_);
    if (!lost_.exchange(true, std::memory_order_acq_rel)) lost_why_ = why;
    return lost_why_;
  }

  // Why the row of this incarnation did not match a renewal.
  Status why_not(PgConnection* c, TimePoint deadline) {
    PgParams p;
    p.text(id_);
    Result<PgResult> r = c->exec(sql(kWhyNot), p, deadline);
    const std::string who = "host " + id_ + " (incarnation " + std::to_string(incarnation_) + ")";
    if (!r) return Status::ownership_lost(who + " lost its lease (" + std::string(r.status().message()) + ")");
    if (r->rows() == 0) return Status::ownership_lost(who + " is no longer in the cluster's table");
    const auto incarnation = static_cast<std::uint64_t>(r->integer(0, 0));
    if (incarnation != incarnation_) {
      return Status::ownership_lost(who + " was superseded by incarnation " + std::to_string(incarnation) +
                                    ": join again");
    }
    if (r->integer(0, 1) != 0) return Status::ownership_lost(who + " left the cluster");
    return Status::ownership_lost(who + "'s lease ended " + std::to_string(r->integer(0, 2)) +
                                  " ms ago by the database's clock: join again");
  }

  std::chrono::milliseconds renew_every() const {
    return options_.renew_every.count() > 0 ? options_.renew_every : options_.lease / 3;
  }

  // The renewal thread: renews every renew_every (sooner again after a
  // failure) until stopped or the lease is lost, then calls the callback.
  // A round of the renewal thread: renews when due (retrying sooner after a
  // failure); once the lease is lost, calls the callback and ends. Wakes at
  // the next renewal, or at the lease's deadline if sooner.
  std::optional<TimePoint> round() KEEL_EXCLUDES(mu_) {
    if (internal::pg_now() < next_ && internal::pg_now() < lease_deadline()) return std::min(next_, lease_deadline());
    Status s = renew();
    (s.is_ok() ? renewals_ : renewal_failures_).fetch_add(1, std::memory_order_relaxed);
    if (s.is_ok()) {
      next_ = internal::pg_now() + renew_every();
      return std::min(next_, lease_deadline());
    }
    if (s.code() != StatusCode::kOwnershipLost && internal::pg_now() < lease_deadline()) {
      next_ = internal::pg_now() + std::min<Duration>(renew_every() / 4, std::chrono::seconds(1));
      return std::min(next_, lease_deadline());
    }
    if (s.code() != StatusCode::kOwnershipLost) {
      s = lose(Status::ownership_lost("host " + id_ + " could not renew its lease before it ran out: " +
                                      std::string(s.message())));
    }
    if (rounds_.stopping()) return std::nullopt;  // left, or being destroyed
    std::function<void(const Status&)> callback;
    {
      MutexLock lock(mu_);
      callback = std::move(callback_);
    }
    if (callback) callback(s);
    return std::nullopt;
  }

  const PgTarget target_;
  const MembershipOptions options_;
  const std::string id_;
  const std::uint64_t incarnation_;
  std::atomic<Duration::rep> deadline_ns_;  // lease_deadline()
  std::atomic<bool> lost_{false};
  // The renewal thread's successes and failures.
  std::atomic<std::uint64_t> renewals_{0};
  std::atomic<std::uint64_t> renewal_failures_{0};

  // Serializes renewals and leave() with the lease's state (lost_ and the
  // renewal thread's stop), beyond what renew_link_ serializes itself.
  Mutex renew_mu_;
  PgLink renew_link_;
  PgLink query_link_;

  mutable Mutex mu_;
  Status lost_why_ KEEL_GUARDED_BY(mu_);
  std::function<void(const Status&)> callback_ KEEL_GUARDED_BY(mu_);
  TimePoint next_;  // the next renewal; the renewal thread's
  internal::RoundThread rounds_;  // last: stopped first
};

namespace {

// Checks or creates the cluster's row, inside the join's transaction.
Status check_cluster(PgConnection* c, const PgTarget& t, const MembershipOptions& o, TimePoint deadline) {
  KEEL_ASSIGN_OR_RETURN(PgResult r,
                        c->exec(internal::in_schema(t.schema, "SELECT name, secret_salt, secret_hash FROM S.cluster"),
                                deadline));
  if (r.rows() == 0) {
    KEEL_ASSIGN_OR_RETURN(std::string salt, internal::random_bytes(32));
    KEEL_ASSIGN_OR_RETURN(std::string hash, internal::hash_secret(o.secret, salt));
    PgParams p;
    p.text(o.cluster).bytes(salt).bytes(hash);
    return c->exec(internal::in_schema(t.schema, "INSERT INTO S.cluster (name, secret_salt, secret_hash) "
                                                 "VALUES ($1, $2, $3)"),
                   p, deadline)
        .status();
  }
  if (r.bytes(0, 0) != o.cluster) {
    return Status::failed_precondition(t.display + " holds cluster \"" + std::string(r.bytes(0, 0)) + "\", not \"" +
                                       o.cluster + "\"");
  }
  return internal::check_secret(o.secret, r.bytes(0, 1), r.bytes(0, 2), o.cluster, t.display);
}

// The join's transaction: tables, cluster row, host row. Returns the new
// incarnation.
Result<std::uint64_t> join_in(PgConnection* c, const PgTarget& t, const HostSpec& self, const MembershipOptions& o,
                              TimePoint deadline) {
  PgParams lock;
  lock.literal("keel-cluster/" + t.schema);
  KEEL_RETURN_IF_ERROR(c->exec("SELECT pg_advisory_xact_lock(hashtext($1))", lock, deadline).status());
  KEEL_RETURN_IF_ERROR(c->exec_script(internal::in_schema(t.schema, kClusterTables), deadline));
  KEEL_RETURN_IF_ERROR(check_cluster(c, t, o, deadline));
  const std::string addresses = joined_lines(self.addresses);
  const std::string labels = labels_as_lines(self.labels);
  PgParams p;
  p.text(self.id).text(addresses).text(labels).int64(o.lease.count()).int64(self.slots);
  KEEL_ASSIGN_OR_RETURN(PgResult r, c->exec(internal::in_schema(t.schema, kJoin), p, deadline));
  if (r.rows() != 1) return c->error("join the cluster");
  // The other hosts' keepers hear it at the commit and rebalance then.
  KEEL_RETURN_IF_ERROR(internal::notify_shards_changed(c, t, deadline));
  return static_cast<std::uint64_t>(r.integer(0, 0));
}

}  // namespace

Result<std::unique_ptr<Membership>> Membership::join(const std::string& url, HostSpec self, MembershipOptions options) {
  KEEL_RETURN_IF_ERROR(check_spec(self, options));
  KEEL_ASSIGN_OR_RETURN(PgTarget target, internal::parse_pg_target(url, ""));
  const TimePoint sent = internal::pg_now();
  const TimePoint deadline = sent + options.timeout;
  KEEL_ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> c, PgConnection::connect(target, deadline));
  // The journal's schema first (created or upgraded, no shard claimed), so
  // that the cluster's tables join a journal's.
  KEEL_RETURN_IF_ERROR(internal::create_or_upgrade(c.get(), target, /*create=*/true, deadline).status());
  std::uint64_t incarnation = 0;
  KEEL_RETURN_IF_ERROR(internal::run_transaction(c.get(), deadline, [&]() -> Status {
    KEEL_ASSIGN_OR_RETURN(incarnation, join_in(c.get(), target, self, options, deadline));
    return Status::ok();
  }));
  const TimePoint until = sent + options.lease - lease_margin(options.lease);
  const std::chrono::milliseconds timeout = options.timeout;
  auto impl = std::make_unique<Impl>(std::move(target), std::move(options), self.id, incarnation, until);
  std::unique_ptr<Membership> m(new Membership(std::move(self), incarnation, timeout, std::move(impl)));
  m->impl_->start();
  return m;
}

Membership::Membership(HostSpec self, std::uint64_t incarnation, std::chrono::milliseconds timeout,
                       std::unique_ptr<Impl> impl)
    : self_(std::move(self)), incarnation_(incarnation), timeout_(timeout), impl_(std::move(impl)) {}

Membership::~Membership() = default;

bool Membership::holds_lease() const { return impl_->holds_lease(); }
TimePoint Membership::lease_deadline() const { return impl_->lease_deadline(); }
Status Membership::renew() { return impl_->renew(); }
std::uint64_t Membership::renewals() const { return impl_->renewals(); }
std::uint64_t Membership::renewal_failures() const { return impl_->renewal_failures(); }
void Membership::on_lease_lost(std::function<void(const Status&)> callback) { impl_->on_lease_lost(std::move(callback)); }
Result<std::vector<HostView>> Membership::hosts() const { return impl_->hosts(); }
Status Membership::leave() { return impl_->leave(); }

Result<std::vector<PlacementHost>> Membership::live_hosts() const {
  KEEL_ASSIGN_OR_RETURN(std::vector<HostView> all, hosts());
  return placement_hosts(all);
}

std::vector<PlacementHost> placement_hosts(const std::vector<HostView>& hosts) {
  std::vector<PlacementHost> out;
  for (const HostView& h : hosts) {
    if (h.live && !h.draining) out.push_back(PlacementHost{h.id, h.labels});
  }
  return out;
}

}  // namespace keel
