// cell_internal.h: what the files that define Cell share (cell.cc,
// cell_supervision.cc, cell_lifecycle.cc). Private to the engine.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "cell.h"

namespace keel::detail {

// Makes `c` the current cell for a scope (turns, hooks run during spawn).
class CurrentScope {
 public:
  explicit CurrentScope(Cell* c) : prev_(Cell::current()) { Cell::set_current(c); }
  ~CurrentScope() { Cell::set_current(prev_); }
  CurrentScope(const CurrentScope&) = delete;
  CurrentScope& operator=(const CurrentScope&) = delete;

 private:
  Cell* prev_;
};

// The largest unit that states `d` exactly: "2s", "10ms", "1500us", "7ns".
std::string format_duration(Duration d);

}  // namespace keel::detail
