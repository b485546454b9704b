// effects.h: what a durable actor's handler did (records, sends, replies),
// held back until the handler's commit is durable, then released, or
// rejected with the commit's error.
#pragma once

#include <cstdint>
#include <vector>

#include "keel/base/status.h"
#include "keel/base/unique_function.h"
#include "keel/engine/detail/message.h"
#include "keel/journal/journal.h"

namespace keel::detail {

class Cell;

// What a durable actor's handler did, held back until its batch commits.
// Owned by the turn; installed in the handler's context for its duration
// (EffectsScope).
struct Effects {
  struct Send {
    Cell* target;        // a reference is held
    std::uint32_t gen;
    MessagePtr msg;      // owned until released
    int record;          // index in `records` of its INBOX record, or -1
  };
  bool replay = false;   // recovery replay: effects are discarded
  std::vector<NewRecord> records;
  std::vector<Send> sends;
  // Run once the batch is durable (nullptr), or with the commit's error.
  std::vector<UniqueFunction<void(const Status*)>> replies;

  Effects() = default;
  Effects(const Effects&) = delete;
  Effects& operator=(const Effects&) = delete;
  // Discards what was not released: messages are rejected with kCancelled.
  ~Effects();

  // Holds `msg` for `target` until the commit. Errors: those of
  // inbox_envelope, for a journalable message to a durable actor.
  Status add_send(Cell* target, std::uint32_t gen, MessagePtr msg);
};

// The collector of the durable handler running on this thread (its turn's
// context), or null.
Effects* current_effects();

// Makes `e` the collector of the handler running in `ctx` for a scope.
class EffectsScope {
 public:
  EffectsScope(HandlerContext& ctx, Effects* e) : ctx_(ctx), prev_(ctx.effects) { ctx.effects = e; }
  ~EffectsScope() { ctx_.effects = prev_; }
  EffectsScope(const EffectsScope&) = delete;
  EffectsScope& operator=(const EffectsScope&) = delete;

 private:
  HandlerContext& ctx_;
  Effects* prev_;
};

// Rejects `sends` with `why` and releases their targets.
void reject_sends(std::vector<Effects::Send>& sends, const Status& why);
// Releases a durable commit's sends: one with an INBOX record in the
// commit (at `first` + its index) is accepted by its target; others are
// sent as they are (never blocking: journal writer thread).
void release_sends(std::vector<Effects::Send>& sends, Lsn first);

}  // namespace keel::detail
