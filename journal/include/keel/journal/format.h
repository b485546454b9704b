// keel/journal/format.h: what Keel's own writers put in a journal, shared by
// the writers (durable actors, workflow runs) and by the tools that read a
// journal without the program that wrote it (`keel journal`, `keel
// workflow`). The journal itself stores opaque payloads under owner names
// (keel/journal/journal.h); this header names the owners and types the
// payloads:
//
// - an owner's name tells its kind: "actor/<key>" is a durable actor,
//   "workflow/<run id>" a workflow run, any other name the application's own;
// - each record kind such an owner writes has one payload type, encoded with
//   keel/wire/value.h (self-describing, so tools render it as JSON).
//
// docs/journal-format.md ("Owners and payloads") describes the same in
// prose; change both together. Payloads evolve as wire values do: a field
// may be added (older readers skip it, newer readers default it), never
// renamed or retyped.
//
//   std::vector<keel::NewRecord> batch;
//   keel::SignalRecord signal{"approve", keel::EncodedValue{keel::wire::encode_value(true)}};
//   batch.push_back({keel::workflow_owner("order-7"), keel::RecordKind::kInbox,
//                    keel::wire::encode_value(signal)});
//   ...
//   if (keel::owner_kind(rec.owner) == keel::OwnerKind::kWorkflow &&
//       rec.kind == keel::RecordKind::kStep) {
//     KEEL_ASSIGN_OR_RETURN(keel::StepRecord step,
//                           keel::wire::decode_value<keel::StepRecord>(rec.payload));
//   }
//
// Everything here is a value type or a pure function: thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "keel/base/rendezvous.h"
#include "keel/base/status.h"
#include "keel/journal/journal.h"
#include "keel/wire/value.h"

