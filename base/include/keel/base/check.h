// keel/base/check.h: KEEL_CHECK, for broken invariants (bugs), never for data
// read from disk or the network. A failed check logs file, line and message to
// stderr and aborts: Keel is crash-safe by design, and recovery beats running
// on bad state.
//
//   KEEL_CHECK(queue_.empty(), "drained mailbox still holds messages");
#pragma once

#include <string_view>

namespace keel::detail {
[[noreturn]] void check_failed(const char* file, int line, std::string_view cond,
                               std::string_view message);
}  // namespace keel::detail

#define KEEL_CHECK(cond, ...)                                                       \
  do {                                                                              \
    if (!(cond)) [[unlikely]]                                                       \
      ::keel::detail::check_failed(__FILE__, __LINE__, #cond, "" __VA_ARGS__);      \
  } while (false)
