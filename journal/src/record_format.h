// record_format.h: the constants and byte layouts of the journal format,
// shared by both backends. docs/journal-format.md describes the same layout
// in prose; change both together.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "journal_summary.h"
#include "keel/base/status.h"
#include "keel/journal/journal.h"

namespace keel::internal {

// Written in the header of every journal ("magic" meta key).
inline constexpr std::string_view kJournalMagic = "keel-journal";

// The CRC-32C of a record over this byte string, all integers little-endian:
//   lsn u64 | owner_len u32 | owner | seq u64 | kind u8 | time_ns i64 |
//   format_version u16 | payload_len u64 | payload
// `crc` and `compacted` are not covered. A compacted record's CRC covers its
// (empty) payload.
std::uint32_t record_checksum(const Record& r);
// The same for a record whose payload (`payload_size` bytes) has the CRC-32C
// `payload_crc`, and crc32c::shift_for(payload_size) `payload_shift`, both
// computed ahead: r.payload is not read. The header fields are r's.
std::uint32_t record_checksum(const Record& r, std::size_t payload_size, std::uint32_t payload_crc,
                              std::uint32_t payload_shift);

// ok when r.crc matches its contents; else kCorruption
// "lsn N, owner O: checksum mismatch (stored X, computed Y)".
Status check_record(const Record& r);

// Nanoseconds since the Unix epoch, and back.
std::int64_t to_time_ns(WallTime t);
WallTime from_time_ns(std::int64_t ns);

// Big-endian fixed-width integers: keys sort in numeric order.
void put_be64(std::string* dst, std::uint64_t v);
std::uint64_t get_be64(const char* p);
// Little-endian fixed-width integers (values).
void put_le16(std::string* dst, std::uint16_t v);
void put_le32(std::string* dst, std::uint32_t v);
void put_le64(std::string* dst, std::uint64_t v);

// The RocksDB value of a record (docs/journal-format.md, "RocksDB"):
//   version u16 | kind u8 | compacted u8 | crc u32 | seq u64 | time_ns i64 |
//   owner_len u32 | owner | payload (the rest)
// The LSN is the key.
std::string encode_record_value(const Record& r);
// encode_record_value in two steps, so the bulk can be done before the
// LSN, sequence, time and checksum are known: stage_record_value writes the
// value of r into *value (reusing its storage) with those fields zero, and
// finish_record_value sets them (and the version) in place from r.
void stage_record_value(const Record& r, std::string* value);
void finish_record_value(const Record& r, std::string* value);
// Decodes into *r (r->lsn must already be set). kCorruption
// "lsn N: truncated record" when the value is too short.
Status decode_record_value(std::string_view value, Record* r);

// The RocksDB value of the counters ("Mcounts"), integers little-endian:
//   as_of_lsn u64 | owners u64 | records of kind 1 u64 | ... | of kind 8 u64
// A decoder takes as many kinds as the value holds. kCorruption "damaged
// counters" when the value is not 16 + 8k bytes.
std::string encode_counts(const JournalCounts& c);
Status decode_counts(std::string_view value, JournalCounts* c);

// The RocksDB value of an owner summary ('N' + owner), from o's last_*
// fields, little-endian:
//   last_seq u64 | last_lsn u64 | last_time_ns i64 | last_kind u8
// Decodes into *o (o->owner must already be set). kCorruption "owner O:
// damaged summary" when the value is not 25 bytes.
std::string encode_owner_summary(const OwnerInfo& o);
Status decode_owner_summary(std::string_view value, OwnerInfo* o);

// The RocksDB value of an owner-index entry ('O' + owner + NUL + be64 seq):
// the LSNs of the owner's records with consecutive sequence numbers from
// the key's on, which one commit group wrote:
//   first_lsn u64 big-endian | (lsn - previous lsn, unsigned LEB128 varint)*
// An 8-byte value names one record: every entry of format 1 is such a run.
// append_owner_run adds `lsn` to *value: the first LSN of an empty value,
// else one above `previous`, the LSN added last.
void append_owner_run(std::string* value, Lsn previous, Lsn lsn);
// Decodes into *lsns (cleared first). kCorruption "owner O: damaged index
// entry" when the value is shorter than 8 bytes, a varint is cut short or
// too long, or an LSN does not ascend.
Status decode_owner_run(std::string_view value, std::string_view owner, std::vector<Lsn>* lsns);

}  // namespace keel::internal
