// The out-of-line parts of the value reader: error reporting, multi-byte
// varints, counts, skipping, and the scalar decoders with tag tolerance.
#include "keel/wire/detail/value_io.h"

#include <string>

#include "keel/wire/value.h"

namespace keel::wire::detail {

bool ValueReader::fail(std::string_view what) {
  if (error_.empty()) {
    error_ = "value: at byte " + std::to_string(offset()) + ": ";
    error_.append(what);
  }
  p_ = end_;  // later reads fail too
  return false;
}

Status ValueReader::status() const {
  return error_.empty() ? Status::ok() : Status::corruption(error_);
}

bool ValueReader::expect_tag(ValueTag want, std::string_view what) {
  if (!ok()) return false;
  if (p_ == end_) return fail("truncated: expected " + std::string(what));
  const auto t = static_cast<std::uint8_t>(*p_++);
  return t == static_cast<std::uint8_t>(want) || wrong_tag(t, what);
}

bool ValueReader::wrong_tag(std::uint8_t t, std::string_view what) {
  --p_;
  return fail("expected " + std::string(what) + ", found tag " + std::to_string(t) + " (" +
              std::string(value_tag_name(t)) + ")");
}

bool ValueReader::varint_slow(std::uint64_t& v) {
  std::uint64_t result = 0;
  for (std::size_t i = 0; i < kMaxVarintBytes; ++i) {
    if (p_ == end_) return fail("truncated varint");
    const auto b = static_cast<std::uint8_t>(*p_++);
    if (i == kMaxVarintBytes - 1 && b > 1) return fail("varint overflows 64 bits");
    result |= static_cast<std::uint64_t>(b & 0x7f) << (7 * i);
    if (b < 0x80) {
      v = result;
      return true;
    }
  }
  return fail("varint longer than 10 bytes");
}

bool ValueReader::count(std::uint64_t& n, std::size_t min_bytes_each) {
  if (!varint(n)) return false;
  if (n > remaining() / min_bytes_each) {
    return fail("count " + std::to_string(n) + " exceeds the " + std::to_string(remaining()) +
                " bytes left");
  }
  return true;
}

bool ValueReader::skip_value() {
  std::uint8_t t = 0;
  if (!read_tag(t)) return false;
  std::uint64_t n = 0;
  std::string_view s;
  switch (static_cast<ValueTag>(t)) {
    case ValueTag::kNull:
    case ValueTag::kFalse:
    case ValueTag::kTrue:
      return true;
    case ValueTag::kUint:
    case ValueTag::kSint:
      return varint(n);
    case ValueTag::kFloat32:
      return remaining() >= 4 ? (p_ += 4, true) : fail("truncated float32");
    case ValueTag::kFloat64:
      return remaining() >= 8 ? (p_ += 8, true) : fail("truncated float64");
    case ValueTag::kString:
    case ValueTag::kBytes:
      return sized(s);
    case ValueTag::kList:
    case ValueTag::kTuple:
    case ValueTag::kMap: {
      const std::size_t per = static_cast<ValueTag>(t) == ValueTag::kMap ? 2 : 1;
      if (!count(n, per) || !enter()) return false;
      for (std::uint64_t i = 0; i < n * per; ++i) {
        if (!skip_value()) return false;
      }
      leave();
      return true;
    }
    case ValueTag::kStruct:
      if (!count(n, 2) || !enter()) return false;
      for (std::uint64_t i = 0; i < n; ++i) {
        if (!sized(s) || !skip_value()) return false;
      }
      leave();
      return true;
  }
  return fail("reserved tag");
}

bool ValueCodec<bool>::decode(ValueReader& r, bool& v) {
  std::uint8_t t = 0;
  if (!r.read_tag(t)) return false;
  if (t == static_cast<std::uint8_t>(ValueTag::kTrue) ||
      t == static_cast<std::uint8_t>(ValueTag::kFalse)) {
    v = t == static_cast<std::uint8_t>(ValueTag::kTrue);
    return true;
  }
  return r.wrong_tag(t, "bool");
}

bool read_integer(ValueReader& r, bool& negative, std::uint64_t& magnitude, std::string_view what) {
  std::uint8_t t = 0;
  if (!r.read_tag(t)) return false;
  std::uint64_t u = 0;
  if (t == static_cast<std::uint8_t>(ValueTag::kUint)) {
    if (!r.varint(u)) return false;
    negative = false;
    magnitude = u;
    return true;
  }
  if (t == static_cast<std::uint8_t>(ValueTag::kSint)) {
    if (!r.varint(u)) return false;
    const std::int64_t s = unzigzag(u);
    negative = s < 0;
    // |s| without overflow for INT64_MIN.
    magnitude = negative ? static_cast<std::uint64_t>(-(s + 1)) + 1 : static_cast<std::uint64_t>(s);
    return true;
  }
  return r.wrong_tag(t, what);
}

bool ValueCodec<double>::decode(ValueReader& r, double& v) {
  std::uint8_t t = 0;
  if (!r.read_tag(t)) return false;
  if (t == static_cast<std::uint8_t>(ValueTag::kFloat64)) return r.fixed(&v, sizeof v);
  if (t == static_cast<std::uint8_t>(ValueTag::kFloat32)) {
    float f = 0;
    if (!r.fixed(&f, sizeof f)) return false;
    v = f;
    return true;
  }
  return r.wrong_tag(t, "double");
}

}  // namespace keel::wire::detail
