// Durable actors' outbox: messages sent by key (DurableActorBase::send_to),
// recorded in the handler's batch and delivered once it is durable by an
// OutboxDelivery (outbox_delivery.h). See keel/engine/outbox.h for the
// contract and docs/durable.md ("Sending by key") for the semantics.
#include <algorithm>
#include <string>
#include <vector>

#include "cell.h"
#include "cell_internal.h"
#include "runtime.h"
#include "keel/wire/envelope.h"

namespace keel::detail {

namespace {
// The OUTBOX record of `e`, sent by the actor `key` (keel/journal/format.h).
Result<std::string> outbox_record(const std::string& key, const std::string& owner, const OutboxEntry& e) {
  wire::Envelope env;
  const auto id = outbox_message_id(owner, e.seq);
  env.id = wire::Id128{id[0], id[1]};
  env.idempotent = true;
  env.sender.key = key;
  env.target.key = e.target;
  env.method = e.method;
  env.payload = e.args.data;
  env.payload_encoding = wire::PayloadEncoding::kSelfDescribing;
  return wire::encode_envelope(env);
}
}  // namespace

Status DurableCell::send_to(const std::string& target, std::string_view method, std::string args) {
  if (!handling) return Status::failed_precondition("send_to outside the handler of a journaled message");
  if (target.empty()) return Status::invalid_argument("send_to needs the receiving actor's key");
  Effects* eff = current_effects();
  // A replay only rebuilds the outbox: the message was recorded (and maybe
  // delivered) before the crash, whatever the transport is now.
  const bool replay = eff == nullptr || eff->replay;
  if (!replay && cell_->rt_->config().outbox == nullptr) {
    return Status::failed_precondition("send_to: the System has no outbox transport (SystemConfig::outbox)");
  }
  OutboxEntry e{outbox_seq + 1, target, std::string(method), wire::Bytes{std::move(args)}};
  if (!replay) {
    KEEL_ASSIGN_OR_RETURN(std::string record, outbox_record(key, owner, e));
    eff->records.push_back(NewRecord{owner, RecordKind::kOutbox, std::move(record)});
    eff->replies.push_back([delivery = delivery, e](const Status* failed) mutable {
      if (failed == nullptr && delivery != nullptr) delivery->push(std::move(e));
    });
  }
  outbox_seq = e.seq;
  outbox.emplace(e.seq, std::move(e));
  return Status::ok();
}

void DurableCell::start_outbox() {
  stop_outbox();
  std::vector<OutboxEntry> pending;
  for (auto& [seq, e] : outbox) {
    if (seq > outbox_delivered) pending.push_back(e);
  }
  const std::shared_ptr<OutboxTransport>& transport = cell_->rt_->config().outbox;
  if (transport == nullptr) {
    if (!pending.empty()) {
      cell_->rt_->log(owner + " has " + std::to_string(pending.size()) +
                      " undelivered messages sent by key, and the System has no outbox transport");
    }
    return;
  }
  OutboxDelivery::Setup setup;
  setup.transport = transport;
  setup.marks = accepts;
  setup.key = key;
  setup.owner = owner;
  setup.retry = options.outbox_retry;
  setup.rt = cell_->rt_;
  setup.delivered = outbox_delivered;
  delivery = OutboxDelivery::start(std::move(setup), std::move(pending));
}

void DurableCell::stop_outbox() {
  if (delivery == nullptr) return;
  delivery->close();
  forget_delivered();
  delivery.reset();
}

void DurableCell::forget_delivered() {
  if (delivery != nullptr) outbox_delivered = std::max(outbox_delivered, delivery->delivered());
  std::erase_if(outbox, [&](const auto& e) { return e.first <= outbox_delivered; });
}

}  // namespace keel::detail
