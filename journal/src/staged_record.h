// staged_record.h: StagedRecord, a record on its way through group commit,
// prepared as far as it can be on the appending thread before the writer
// thread gives it its LSN, sequence number and time. Value type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "keel/journal/journal.h"

namespace keel::internal {

struct StagedRecord {
  // owner, kind and payload from the appender (the payload may have moved
  // into `value`); lsn, seq, time, format_version and crc from the writer.
  Record record;
  // The payload's size and CRC-32C, and crc32c::shift_for(payload_size),
  // computed by the appending thread: the writer checksums only the header.
  std::size_t payload_size = 0;
  std::uint32_t payload_crc = 0;
  std::uint32_t payload_shift = 0;
  // The backend's encoding of the record, if it makes one ahead
  // (CommitTarget::stage), finished by its write_group.
  std::string value;
};

}  // namespace keel::internal
