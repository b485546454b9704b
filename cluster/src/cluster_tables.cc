#include "cluster_tables.h"

#include <charconv>

#include "pg_schema.h"

namespace keel::internal {
namespace {

std::vector<std::string> split_lines(std::string_view text) {
  std::vector<std::string> out;
  while (!text.empty()) {
    const std::size_t nl = text.find('\n');
    out.emplace_back(text.substr(0, nl));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
  }
  return out;
}

// "host#3" -> ("host", 3); another writer's holder text stays whole.
std::pair<std::string, std::uint64_t> split_holder(std::string_view holder) {
  const std::size_t hash = holder.rfind('#');
  std::uint64_t incarnation = 0;
  if (hash == std::string_view::npos) return {std::string(holder), 0};
  const std::string_view tail = holder.substr(hash + 1);
  auto [p, ec] = std::from_chars(tail.data(), tail.data() + tail.size(), incarnation);
  if (ec != std::errc() || p != tail.data() + tail.size()) return {std::string(holder), 0};
  return {std::string(holder.substr(0, hash)), incarnation};
}

}  // namespace

Status notify_shards_changed(PgConnection* c, const PgTarget& t, TimePoint deadline) {
  PgParams p;
  p.text(t.schema).text(kShardsChanged);
  return c->exec("SELECT pg_notify($1, $2)", p, deadline).status();
}

Labels labels_from_lines(std::string_view text) {
  Labels out;
  for (const std::string& line : split_lines(text)) {
    const std::size_t eq = line.find('=');
    if (eq != std::string::npos) out[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return out;
}

Status check_own_lease(PgConnection* c, const PgTarget& t, const Membership& m, std::string_view what,
                       TimePoint deadline, bool refuse_draining) {
  PgParams own;
  own.text(m.self().id).int64(static_cast<std::int64_t>(m.incarnation()));
  KEEL_ASSIGN_OR_RETURN(PgResult lease, c->exec(in_schema(t.schema, kOwnLeaseSql), own, deadline));
  if (lease.rows() == 1 && refuse_draining && lease.integer(0, 0) != 0) {
    return Status::failed_precondition("host " + m.holder() + " is draining: it " + std::string(what));
  }
  if (lease.rows() == 1) return Status::ok();
  return Status::ownership_lost("host " + m.holder() + " holds no lease (it ended, the host left, or a newer "
                                "incarnation joined): it " + std::string(what));
}

Status run_transaction(PgConnection* c, TimePoint deadline, const std::function<Status()>& body) {
  KEEL_RETURN_IF_ERROR(c->exec_script("BEGIN", deadline));
  Status s = body();
  if (s.is_ok()) s = c->exec_script("COMMIT", deadline);
  if (!s.is_ok() && !c->is_broken()) c->exec_script("ROLLBACK", deadline).ignore();  // `s` is the error to report
  return s;
}

Result<std::vector<HostView>> read_hosts(PgConnection* c, const PgTarget& t, TimePoint deadline) {
  KEEL_ASSIGN_OR_RETURN(
      PgResult r, c->exec(in_schema(t.schema, "SELECT id, incarnation, addresses, labels, state = 'left', "
                                              "(extract(epoch FROM lease_ends - clock_timestamp()) * 1000)::bigint, "
                                              "slots, draining FROM S.hosts ORDER BY id"),
                          deadline));
  std::vector<HostView> out;
  for (int i = 0; i < r.rows(); ++i) {
    HostView h;
    h.id = std::string(r.bytes(i, 0));
    h.incarnation = static_cast<std::uint64_t>(r.integer(i, 1));
    h.addresses = split_lines(r.bytes(i, 2));
    h.labels = labels_from_lines(r.bytes(i, 3));
    h.left = r.integer(i, 4) != 0;
    h.lease_left = std::chrono::milliseconds(r.integer(i, 5));
    h.slots = static_cast<std::uint32_t>(r.integer(i, 6));
    h.draining = r.integer(i, 7) != 0;
    h.live = !h.left && h.lease_left.count() > 0;
    out.push_back(std::move(h));
  }
  return out;
}

Result<std::vector<ShardHolder>> read_holders(PgConnection* c, const PgTarget& t, std::uint32_t shards,
                                              TimePoint deadline) {
  KEEL_ASSIGN_OR_RETURN(PgResult r, c->exec(in_schema(t.schema, "SELECT e.shard, e.epoch, e.holder, h.id IS NOT NULL "
                                                                "FROM S.epochs e " +
                                                                    std::string(kLiveHolderJoin) + " ORDER BY e.shard"),
                                            deadline));
  std::vector<ShardHolder> out(shards);
  for (std::uint32_t s = 0; s < shards; ++s) out[s].shard = s;
  for (int i = 0; i < r.rows(); ++i) {
    const auto shard = static_cast<std::uint32_t>(r.integer(i, 0));
    if (shard >= shards) continue;
    ShardHolder& h = out[shard];
    h.epoch = static_cast<std::uint64_t>(r.integer(i, 1));
    std::tie(h.host, h.incarnation) = split_holder(r.bytes(i, 2));
    h.live = r.integer(i, 3) != 0;
  }
  return out;
}

}  // namespace keel::internal