namespace keel {

// ---- Owners ------------------------------------------------------------------

inline constexpr std::string_view kActorOwnerPrefix = "actor/";
inline constexpr std::string_view kWorkflowOwnerPrefix = "workflow/";

enum class OwnerKind : std::uint8_t {
  kActor,     // "actor/<key>": a durable actor (keel/engine/durable.h)
  kWorkflow,  // "workflow/<run id>": a workflow run (keel/workflow)
  kOther,     // any other name: records the application appends itself
};

// The owner of the durable actor spawned with `key`: "actor/<key>".
inline std::string actor_owner(std::string_view key) {
  return std::string(kActorOwnerPrefix).append(key);
}

// The owner of the workflow run `run_id`: "workflow/<run id>".
inline std::string workflow_owner(std::string_view run_id) {
  return std::string(kWorkflowOwnerPrefix).append(run_id);
}

// The kind of `owner`, from its prefix alone.
constexpr OwnerKind owner_kind(std::string_view owner) {
  if (owner.starts_with(kActorOwnerPrefix)) return OwnerKind::kActor;
  if (owner.starts_with(kWorkflowOwnerPrefix)) return OwnerKind::kWorkflow;
  return OwnerKind::kOther;
}

// "actor", "workflow" or "other".
constexpr std::string_view owner_kind_name(OwnerKind kind) {
  switch (kind) {
    case OwnerKind::kActor: return "actor";
    case OwnerKind::kWorkflow: return "workflow";
    case OwnerKind::kOther: break;
  }
  return "other";
}

// The actor's key or the run's id: `owner` without its kind's prefix. An
// owner of kind kOther is returned whole. The result points into `owner`.
constexpr std::string_view owner_id(std::string_view owner) {
  switch (owner_kind(owner)) {
    case OwnerKind::kActor: return owner.substr(kActorOwnerPrefix.size());
    case OwnerKind::kWorkflow: return owner.substr(kWorkflowOwnerPrefix.size());
    case OwnerKind::kOther: break;
  }
  return owner;
}

// ---- Durable actors ("actor/<key>", docs/durable.md) ---------------------------
// INBOX (1): a wire::Envelope (keel/wire/envelope.h).
// PROCESSED (2): the cursor, wire::encode_value(std::uint64_t): the LSN of
//   the INBOX record handled last; 0 is a mark, "the INBOX record just
//   before me is handled".
// SNAPSHOT (4): encode_durable_snapshot below. TIMER (6): DurableTimer.
// OUTBOX (5): a wire::Envelope of a message the actor sent by key
//   (DurableActorBase::send_to), idempotent, its id outbox_message_id(owner,
//   seq) for the actor's seq-th such message (1, 2, ...).
// DELIVERED (9): wire::encode_value(std::uint64_t): the actor's outbox
//   messages up to this sequence number are delivered (or given up).

// The `hi` half of the envelope id of every message a durable timer sends
// (its INBOX record); the `lo` half is the timer's id. "KEELTIMR".
inline constexpr std::uint64_t kTimerIdMark = 0x4b45454c54494d52ull;

// A durable timer not yet handled: the message M(args) it sends its actor at
// `fire_at_ns` (wall clock, ns since the Unix epoch). The payload of TIMER
// records, and part of snapshots.
struct DurableTimer {
  std::uint64_t id = 0;
  std::int64_t fire_at_ns = 0;
  std::string method;
  wire::Bytes args;
  static constexpr auto kFields = keel::fields(
      keel::field<&DurableTimer::id>("id"), keel::field<&DurableTimer::fire_at_ns>("fire_at_ns"),
      keel::field<&DurableTimer::method>("method"), keel::field<&DurableTimer::args>("args"));
};

// The message id ({hi, lo}) of the `seq`-th outbox message of `owner`: the
// same in every process that computes it, so a message sent again after a
// crash or a failover is the one its receiver applied (or not).
inline std::array<std::uint64_t, 2> outbox_message_id(std::string_view owner, std::uint64_t seq) {
  return {rendezvous_weight("keel.outbox", owner), seq};
}

// An outbox message not yet delivered: M(args) to the durable actor
// `target`, the sender's `seq`-th. Part of snapshots.
struct OutboxEntry {
  std::uint64_t seq = 0;
  std::string target;
  std::string method;
  wire::Bytes args;
  static constexpr auto kFields = keel::fields(
      keel::field<&OutboxEntry::seq>("seq"), keel::field<&OutboxEntry::target>("target"),
      keel::field<&OutboxEntry::method>("method"), keel::field<&OutboxEntry::args>("args"));
};

// What a SNAPSHOT holds besides the actor's state: the cursor, the pending
// durable timers, the remembered sender-chosen message ids ({hi, lo},
// oldest first), the last durable timer id given, and for an actor that
// sent by key: its undelivered outbox messages, the last outbox sequence
// number given and the last one delivered.
struct DurableSnapshotMeta {
  Lsn cursor = 0;
  std::vector<DurableTimer> timers;
  std::vector<std::array<std::uint64_t, 2>> ids;
  std::uint64_t timer_seq = 0;
  std::vector<OutboxEntry> outbox;
  std::uint64_t outbox_seq = 0;
  std::uint64_t outbox_delivered = 0;
};

// A SNAPSHOT payload: wire::encode_args(cursor, state, timers, ids,
// timer_seq), a tuple (an array in JSON) whose first item is the cursor,
// followed by (outbox, outbox_seq, outbox_delivered) once the actor has
// sent by key.
template <class State>
std::string encode_durable_snapshot(const DurableSnapshotMeta& meta, const State& state) {
  if (meta.outbox_seq == 0) {
    return wire::encode_args(static_cast<std::uint64_t>(meta.cursor), state, meta.timers, meta.ids,
                             meta.timer_seq);
  }
  return wire::encode_args(static_cast<std::uint64_t>(meta.cursor), state, meta.timers, meta.ids, meta.timer_seq,
                           meta.outbox, meta.outbox_seq, meta.outbox_delivered);
}

// Decodes a SNAPSHOT payload: its state into `state`, the rest returned.
// Errors: kCorruption (not a snapshot whose state is a State); `state` is
// then unchanged.
template <class State>
Result<DurableSnapshotMeta> decode_durable_snapshot(std::string_view payload, State& state) {
  using Timers = std::vector<DurableTimer>;
  using Ids = std::vector<std::array<std::uint64_t, 2>>;
  using Outbox = std::vector<OutboxEntry>;
  auto with_outbox =
      wire::decode_args<std::uint64_t, State, Timers, Ids, std::uint64_t, Outbox, std::uint64_t, std::uint64_t>(
          payload);
  if (with_outbox) {
    auto& t = *with_outbox;
    state = std::move(std::get<1>(t));
    return DurableSnapshotMeta{static_cast<Lsn>(std::get<0>(t)), std::move(std::get<2>(t)), std::move(std::get<3>(t)),
                               std::get<4>(t), std::move(std::get<5>(t)), std::get<6>(t), std::get<7>(t)};
  }
  KEEL_ASSIGN_OR_RETURN(auto t,
                        (wire::decode_args<std::uint64_t, State, Timers, Ids, std::uint64_t>(payload)));
  state = std::move(std::get<1>(t));
  return DurableSnapshotMeta{static_cast<Lsn>(std::get<0>(t)), std::move(std::get<2>(t)),
                             std::move(std::get<3>(t)), std::get<4>(t), {}, 0, 0};
}

// ---- Workflow runs ("workflow/<run id>", docs/workflow.md) ---------------------

// A value that is already encoded, embedded as it is in a record (so the
// record's JSON shows the user's value, not a byte string). Empty bytes
// encode as null and decode from null.
struct EncodedValue {
  std::string bytes;
};

}  // namespace keel

