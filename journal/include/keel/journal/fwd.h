// keel/journal/fwd.h: forward declarations of keel::journal types.
#pragma once

#include <cstdint>

namespace keel {
using Lsn = std::uint64_t;
enum class RecordKind : std::uint8_t;
enum class Durability : std::uint8_t;
struct NewRecord;
struct Record;
struct LsnRange;
struct OwnerInfo;
struct JournalOptions;
struct JournalProblem;
struct JournalStats;
class Journal;
}  // namespace keel
