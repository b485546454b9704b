#include "journal_summary.h"

#include <algorithm>
#include <numeric>
#include <string_view>
#include <unordered_map>

namespace keel::internal {

void JournalCounts::add(const std::vector<StagedRecord*>& group) {
  for (const StagedRecord* staged : group) {
    const Record& r = staged->record;
    const auto k = static_cast<std::size_t>(r.kind);
    if (k < by_kind.size()) ++by_kind[k];
    if (r.seq == 1) ++owners;
    as_of = r.lsn;
  }
}

void JournalCounts::remove(const std::array<std::uint64_t, kRecordKindSlots>& removed, bool owner_gone) {
  for (std::size_t k = 0; k < by_kind.size(); ++k) by_kind[k] -= std::min(by_kind[k], removed[k]);
  if (owner_gone && owners > 0) --owners;
}

std::uint64_t JournalCounts::records() const {
  return std::accumulate(by_kind.begin(), by_kind.end(), std::uint64_t{0});
}

std::vector<const Record*> newest_by_owner(const std::vector<StagedRecord*>& group) {
  std::unordered_map<std::string_view, std::size_t> slot;  // owner -> index in `out`
  std::vector<const Record*> out;
  for (const StagedRecord* staged : group) {
    const Record& r = staged->record;
    auto [it, inserted] = slot.emplace(r.owner, out.size());
    if (inserted) {
      out.push_back(&r);
    } else {
      out[it->second] = &r;  // LSN order: a later record of the owner is newer
    }
  }
  return out;
}

OwnerInfo owner_info_of(const Record& newest) {
  OwnerInfo o;
  o.owner = newest.owner;
  o.last_seq = newest.seq;
  o.last_lsn = newest.lsn;
  o.records = newest.seq;
  o.last_time = newest.time;
  o.last_kind = newest.kind;
  return o;
}

void set_counts(const JournalCounts& c, JournalStats* stats) {
  stats->records_by_kind = c.by_kind;
  stats->records = c.records();
  stats->owners = c.owners;
}

}  // namespace keel::internal
