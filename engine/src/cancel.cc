// Cancellation of asks on the engine side: what a turn does with a message
// whose asker cancelled it, and what a handler sees of it. The future side
// (Future::cancel, CancelHandle) is in future.h / future.cc.
#include "cell.h"
#include "runtime.h"

namespace keel {

bool Actor::is_cancelled() const {
  const detail::FutureStateBase* ask = cell_->current_ask();
  return ask != nullptr && ask->is_cancelled();
}

CancelToken Actor::cancel_token() const { return CancelToken(cell_->current_ask()); }

namespace detail {

bool Cell::drop_cancelled(MessagePtr& msg) {
  const FutureStateBase* ask = msg->ask_state();
  if (ask == nullptr || !ask->is_cancelled()) return false;
  // The future already holds kCancelled: the reject below changes nothing
  // and is not a late reply.
  dead_letter_and_reject(std::move(msg), DeadLetterReason::kCancelled,
                         Status::cancelled("ask to " + describe(*this) + " was cancelled"),
                         "cancelled by the asker before handling")
      .ignore();
  return true;
}

}  // namespace detail
}  // namespace keel
