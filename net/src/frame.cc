// Frame header codec and the incremental decoder (frame.h). The
// header is little-endian: u32 body length, u8 type, u8 flags (0 in
// protocol version 1), u8 'K', u8 'L'.
#include "frame.h"

#include <algorithm>
#include <cstring>

namespace keel::wire {
namespace {

constexpr std::size_t kInitialCapacity = 64 * 1024;

char* data_of(const std::unique_ptr<std::uint64_t[]>& s) {
  return reinterpret_cast<char*>(s.get());
}

std::uint32_t load_u32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return std::uint32_t{u[0]} | (std::uint32_t{u[1]} << 8) | (std::uint32_t{u[2]} << 16) |
         (std::uint32_t{u[3]} << 24);
}

}  // namespace

std::string_view frame_error_name(FrameError e) {
  switch (e) {
    case FrameError::kNone: return "none";
    case FrameError::kMalformed: return "malformed";
    case FrameError::kOversized: return "oversized";
    case FrameError::kUnknownType: return "unknown_type";
    case FrameError::kTruncated: return "truncated";
  }
  return "unknown";
}

void encode_frame_header(char* out, MessageType type, std::size_t body_bytes) {
  const auto n = static_cast<std::uint32_t>(body_bytes);
  out[0] = static_cast<char>(n & 0xff);
  out[1] = static_cast<char>((n >> 8) & 0xff);
  out[2] = static_cast<char>((n >> 16) & 0xff);
  out[3] = static_cast<char>((n >> 24) & 0xff);
  out[4] = static_cast<char>(type);
  out[5] = 0;
  out[6] = static_cast<char>(kFrameMagic0);
  out[7] = static_cast<char>(kFrameMagic1);
}

void append_frame(std::string& out, MessageType type, std::string_view body) {
  // One pass over the body: header, body, then the zero padding.
  char header[kFrameHeaderBytes];
  encode_frame_header(header, type, body.size());
  out.reserve(out.size() + frame_wire_bytes(body.size()));
  out.append(header, sizeof header);
  out.append(body);
  out.append(frame_wire_bytes(body.size()) - kFrameHeaderBytes - body.size(), '\0');
}

FrameDecoder::FrameDecoder(FrameLimits limits) : limits_(limits) {}

std::span<char> FrameDecoder::prepare(std::size_t min_bytes) {
  if (capacity_ - end_ >= min_bytes && min_bytes > 0) {
    return {data_of(storage_) + end_, capacity_ - end_};
  }
  min_bytes = std::max<std::size_t>(min_bytes, 1);
  const std::size_t live = end_ - begin_;
  const std::size_t needed = live + min_bytes;
  if (needed <= capacity_) {
    // Move the partial frame to the front (it stays 8-byte aligned: frames
    // are whole words). Only the unconsumed tail moves.
    std::memmove(data_of(storage_), data_of(storage_) + begin_, live);
  } else {
    std::size_t cap = std::max({needed, capacity_ * 2, kInitialCapacity});
    cap = (cap + 7) & ~std::size_t{7};
    auto grown = std::make_unique_for_overwrite<std::uint64_t[]>(cap / 8);
    if (live > 0) std::memcpy(reinterpret_cast<char*>(grown.get()), data_of(storage_) + begin_, live);
    storage_ = std::move(grown);
    capacity_ = cap;
  }
  begin_ = 0;
  end_ = live;
  return {data_of(storage_) + end_, capacity_ - end_};
}

void FrameDecoder::commit(std::size_t n) {
  KEEL_CHECK(end_ + n <= capacity_, "FrameDecoder::commit past prepared space");
  end_ += n;
}

void FrameDecoder::feed(std::string_view bytes) {
  if (bytes.empty()) return;
  std::span<char> space = prepare(bytes.size());
  std::memcpy(space.data(), bytes.data(), bytes.size());
  commit(bytes.size());
}

Status FrameDecoder::fail(FrameError e, std::string message) {
  error_ = e;
  status_ = Status::corruption("frame: " + std::string(frame_error_name(e)) + ": " + message);
  return status_;
}

Result<std::optional<Frame>> FrameDecoder::next() {
  if (error_ != FrameError::kNone) return status_;
  const std::size_t live = end_ - begin_;
  if (live < kFrameHeaderBytes) return std::optional<Frame>();
  const char* h = data_of(storage_) + begin_;
  if (static_cast<std::uint8_t>(h[6]) != kFrameMagic0 ||
      static_cast<std::uint8_t>(h[7]) != kFrameMagic1) {
    return fail(FrameError::kMalformed, "bad magic (not a Keel stream)");
  }
  if (h[5] != 0) {
    return fail(FrameError::kMalformed,
                "reserved flags " + std::to_string(static_cast<std::uint8_t>(h[5])) + " set");
  }
  const auto type = static_cast<std::uint8_t>(h[4]);
  if (type == 0 || type > kMaxMessageType) {
    return fail(FrameError::kUnknownType, "message type " + std::to_string(type));
  }
  const std::size_t body = load_u32(h);
  if (body > limits_.max_body_bytes) {
    return fail(FrameError::kOversized, "body of " + std::to_string(body) +
                                            " bytes exceeds the limit of " +
                                            std::to_string(limits_.max_body_bytes));
  }
  const std::size_t wire = frame_wire_bytes(body);
  if (live < wire) return std::optional<Frame>();
  Frame f{static_cast<MessageType>(type), std::string_view(h + kFrameHeaderBytes, body)};
  begin_ += wire;
  if (begin_ == end_) begin_ = end_ = 0;  // the next read lands at the aligned front
  return std::optional<Frame>(f);
}

Status FrameDecoder::finish() {
  if (error_ != FrameError::kNone) return status_;
  if (end_ == begin_) return Status::ok();
  return fail(FrameError::kTruncated,
              std::to_string(end_ - begin_) + " bytes of an incomplete frame at end of stream");
}

std::size_t FrameDecoder::wanted_bytes() const {
  const std::size_t live = end_ - begin_;
  if (live < kFrameHeaderBytes) return kFrameHeaderBytes - live;
  const std::size_t body = load_u32(data_of(storage_) + begin_);
  if (body > limits_.max_body_bytes) return 1;
  const std::size_t wire = frame_wire_bytes(body);
  return wire > live ? wire - live : 1;
}

}  // namespace keel::wire
