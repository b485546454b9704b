// libFuzzer target: the frame decoder and the message-body decoders
// (net/src/frame.h, keel/wire/control.h) on arbitrary streams. Properties:
// decoding never crashes; an error is kCorruption with a FrameError, and
// sticky; the same bytes fed whole and in small pieces give the same frames
// and the same error; every frame re-encodes to the bytes it came from; each
// body decodes to a message or kCorruption. An input with an odd first byte
// is a list of edits to a valid stream (byte 1: chunk size, then (offset,
// xor) pairs), so the fuzzer also explores near-valid streams; any other
// input is decoded as is. Built with libFuzzer under Clang, and with
// standalone_fuzz_main.cc elsewhere (tests/wire/CMakeLists.txt):
//   wire_frame_fuzz -max_total_time=600 corpus/
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "frame.h"
#include "keel/wire/control.h"
#include "keel/wire/envelope.h"

namespace {

using namespace keel::wire;

const std::string& valid_stream() {
  static const std::string bytes = [] {
    std::string out;
    Hello hello;
    hello.nonce = std::string(kNonceBytes, 'n');
    hello.node = "fuzz";
    append_message(out, hello);
    append_message(out, AuthProof{std::string(kProofBytes, 'p')});
    append_frame(out, MessageType::kAuthOk, {});
    Envelope e;
    e.id = {1, 2};
    e.target = {4, "target"};
    e.method = "method";
    e.payload = "payload";
    e.reply_to = ReplyTo{{3, "sender"}, 9};
    append_frame(out, MessageType::kCall, encode_envelope(e).value());
    append_message(out, Reply{9, "result", 0});
    append_message(out, ErrorMessage{9, keel::StatusCode::kNotFound, "KeyError", "gone"});
    append_message(out, Spawn{1, "Counter", "c/1", "args", true});
    append_message(out, SpawnAck{1, 2, "c/1", false});
    append_message(out, Register{2, "orders", 3, "o/1"});
    append_message(out, Lookup{3, "orders"});
    append_message(out, LookupReply{3, true, 3, "o/1"});
    append_message(out, Heartbeat{4, 5, std::nullopt});
    append_message(out, Heartbeat{6, 7, WorkerStats{8, 1, 2, 3, keel::HistogramSnapshot{{0.5, 1.0}, {1, 0, 2}, 4.5}}});
    append_message(out, Shutdown{"bye", 10});
    return out;
  }();
  return bytes;
}

template <class M>
void check_body(std::string_view body) {
  M m;
  keel::Status s = decode_body(body, m);
  if (!s.is_ok() && s.code() != keel::StatusCode::kCorruption) std::abort();
}

void check_frame(const Frame& f) {
  switch (f.type) {
    case MessageType::kHello: return check_body<Hello>(f.body);
    case MessageType::kAuth: return check_body<AuthProof>(f.body);
    case MessageType::kAuthOk: return;
    case MessageType::kSpawn: return check_body<Spawn>(f.body);
    case MessageType::kSpawnAck: return check_body<SpawnAck>(f.body);
    case MessageType::kCall: {
      auto v = EnvelopeView::open(f.body);
      if (!v.has_value() && v.status().code() != keel::StatusCode::kCorruption) std::abort();
      return;
    }
    case MessageType::kReply: return check_body<Reply>(f.body);
    case MessageType::kError: return check_body<ErrorMessage>(f.body);
    case MessageType::kRegister: return check_body<Register>(f.body);
    case MessageType::kLookup: return check_body<Lookup>(f.body);
    case MessageType::kLookupReply: return check_body<LookupReply>(f.body);
    case MessageType::kHeartbeat: return check_body<Heartbeat>(f.body);
    case MessageType::kShutdown: return check_body<Shutdown>(f.body);
    case MessageType::kRdmaSetup: return check_body<RdmaSetup>(f.body);
    case MessageType::kCancel: return check_body<Cancel>(f.body);
  }
  std::abort();  // the decoder let an unknown type through
}

struct Outcome {
  std::vector<std::string> frames;  // re-encoded
  FrameError error = FrameError::kNone;
};

// Decodes `bytes` fed in pieces of `chunk` bytes (0 = all at once).
Outcome decode(std::string_view bytes, std::size_t chunk) {
  FrameDecoder d(FrameLimits{1 << 16});
  Outcome out;
  std::size_t at = 0;
  do {
    const std::size_t n = chunk == 0 ? bytes.size() : std::min(chunk, bytes.size() - at);
    d.feed(bytes.substr(at, n));
    at += n;
    while (true) {
      auto f = d.next();
      if (!f.has_value()) {
        if (f.status().code() != keel::StatusCode::kCorruption || d.error() == FrameError::kNone) std::abort();
        if (d.next().has_value()) std::abort();  // sticky
        out.error = d.error();
        return out;
      }
      if (!f->has_value()) break;
      check_frame(**f);
      char header[kFrameHeaderBytes];
      encode_frame_header(header, (*f)->type, (*f)->body.size());
      out.frames.push_back(std::string(header, sizeof header).append((*f)->body));
    }
  } while (at < bytes.size());
  if (!d.finish().is_ok()) out.error = d.error();
  return out;
}

void check(std::string_view bytes, std::size_t chunk) {
  const Outcome whole = decode(bytes, 0);
  const Outcome pieces = decode(bytes, chunk);
  if (whole.error != pieces.error || whole.frames != pieces.frames) std::abort();
  // The frames re-encode to the stream they came from, byte for byte up to
  // each frame's padding (which a decoder ignores).
  std::size_t at = 0;
  for (const std::string& f : whole.frames) {
    if (bytes.substr(at, f.size()) != f) std::abort();
    at += frame_wire_bytes(f.size() - kFrameHeaderBytes);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size >= 2 && (data[0] & 1) != 0) {
    std::string bytes = valid_stream();
    for (std::size_t i = 2; i + 1 < size; i += 2) {
      bytes[(data[i] * 131u + i * 17u) % bytes.size()] ^= static_cast<char>(data[i + 1]);
    }
    if ((data[0] & 2) != 0) bytes.resize(bytes.size() * data[1] / 256);
    check(bytes, 1 + data[1] % 64);
  } else {
    check(std::string_view(reinterpret_cast<const char*>(data), size), size > 0 ? 1 + data[0] % 13 : 1);
  }
  return 0;
}
