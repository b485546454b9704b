// frame.h: framing of the Keel wire protocol (docs/wire-protocol.md),
// shared by every transport. A frame is an 8-byte header (body length, message
// type, flags, magic) and a body padded to a multiple of 8 bytes, so that
// Cap'n Proto bodies stay word-aligned in a receive buffer.
//
// Private to Keel::net: users see frames through keel/wire/transport.h.
// FrameDecoder takes bytes incrementally and yields frames in place (no copy
// of the body) or a typed error. A transport reads straight into it:
//
//   keel::wire::FrameDecoder decoder;
//   std::span<char> space = decoder.prepare(decoder.wanted_bytes());
//   std::size_t n = read(fd, space.data(), space.size());
//   decoder.commit(n);
//   while (true) {
//     KEEL_ASSIGN_OR_RETURN(std::optional<keel::wire::Frame> f, decoder.next());
//     if (!f) break;                 // needs more bytes
//     handle(f->type, f->body);      // body valid until the next prepare()/feed()
//   }
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "keel/base/status.h"
#include "keel/wire/control.h"
#include "keel/wire/transport.h"

namespace keel::wire {

inline constexpr std::size_t kFrameHeaderBytes = 8;
// Header bytes 6-7: every frame starts its header with this magic ("KL").
inline constexpr std::uint8_t kFrameMagic0 = 'K';
inline constexpr std::uint8_t kFrameMagic1 = 'L';

// Bytes on the wire for a body of `body_bytes`: header plus padded body.
constexpr std::size_t frame_wire_bytes(std::size_t body_bytes) {
  return kFrameHeaderBytes + ((body_bytes + 7) & ~std::size_t{7});
}

// Writes the 8-byte header for a body of `body_bytes` into `out`.
// Precondition: body_bytes < 2^32.
void encode_frame_header(char* out, MessageType type, std::size_t body_bytes);

// Appends one whole frame (header, body, zero padding) to `out`.
void append_frame(std::string& out, MessageType type, std::string_view body);

// Appends a whole frame holding the control body `m` (keel/wire/control.h).
template <class M>
void append_message(std::string& out, const M& m) {
  append_frame(out, message_type_of(m), encode_body(m));
}

// Why a decoder stopped. kNone while the stream is good.
enum class FrameError : std::uint8_t {
  kNone = 0,
  kMalformed,    // bad magic or nonzero reserved flags: not a Keel stream
  kOversized,    // body length over FrameLimits::max_body_bytes
  kUnknownType,  // type byte 0 or above kMaxMessageType
  kTruncated,    // finish() with a partial frame buffered
};
std::string_view frame_error_name(FrameError e);

struct FrameLimits {
  std::size_t max_body_bytes = kDefaultMaxFrameBodyBytes;
};

// Incremental frame decoder over an owned, 8-byte-aligned buffer. An
// oversized frame is rejected from its header alone, before any of its body
// is buffered. After an error every call to next() returns the same error.
// Not thread-safe; owned by one connection's reader.
class FrameDecoder {
 public:
  explicit FrameDecoder(FrameLimits limits = {});
  FrameDecoder(const FrameDecoder&) = delete;
  FrameDecoder& operator=(const FrameDecoder&) = delete;

  // Writable space of at least `min_bytes` after the buffered bytes. May
  // move buffered bytes, which ends the validity of frames returned so far.
  std::span<char> prepare(std::size_t min_bytes);
  // Marks `n` bytes of the last prepare() as filled. Precondition: n is at
  // most the size prepare() returned.
  void commit(std::size_t n);
  // prepare + copy + commit.
  void feed(std::string_view bytes);

  // The next complete frame; std::nullopt when more bytes are needed.
  // Errors: kCorruption, with error() telling malformed / oversized /
  // unknown type; the message names the offending header field.
  Result<std::optional<Frame>> next();

  // For end of stream: ok when no partial frame is buffered, else
  // kCorruption (error() becomes kTruncated).
  Status finish();

  FrameError error() const { return error_; }
  // Bytes still needed to complete the frame being received (at least 1):
  // a good size for the next read when the frame is large.
  std::size_t wanted_bytes() const;
  std::size_t buffered_bytes() const { return end_ - begin_; }

 private:
  Status fail(FrameError e, std::string message);

  FrameLimits limits_;
  std::unique_ptr<std::uint64_t[]> storage_;  // 8-byte-aligned buffer
  std::size_t capacity_ = 0;                  // bytes in storage_
  std::size_t begin_ = 0;                     // first unconsumed byte
  std::size_t end_ = 0;                       // one past the last filled byte
  FrameError error_ = FrameError::kNone;
  Status status_;
};

}  // namespace keel::wire
