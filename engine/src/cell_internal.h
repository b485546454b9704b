// cell_internal.h: what the files that define Cell and its Supervisor share
// (cell.cc, cell_lifecycle.cc, supervisor.cc). Private to the engine.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "cell.h"

namespace keel::detail {

// The turn of `c` on this thread for a scope (a turn, hooks run during
// spawn, a recovery): installs the HandlerContext its handlers run in, which
// Cell::current() and current_turn() return until the scope ends.
class TurnScope {
 public:
  explicit TurnScope(Cell* c);
  ~TurnScope();
  TurnScope(const TurnScope&) = delete;
  TurnScope& operator=(const TurnScope&) = delete;
  HandlerContext& context() { return ctx_; }

 private:
  HandlerContext ctx_;
  HandlerContext* prev_;
};

// The largest unit that states `d` exactly: "2s", "10ms", "1500us", "7ns".
std::string format_duration(Duration d);

}  // namespace keel::detail
