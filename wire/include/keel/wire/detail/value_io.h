// keel/wire/detail/value_io.h: the byte-level writer and reader under the
// self-describing value encoding. Installed because the templates in
// keel/wire/value.h need them; not API.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "keel/base/status.h"
#include "keel/wire/detail/value_format.h"

namespace keel::wire::detail {

static_assert(std::endian::native == std::endian::little,
              "the value encoding copies little-endian floats as they are in memory");

inline std::uint64_t zigzag(std::int64_t v) {
  return (static_cast<std::uint64_t>(v) << 1) ^ static_cast<std::uint64_t>(v >> 63);
}
inline std::int64_t unzigzag(std::uint64_t v) {
  return static_cast<std::int64_t>(v >> 1) ^ -static_cast<std::int64_t>(v & 1);
}

// Appends encoded values to a string it borrows (which must outlive it).
// Not thread-safe.
class ValueWriter {
 public:
  explicit ValueWriter(std::string& out) : out_(out) {}

  void tag(ValueTag t) { out_.push_back(static_cast<char>(t)); }
  void varint(std::uint64_t v) {
    char buf[kMaxVarintBytes];
    std::size_t n = 0;
    while (v >= 0x80) {
      buf[n++] = static_cast<char>(v | 0x80);
      v >>= 7;
    }
    buf[n++] = static_cast<char>(v);
    out_.append(buf, n);
  }
  void tag_varint(ValueTag t, std::uint64_t v) {
    tag(t);
    varint(v);
  }
  void raw(const void* p, std::size_t n) { out_.append(static_cast<const char*>(p), n); }
  // A length-prefixed byte run (string, bytes, struct field name).
  void sized(std::string_view s) {
    varint(s.size());
    raw(s.data(), s.size());
  }
  std::string& out() { return out_; }

 private:
  std::string& out_;
};

// Reads encoded values from bytes it borrows (which must outlive it). Every
// read checks bounds; the first failure records a message and makes every
// later read fail, so callers may test once at the end. Not thread-safe.
class ValueReader {
 public:
  explicit ValueReader(std::string_view in)
      : begin_(in.data()), p_(in.data()), end_(in.data() + in.size()) {}

  bool ok() const { return error_.empty(); }
  bool at_end() const { return p_ == end_; }
  std::size_t remaining() const { return static_cast<std::size_t>(end_ - p_); }
  std::size_t offset() const { return static_cast<std::size_t>(p_ - begin_); }

  // Records the first failure ("at byte N: <what>") and returns false.
  bool fail(std::string_view what);
  // kCorruption with the recorded message; ok when nothing failed.
  Status status() const;

  // The next tag, not consumed; false at the end of input.
  bool peek_tag(std::uint8_t& t) const {
    if (p_ == end_) return false;
    t = static_cast<std::uint8_t>(*p_);
    return true;
  }
  bool read_tag(std::uint8_t& t) {
    if (p_ == end_) return fail("truncated: expected a value tag");
    t = static_cast<std::uint8_t>(*p_++);
    if (t > kMaxValueTag) {
      --p_;
      return fail("reserved tag " + std::to_string(t));
    }
    return true;
  }
  // Consumes a tag that must be `want`; `what` names the C++ type for the error.
  bool expect_tag(ValueTag want, std::string_view what);
  // Fails for tag `t`, just read, that cannot decode as `what`; the error
  // points at the tag.
  bool wrong_tag(std::uint8_t t, std::string_view what);
  bool varint(std::uint64_t& v) {
    if (p_ != end_ && static_cast<std::uint8_t>(*p_) < 0x80) {  // one-byte fast path
      v = static_cast<std::uint8_t>(*p_++);
      return true;
    }
    return varint_slow(v);
  }
  // A count of elements that each take at least `min_bytes_each` bytes, so
  // that a hostile count cannot make the caller reserve unbounded memory.
  bool count(std::uint64_t& n, std::size_t min_bytes_each);
  // A length-prefixed byte run, in place.
  bool sized(std::string_view& s) {
    std::uint64_t n = 0;
    if (!varint(n)) return false;
    if (n > remaining()) return fail("truncated: length " + std::to_string(n) + " past the end");
    s = std::string_view(p_, static_cast<std::size_t>(n));
    p_ += n;
    return true;
  }
  bool fixed(void* out, std::size_t n) {
    if (n > remaining()) return fail("truncated: fixed-size value past the end");
    std::memcpy(out, p_, n);
    p_ += n;
    return true;
  }
  // Depth guard for containers, tuples and structs.
  bool enter() {
    if (++depth_ > kMaxValueDepth) return fail("nested deeper than kMaxValueDepth");
    return true;
  }
  void leave() { --depth_; }

  // Skips one whole value of any type (an unknown struct field).
  bool skip_value();

 private:
  bool varint_slow(std::uint64_t& v);

  const char* begin_;
  const char* p_;
  const char* end_;
  int depth_ = 0;
  std::string error_;
};

// Encoding and decoding of one C++ type; specialized in keel/wire/value.h.
// decode() assigns into an existing (default-constructed) object and returns
// false after recording the failure in the reader.
template <class T>
struct ValueCodec;

}  // namespace keel::wire::detail
