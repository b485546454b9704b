// Effects: what a durable actor's handler did, held back until its commit
// (effects.h).
#include "effects.h"

#include "cell.h"

namespace keel::detail {

void reject_sends(std::vector<Effects::Send>& sends, const Status& why) {
  for (auto& s : sends) {
    s.msg->reject(why);
    s.target->release();
  }
  sends.clear();
}

void release_sends(std::vector<Effects::Send>& sends, Lsn first) {
  for (auto& s : sends) {
    if (s.record >= 0) {
      durable_fields_of(*s.msg).inbox_lsn = first + static_cast<Lsn>(s.record);
      s.target->enqueue_accepted(std::move(s.msg));
    } else {
      // Never blocks the journal's writer thread.
      s.target->send(s.gen, std::move(s.msg), /*may_block=*/false).ignore();
    }
    s.target->release();
  }
  sends.clear();
}
Effects* current_effects() {
  HandlerContext* turn = current_turn();
  return turn != nullptr ? turn->effects : nullptr;
}

void release_reply(HandlerContext& ctx, UniqueFunction<void(const Status*)> fn) {
  if (Effects* e = ctx.effects) {
    if (!e->replay) e->replies.push_back(std::move(fn));
    return;  // a replayed handler's reply went out before the crash
  }
  fn(nullptr);
}

Effects::~Effects() {
  reject_sends(sends, Status::cancelled("the sending handler failed; its messages were not sent"));
}

Status Effects::add_send(Cell* target, std::uint32_t gen, MessagePtr msg) {
  if (replay) return Status::ok();  // sent (and journaled) before the crash
  if (Cell* from = Cell::current()) msg->sender = from->id();
  msg->generation = gen;
  int record = -1;
  // A message that is not journalable (a continuation) is released as it is.
  if (target->is_durable() && msg->journalable()) {
    Result<std::string> env = inbox_envelope(*target, *msg);
    if (!env) {
      msg->reject(env.status());
      return env.status();
    }
    records.push_back(NewRecord{target->durable()->owner, RecordKind::kInbox, std::move(*env)});
    record = static_cast<int>(records.size()) - 1;
  }
  target->acquire();
  sends.push_back(Send{target, gen, std::move(msg), record});
  return Status::ok();
}

// ---- Acceptance --------------------------------------------------------------

}  // namespace keel::detail
