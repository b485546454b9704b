// rocks_owner_index.h: reading the owner index of a RocksDB journal. Its
// entries ('O' + owner + NUL + be64 seq) each name the LSNs of a run of the
// owner's records with consecutive sequence numbers (one entry per owner
// per commit group; one per record in format 1): see record_format.h,
// encode in append_owner_run, and docs/journal-format.md, "RocksDB".
// Functions over the caller's database and read options; any thread.
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/iterator.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "keel/base/status.h"
#include "keel/journal/journal.h"

namespace keel::internal {

// One index entry, decoded. Value type.
struct OwnerRun {
  std::uint64_t first_seq = 0;
  std::vector<Lsn> lsns;  // of seq first_seq, first_seq + 1, ...
  Status status;          // kCorruption for a damaged entry (lsns empty)
  std::uint64_t last_seq() const { return first_seq + lsns.size() - 1; }
};

// Decodes the entry `it` is on, a key of `owner`'s, into *run.
void read_run(const rocksdb::Iterator& it, std::string_view owner, OwnerRun* run);

// Positions `it` on the entry of `owner` that holds `seq`, or else on the
// first entry after it (which may belong to another owner or index).
void seek_run(rocksdb::Iterator* it, std::string_view owner, std::uint64_t seq);

// Called per indexed record with its seq and LSN, or once per damaged entry
// with the entry's first seq, LSN 0 and its kCorruption status. Returns
// false to stop.
using IndexedFn = std::function<bool(std::uint64_t seq, Lsn lsn, const Status& entry)>;

// Calls fn for `owner`'s records with seq >= from_seq, in order. Returns
// the iterator's status.
rocksdb::Status for_each_indexed(rocksdb::DB* db, const rocksdb::ReadOptions& ro, std::string_view owner,
                                 std::uint64_t from_seq, const IndexedFn& fn);
// The same newest first, over all of `owner`'s records.
rocksdb::Status for_each_indexed_backwards(rocksdb::DB* db, const rocksdb::ReadOptions& ro, std::string_view owner,
                                           const IndexedFn& fn);

// The LSN of `owner`'s record `seq`; nullopt when the index does not name
// it. Errors: kCorruption (a damaged entry); the iterator's, in *failure.
Result<std::optional<Lsn>> indexed_lsn(rocksdb::DB* db, const rocksdb::ReadOptions& ro, std::string_view owner,
                                       std::uint64_t seq, rocksdb::Status* failure);

// The owner's last indexed (seq, LSN); nullopt when it has none. Errors:
// kCorruption (a damaged last entry); the iterator's, in *failure.
Result<std::optional<std::pair<std::uint64_t, Lsn>>> last_indexed(rocksdb::DB* db, const rocksdb::ReadOptions& ro,
                                                                   std::string_view owner, rocksdb::Status* failure);

}  // namespace keel::internal
