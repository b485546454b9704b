// records.h: the payloads of a workflow run's journal records (owner
// "workflow/<run id>"), encoded with keel::wire::encode_value so that the
// journal tools print them as JSON. docs/workflow.md describes them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "keel/base/status.h"
#include "keel/wire/value.h"

namespace keel::internal {

// A value that is already encoded, embedded as it is in a record (so the
// record's JSON shows the user's value, not a byte string). Empty bytes
// encode as null and decode from null.
struct EncodedValue {
  std::string bytes;
};

}  // namespace keel::internal

namespace keel::wire::detail {
template <>
struct ValueCodec<keel::internal::EncodedValue> {
  static void encode(ValueWriter& w, const keel::internal::EncodedValue& v) {
    if (v.bytes.empty()) {
      w.tag(ValueTag::kNull);
    } else {
      w.raw(v.bytes.data(), v.bytes.size());
    }
  }
  static bool decode(ValueReader& r, keel::internal::EncodedValue& v) {
    Value tree;
    if (!ValueCodec<Value>::decode(r, tree)) return false;
    v.bytes = tree.kind == ValueKind::kNull ? std::string() : encode_value(tree);
    return true;
  }
};
}  // namespace keel::wire::detail

namespace keel::internal {

inline constexpr std::string_view kOwnerPrefix = "workflow/";

// RUN (kind 8). `event` is "started" (workflow, input, code_version, parent
// set), "completed" (result), "failed" / "cancelled" (error_code,
// error_message), "cancel_requested" or "retried".
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
      keel::field<&RunRecord::input>("input"), keel::field<&RunRecord::code_version>("code_version"),
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
      keel::field<&TimerRecord::duration_ns>("duration_ns"), keel::field<&TimerRecord::attempt>("attempt"));
};

// INBOX (kind 1): a signal delivered to the run.
struct SignalRecord {
  std::string name;
  EncodedValue value;
  static constexpr auto kFields = keel::fields(keel::field<&SignalRecord::name>("name"),
                                               keel::field<&SignalRecord::value>("value"));
};

inline Status status_from(std::uint32_t code, const std::string& message) {
  if (code == 0) return Status::internal("error without a code: " + message);
  return Status(static_cast<StatusCode>(code), message);
}

}  // namespace keel::internal
