// keel/journal/format.h: owner names and the payloads Keel's writers and
// tools share.
#include "keel/journal/format.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace keel {
namespace {

TEST(JournalFormat, ActorAndWorkflowOwnersAreTheirIdBehindAPrefix) {
  EXPECT_EQ(actor_owner("Account/7"), "actor/Account/7");
  EXPECT_EQ(workflow_owner("order-7"), "workflow/order-7");
}

TEST(JournalFormat, OwnerIdAndKindRoundTripThroughTheHelpers) {
  for (const std::string id : {"acct-1", "Account/7", "workflow/x", ""}) {
    EXPECT_EQ(owner_kind(actor_owner(id)), OwnerKind::kActor) << id;
    EXPECT_EQ(owner_id(actor_owner(id)), id);
    EXPECT_EQ(owner_kind(workflow_owner(id)), OwnerKind::kWorkflow) << id;
    EXPECT_EQ(owner_id(workflow_owner(id)), id);
  }
}

TEST(JournalFormat, AnOwnerWithNeitherPrefixIsOtherAndItsWholeNameIsItsId) {
  for (const std::string owner :
       {"ledger/2026", "", "actor", "workflow", "Actor/1", "actors/1", "a/actor/1"}) {
    EXPECT_EQ(owner_kind(owner), OwnerKind::kOther) << owner;
    EXPECT_EQ(owner_id(owner), owner);
  }
}

TEST(JournalFormat, OwnerKindsAreNamedAsTheInspectionToolFiltersThem) {
  EXPECT_EQ(owner_kind_name(OwnerKind::kActor), "actor");
  EXPECT_EQ(owner_kind_name(OwnerKind::kWorkflow), "workflow");
  EXPECT_EQ(owner_kind_name(OwnerKind::kOther), "other");
  static_assert(owner_kind("actor/a") == OwnerKind::kActor, "classification works at compile time");
}

TEST(JournalFormat, AStepRecordEmbedsItsValueAsAValueAndRoundTrips) {
  StepRecord step;
  step.position = "3.1.0";
  step.name = "reserve";
  step.kind = "step";
  step.value = EncodedValue{wire::encode_value(std::vector<std::int64_t>{1, 2})};
  const std::string payload = wire::encode_value(step);

  Result<std::string> json = wire::value_to_json(payload);
  ASSERT_TRUE(json.is_ok()) << json.status();
  EXPECT_EQ(*json,
            "{\"position\":\"3.1.0\",\"name\":\"reserve\",\"kind\":\"step\",\"attempts\":1,\"ok\":true,"
            "\"value\":[1,2],\"error_code\":0,\"error_message\":\"\",\"duration_ns\":0}");
  Result<StepRecord> back = wire::decode_value<StepRecord>(payload);
  ASSERT_TRUE(back.is_ok()) << back.status();
  EXPECT_EQ(back->position, "3.1.0");
  EXPECT_EQ(back->value.bytes, step.value.bytes);
}

TEST(JournalFormat, AnEmptyEncodedValueIsNullAndDecodesAsNoBytes) {
  const std::string payload = wire::encode_value(SignalRecord{"approve", EncodedValue{}});
  EXPECT_EQ(wire::value_to_json(payload).value(), "{\"name\":\"approve\",\"value\":null}");
  Result<SignalRecord> back = wire::decode_value<SignalRecord>(payload);
  ASSERT_TRUE(back.is_ok()) << back.status();
  EXPECT_TRUE(back->value.bytes.empty());
}

// A RUN record whose error_code is text.
struct MistypedRun {
  std::string event;
  std::string error_code;
  static constexpr auto kFields =
      keel::fields(keel::field<&MistypedRun::event>("event"),
                   keel::field<&MistypedRun::error_code>("error_code"));
};

// Tools count such a record as one they cannot read, rather than show part
// of it.
TEST(JournalFormat, ARunRecordWithAMistypedFieldIsCorruption) {
  Result<RunRecord> r =
      wire::decode_value<RunRecord>(wire::encode_value(MistypedRun{"failed", "13"}));
  EXPECT_EQ(r.status().code(), StatusCode::kCorruption);
}

TEST(JournalFormat, ADurableSnapshotRoundTripsAndStartsWithItsCursor) {
  DurableSnapshotMeta meta;
  meta.cursor = 42;
  meta.timers.push_back(DurableTimer{7, 1'000, "tick", wire::Bytes{"\x01"}});
  meta.ids.push_back({0x51, 1});
  meta.timer_seq = 7;
  const std::string payload = encode_durable_snapshot(meta, std::string("state"));

  Result<wire::Value> tree = wire::parse_value(payload);
  ASSERT_TRUE(tree.is_ok()) << tree.status();
  ASSERT_EQ(tree->kind, wire::ValueKind::kTuple);
  EXPECT_EQ(tree->items.at(0).uint_value, 42u);

  std::string state;
  Result<DurableSnapshotMeta> back = decode_durable_snapshot(payload, state);
  ASSERT_TRUE(back.is_ok()) << back.status();
  EXPECT_EQ(state, "state");
  EXPECT_EQ(back->cursor, 42u);
  ASSERT_EQ(back->timers.size(), 1u);
  EXPECT_EQ(back->timers[0].method, "tick");
  EXPECT_EQ(back->ids, meta.ids);
  EXPECT_EQ(back->timer_seq, 7u);
}

TEST(JournalFormat, ASnapshotOfAnotherStateTypeLeavesTheStateAlone) {
  const std::string payload = encode_durable_snapshot(DurableSnapshotMeta{}, std::string("text"));
  std::int64_t state = 5;
  Result<DurableSnapshotMeta> back = decode_durable_snapshot(payload, state);
  EXPECT_EQ(back.status().code(), StatusCode::kCorruption);
  EXPECT_EQ(state, 5);
}

}  // namespace
}  // namespace keel
