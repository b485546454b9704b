// rocks_keys.h: the keys of a RocksDB journal (layout:
// docs/journal-format.md, "RocksDB"), shared by RocksJournal and its
// removals (rocks_removal.h). Values, no state.
#pragma once

#include <rocksdb/slice.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "keel/journal/journal.h"
#include "record_format.h"

namespace keel::internal {

constexpr char kLsnPrefix = 'L';
constexpr char kOwnerPrefix = 'O';
constexpr char kMetaPrefix = 'M';
constexpr char kSnapshotPrefix = 'S';
constexpr char kOwnerSummaryPrefix = 'N';
// 'F' + owner -> be64 first kept sequence of an owner truncate() removed
// records of.
constexpr char kFloorPrefix = 'F';
// Meta key of the count of records removed so far (be64).
constexpr std::string_view kRemovedMeta = "removed";
// Meta key present once every SNAPSHOT record has its 'S' index entry.
constexpr std::string_view kSnapshotIndexMeta = "snapshot_index";
// Meta key of the counters (encode_counts), written in every commit's batch.
constexpr std::string_view kCountsMeta = "counts";
// constexpr, not a std::string: journals may be opened before main() (by
// other static initializers), and this must not depend on init order.
constexpr std::string_view kMaxBe64("\xff\xff\xff\xff\xff\xff\xff\xff", 8);

inline std::string lsn_key(Lsn lsn) {
  std::string k(1, kLsnPrefix);
  put_be64(&k, lsn);
  return k;
}

// `tag` + owner + NUL: the prefix of an owner's keys in one of the indexes.
inline std::string tagged_owner(char tag, std::string_view owner) {
  std::string k(1, tag);
  k.append(owner);
  k.push_back('\0');
  return k;
}

inline std::string owner_prefix(std::string_view owner) { return tagged_owner(kOwnerPrefix, owner); }

inline std::string owner_key(std::string_view owner, std::uint64_t seq) {
  std::string k = owner_prefix(owner);
  put_be64(&k, seq);
  return k;
}

// The snapshot index: one key per SNAPSHOT record, 'S' owner NUL be64(seq),
// whose value is the record's be64 LSN.
inline std::string snapshot_prefix(std::string_view owner) { return tagged_owner(kSnapshotPrefix, owner); }

inline std::string snapshot_key(std::string_view owner, std::uint64_t seq) {
  std::string k = snapshot_prefix(owner);
  put_be64(&k, seq);
  return k;
}

inline std::string meta_key(std::string_view name) { return std::string(1, kMetaPrefix) + std::string(name); }

// The owner summary: 'N' + owner, whose value is encode_owner_summary() of
// the owner's newest record. Owners contain no NUL, so the key sorts as the
// owner does.
inline std::string owner_summary_key(std::string_view owner) {
  std::string k(1, kOwnerSummaryPrefix);
  k.append(owner);
  return k;
}

inline std::string floor_key(std::string_view owner) {
  std::string k(1, kFloorPrefix);
  k.append(owner);
  return k;
}

inline bool starts_with(const rocksdb::Slice& s, std::string_view prefix) {
  return s.size() >= prefix.size() && std::string_view(s.data(), prefix.size()) == prefix;
}

}  // namespace keel::internal
