// rocks_removal.h: removing records from a RocksDB journal (Journal::
// truncate and remove_owner): which keys go, what the counters lose, and
// what removals left behind. Journal writer thread only, except
// read_removals. Layout: docs/journal-format.md, "Removal".
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "journal_base.h"
#include "keel/base/status.h"

namespace keel::internal {

// A removal, ready to write.
struct RocksRemoval {
  // The records' 'L' keys and their 'O' and 'S' index keys (point
  // deletions), the owner's first kept seq (or, `whole`, the deletion of
  // its summary and first seq) and the new removed count (Mremoved).
  rocksdb::WriteBatch batch;
  std::array<std::uint64_t, kRecordKindSlots> by_kind{};  // removed, by kind number
  std::uint64_t removed = 0;
};

// Reads `owner`'s index entries with seq < below, from its first kept seq
// on, and their records' kinds, and fills *out (nothing to remove: removed
// 0). `whole`: every record of the owner goes (below is past its last).
// Errors: kIoError or kCorruption naming the journal at `path`.
Status plan_removal(rocksdb::DB* db, const std::string& path, std::string_view owner, std::uint64_t below,
                    bool whole, RocksRemoval* out);

// The removed count and every truncated owner's first kept seq, as `ro`
// sees them. Errors as plan_removal.
Result<Removals> read_removals(rocksdb::DB* db, const std::string& path, const rocksdb::ReadOptions& ro);

}  // namespace keel::internal
