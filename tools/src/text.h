// text.h: the output vocabulary of `keel journal`: JSON strings, hex, times,
// terminal colours and aligned tables. Not thread-safe; each value is owned
// by one command run.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "keel/base/clock.h"

namespace keel::internal {

// `s` as a JSON string literal, quotes included. Bytes that are not valid
// UTF-8 become U+FFFD, so the output is always valid JSON.
std::string json_string(std::string_view s);
// Lower-case hex of every byte of `bytes`.
std::string hex(std::string_view bytes);
// "2026-11-21T16:55:52.123456789Z" (UTC, nanoseconds).
std::string rfc3339(WallTime t);
// Nanoseconds since the Unix epoch.
std::int64_t unix_ns(WallTime t);
// "12.3 MiB", "512 B".
std::string human_bytes(std::uint64_t n);

// ANSI colours, or nothing when disabled (stdout is not a terminal, or
// NO_COLOR is set).
class Palette {
 public:
  explicit Palette(bool enabled) : enabled_(enabled) {}
  std::string bold(std::string_view s) const { return wrap("1", s); }
  std::string dim(std::string_view s) const { return wrap("2", s); }
  std::string red(std::string_view s) const { return wrap("31", s); }
  std::string green(std::string_view s) const { return wrap("32", s); }
  std::string yellow(std::string_view s) const { return wrap("33", s); }
  std::string cyan(std::string_view s) const { return wrap("36", s); }
  bool enabled() const { return enabled_; }

 private:
  std::string wrap(std::string_view code, std::string_view s) const;
  bool enabled_;
};

// A table printed with every column padded to its widest cell. Cells may
// hold colour codes: widths count only the visible characters. The last
// column is never padded.
class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  bool empty() const { return rows_.empty(); }
  // Writes the header (bold when `palette` is enabled; none unless
  // `with_header`) and the rows.
  void print(std::ostream& out, const Palette& palette, bool with_header = true) const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// The visible width of `s`: UTF-8 code points outside ANSI escape sequences.
std::size_t visible_width(std::string_view s);
// `s` padded with spaces to `width` visible characters.
std::string pad(std::string_view s, std::size_t width);
// `s` right-aligned in `width` visible characters.
std::string pad_left(std::string_view s, std::size_t width);

}  // namespace keel::internal
