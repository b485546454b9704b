// render.h: how `keel journal` shows one record, as a JSON object (the
// `--json` and `export` shape, docs/inspection.md) and as a one-line human
// summary. Payloads are decoded by kind: INBOX and OUTBOX records as
// envelopes, everything else as self-describing values, Cap'n Proto
// payloads with the user's schema; anything else is shown as hex.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "keel/journal/journal.h"
#include "keel/wire/value_tree.h"

namespace keel::internal {

class CapnpRenderer;

// A record's payload, decoded. `format` is one of "value" (self-describing),
// "envelope", "capnp", "hex" or "none" (compacted or empty).
struct DecodedPayload {
  std::string format;
  std::string json;     // a JSON value (a hex payload is a JSON string)
  std::string summary;  // one line for people
  std::string error;    // why decoding fell back to hex; empty otherwise
};

// Decodes `r`'s payload: INBOX and OUTBOX records as envelopes, or as
// self-describing values when they are not envelopes (workflow signals).
// `capnp` (may be null; borrowed for the call)
// renders Cap'n Proto payloads: envelope payloads whose encoding is capnp,
// and record payloads that are not self-describing values.
DecodedPayload decode_payload(const Record& r, const CapnpRenderer* capnp);

// The record as one JSON object on one line (no trailing newline).
std::string record_json(const Record& r, const DecodedPayload& p);

// A damaged record (one that failed its checksum) as one JSON object.
std::string damaged_json(const JournalProblem& p);

// The cursor a PROCESSED or SNAPSHOT payload names (the LSN of the INBOX
// record handled last); nullopt when the payload is compacted or not one.
std::optional<Lsn> cursor_of(const Record& r);

// The `status` field of a struct payload (a workflow run's RUN record), or
// else its `event` field, as text; nullopt when it has neither.
std::optional<std::string> status_field(const Record& r);

}  // namespace keel::internal