namespace keel::wire::detail {
template <>
struct ValueCodec<keel::EncodedValue> {
  static void encode(ValueWriter& w, const keel::EncodedValue& v) {
    if (v.bytes.empty()) {
      w.tag(ValueTag::kNull);
    } else {
      w.raw(v.bytes.data(), v.bytes.size());
    }
  }
  static bool decode(ValueReader& r, keel::EncodedValue& v) {
    Value tree;
    if (!ValueCodec<Value>::decode(r, tree)) return false;
    v.bytes = tree.kind == ValueKind::kNull ? std::string() : encode_value(tree);
    return true;
  }
};
}  // namespace keel::wire::detail

namespace keel {

// RUN (kind 8): a change of the run's status. `event` is "started"
// (workflow, input, code_version, parent set), "completed" (result),
// "failed" / "cancelled" (error_code, error_message), "cancel_requested" or
// "retried".
struct RunRecord {
  std::string event;
  std::string workflow;
  EncodedValue input;
  std::string code_version;
  std::string parent;
  EncodedValue result;
  std::uint32_t error_code = 0;
  std::string error_message;
  static constexpr auto kFields = keel::fields(
      keel::field<&RunRecord::event>("event"), keel::field<&RunRecord::workflow>("workflow"),
      keel::field<&RunRecord::input>("input"),
      keel::field<&RunRecord::code_version>("code_version"),
      keel::field<&RunRecord::parent>("parent"), keel::field<&RunRecord::result>("result"),
      keel::field<&RunRecord::error_code>("error_code"),
      keel::field<&RunRecord::error_message>("error_message"));
};

// STEP (kind 7): one finished step. `position` is its place in the body
// ("3", or "3.1.0" inside branch 1 of the all() at 3, or "undo.0"); `ok`
// tells whether `value` (the encoded result) or the error holds.
struct StepRecord {
  std::string position;
  std::string name;
  std::string kind;
  std::uint32_t attempts = 1;
  bool ok = true;
  EncodedValue value;
  std::uint32_t error_code = 0;
  std::string error_message;
  std::int64_t duration_ns = 0;  // from the first attempt's start to the outcome
  static constexpr auto kFields = keel::fields(
      keel::field<&StepRecord::position>("position"), keel::field<&StepRecord::name>("name"),
      keel::field<&StepRecord::kind>("kind"), keel::field<&StepRecord::attempts>("attempts"),
      keel::field<&StepRecord::ok>("ok"), keel::field<&StepRecord::value>("value"),
      keel::field<&StepRecord::error_code>("error_code"),
      keel::field<&StepRecord::error_message>("error_message"),
      keel::field<&StepRecord::duration_ns>("duration_ns"));
};

// TIMER (kind 6): a sleep's (or a signal deadline's) fire time, wall
// clock, ns since the epoch. With `attempt` > 0, a retry backoff instead:
// attempt number `attempt` of the step at `position` failed and the next
// one is due at fire_at_ns.
struct TimerRecord {
  std::string position;
  std::string name;
  std::int64_t fire_at_ns = 0;
  std::int64_t duration_ns = 0;
  std::uint32_t attempt = 0;
  static constexpr auto kFields = keel::fields(
      keel::field<&TimerRecord::position>("position"), keel::field<&TimerRecord::name>("name"),
      keel::field<&TimerRecord::fire_at_ns>("fire_at_ns"),
      keel::field<&TimerRecord::duration_ns>("duration_ns"),
      keel::field<&TimerRecord::attempt>("attempt"));
};

// INBOX (kind 1): a signal delivered to the run.
struct SignalRecord {
  std::string name;
  EncodedValue value;
  static constexpr auto kFields = keel::fields(keel::field<&SignalRecord::name>("name"),
                                               keel::field<&SignalRecord::value>("value"));
};

// The error a record journaled as `code` (a StatusCode number) and
// `message`. Code 0 (no error) is not one a writer journals: kInternal.
inline Status journaled_status(std::uint32_t code, const std::string& message) {
  if (code == 0) return Status::internal("error without a code: " + message);
  return Status(static_cast<StatusCode>(code), message);
}

}  // namespace keel
