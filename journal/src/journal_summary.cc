#include "journal_summary.h"

#include <algorithm>
#include <numeric>
#include <string_view>
#include <unordered_map>

namespace keel::internal {

void JournalCounts::add(const std::vector<StagedRecord*>& group) {
  for (const StagedRecord* staged : group) add(staged->record.kind, staged->record.seq, staged->record.lsn);
}

void JournalCounts::add(RecordKind kind, std::uint64_t seq, Lsn lsn) {
  const auto k = static_cast<std::size_t>(kind);
  if (k < by_kind.size()) ++by_kind[k];
  if (seq == 1) ++owners;
  as_of = lsn;
}

void JournalCounts::remove(const std::array<std::uint64_t, kRecordKindSlots>& removed, bool owner_gone) {
  for (std::size_t k = 0; k < by_kind.size(); ++k) by_kind[k] -= std::min(by_kind[k], removed[k]);
  if (owner_gone && owners > 0) --owners;
}

std::uint64_t JournalCounts::records() const {
  return std::accumulate(by_kind.begin(), by_kind.end(), std::uint64_t{0});
}

void PendingSummaries::add(const std::vector<StagedRecord*>& group) {
  ++commits_;
  records_ += group.size();
  for (const Record* newest : newest_by_owner(group)) add(owner_info_of(*newest));
}

void PendingSummaries::add(const OwnerInfo& newest) {
  auto [it, inserted] = owners_.try_emplace(newest.owner, newest);
  if (!inserted) it->second = newest;
}

void PendingSummaries::clear() {
  owners_.clear();
  commits_ = 0;
  records_ = 0;
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

std::vector<OwnerInfo> overlay_newest(std::vector<OwnerInfo> checkpointed,
                                      const std::map<std::string, OwnerInfo>& newer) {
  std::vector<OwnerInfo> out;
  out.reserve(checkpointed.size() + newer.size());
  auto next = newer.begin();
  for (OwnerInfo& o : checkpointed) {
    for (; next != newer.end() && next->first < o.owner; ++next) out.push_back(next->second);
    if (next != newer.end() && next->first == o.owner) {
      o.last_seq = next->second.last_seq;
      o.last_lsn = next->second.last_lsn;
      o.last_time = next->second.last_time;
      o.last_kind = next->second.last_kind;
      o.records = o.last_seq - std::min(o.first_seq, o.last_seq) + 1;
      ++next;
    }
    out.push_back(std::move(o));
  }
  for (; next != newer.end(); ++next) out.push_back(next->second);
  return out;
}

std::string kind_counter_name(std::size_t kind) {
  return "records." + std::string(record_kind_name(static_cast<RecordKind>(kind)));
}

std::vector<std::pair<std::string, std::uint64_t>> counter_rows(const JournalCounts& counts) {
  std::vector<std::pair<std::string, std::uint64_t>> rows;
  rows.emplace_back(kAsOfCounterName, counts.as_of);
  rows.emplace_back(kOwnersCounterName, counts.owners);
  for (std::size_t k = 1; k < counts.by_kind.size(); ++k) rows.emplace_back(kind_counter_name(k), counts.by_kind[k]);
  return rows;
}

std::optional<JournalCounts> counts_from_rows(const std::map<std::string, std::uint64_t>& values, Lsn last,
                                              int version) {
  auto as_of = values.find(kAsOfCounterName);
  if (as_of == values.end() || as_of->second > last ||
      (as_of->second != last && version < kLazySummariesVersion)) {
    return std::nullopt;
  }
  auto value = [&](const std::string& name) {
    auto it = values.find(name);
    return it == values.end() ? std::uint64_t{0} : it->second;
  };
  JournalCounts counts;
  counts.as_of = as_of->second;
  counts.owners = value(kOwnersCounterName);
  for (std::size_t k = 1; k < counts.by_kind.size(); ++k) counts.by_kind[k] = value(kind_counter_name(k));
  return counts;
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
