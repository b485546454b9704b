// PgJournal: the shards a cluster's writer holds (keel/journal/
// pg_journal.h, "A cluster's writer"): handing them over, the admission
// of batches, and dropping the shards a fenced commit found moved.
#include <algorithm>
#include <string>
#include <vector>

#include "keel/journal/pg_journal.h"
#include "pg_journal.h"

namespace keel::internal {

Result<PgJournal*> PgJournal::of(Journal& journal) {
  auto* pg = dynamic_cast<PgJournal*>(&journal);
  if (pg == nullptr) return Status::invalid_argument("not a PostgreSQL journal");
  return pg;
}

Status PgJournal::check_shard_handoff(const std::vector<std::uint32_t>& shards) const {
  if (committer() == nullptr) {
    return Status::failed_precondition("postgresql journal " + target_.display + " is open read-only");
  }
  if (options().pg_claim_all_shards) {
    return Status::invalid_argument("postgresql journal " + target_.display +
                                    ": this handle claimed every shard at open; a cluster's writer opens with "
                                    "JournalOptions::pg_claim_all_shards = false");
  }
  for (std::uint32_t s : shards) {
    if (s >= header_.shards) {
      return Status::invalid_argument("postgresql journal " + target_.display + " has " +
                                      std::to_string(header_.shards) + " shards; there is no shard " + std::to_string(s));
    }
  }
  return Status::ok();
}

Status PgJournal::hold_shards(const std::vector<PgShardEpoch>& epochs) {
  std::vector<std::uint32_t> shards;
  for (const PgShardEpoch& e : epochs) {
    if (e.epoch == 0) return Status::invalid_argument("shard " + std::to_string(e.shard) + ": epoch 0 is never held");
    shards.push_back(e.shard);
  }
  KEEL_RETURN_IF_ERROR(check_shard_handoff(shards));
  committer()->run_on_writer([&] {
    std::vector<bool> gained(header_.shards, false);
    for (const PgShardEpoch& e : epochs) {
      held_[e.shard] = e.epoch;
      gained[e.shard] = true;
    }
    // Another host may have written these owners since this one last did.
    committer()->forget_owners_if(
        [&](std::string_view owner) { return gained[pg_shard_of(owner, header_.shards)]; });
  });
  return Status::ok();
}

Status PgJournal::drop_shards(const std::vector<std::uint32_t>& shards) {
  KEEL_RETURN_IF_ERROR(check_shard_handoff(shards));
  committer()->run_on_writer([&] {
    for (std::uint32_t s : shards) held_[s] = 0;
  });
  return Status::ok();
}

Result<std::vector<PgShardEpoch>> PgJournal::held_shards() {
  if (committer() == nullptr) {
    return Status::failed_precondition("postgresql journal " + target_.display + " is open read-only");
  }
  std::vector<PgShardEpoch> out;
  committer()->run_on_writer([&] {
    for (std::uint32_t s : held_list()) out.push_back(PgShardEpoch{s, held_[s]});
  });
  return out;
}

Status PgJournal::admit(const std::vector<StagedRecord>& batch) {
  if (options().pg_claim_all_shards) return Status::ok();  // fenced as a whole instead
  for (const StagedRecord& r : batch) {
    const std::uint32_t s = pg_shard_of(r.record.owner, header_.shards);
    if (held_[s] == 0) {
      return Status::ownership_lost("postgresql journal " + target_.display + ": owner " + r.record.owner +
                                    " is in shard " + std::to_string(s) + ", which this writer does not hold");
    }
  }
  return Status::ok();
}

Status PgJournal::drop_moved_shards(TimePoint deadline) {
  // The held shards whose stored epoch is no longer the one held (the same
  // arrays as the epoch check).
  KEEL_ASSIGN_OR_RETURN(PgResult r, writer_->exec(sql("SELECT e.shard FROM S.epochs e JOIN unnest($1::integer[], "
                                                      "$2::bigint[]) AS h(shard, epoch) ON h.shard = e.shard "
                                                      "WHERE e.epoch <> h.epoch"),
                                                  epoch_check_of(held_list()), deadline));
  for (int i = 0; i < r.rows(); ++i) {
    const auto s = static_cast<std::uint32_t>(r.integer(i, 0));
    if (s < held_.size()) held_[s] = 0;
  }
  return Status::ok();
}

}  // namespace keel::internal

namespace keel {

Status hold_pg_shards(Journal& journal, const std::vector<PgShardEpoch>& epochs) {
  KEEL_ASSIGN_OR_RETURN(internal::PgJournal * pg, internal::PgJournal::of(journal));
  return pg->hold_shards(epochs);
}

Status drop_pg_shards(Journal& journal, const std::vector<std::uint32_t>& shards) {
  KEEL_ASSIGN_OR_RETURN(internal::PgJournal * pg, internal::PgJournal::of(journal));
  return pg->drop_shards(shards);
}

Result<std::vector<PgShardEpoch>> held_pg_shards(Journal& journal) {
  KEEL_ASSIGN_OR_RETURN(internal::PgJournal * pg, internal::PgJournal::of(journal));
  return pg->held_shards();
}

Result<std::uint32_t> pg_shard_count(Journal& journal) {
  KEEL_ASSIGN_OR_RETURN(internal::PgJournal * pg, internal::PgJournal::of(journal));
  return pg->shard_count();
}

}  // namespace keel
