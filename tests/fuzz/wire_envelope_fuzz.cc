// libFuzzer target: decode_envelope and EnvelopeView::open must return an
// envelope or kCorruption, agree with each other, and re-encode what they
// accept. An input with an odd first byte is a list of edits to a valid
// envelope (byte 1: truncation in 256ths, then (offset, xor) pairs), so the
// fuzzer also explores near-valid messages; any other input is decoded as is.
// Built with Clang only (tests/wire/CMakeLists.txt):
//   wire_envelope_fuzz -max_total_time=600 corpus/
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "keel/wire/envelope.h"

namespace {

const std::string& valid_envelope() {
  static const std::string bytes = [] {
    keel::wire::Envelope e;
    e.id = {1, 2};
    e.sender = {3, "sender"};
    e.target = {4, "target"};
    e.method = "method";
    e.payload = std::string("\x0b\x01\x04\x02", 4);
    e.reply_to = keel::wire::ReplyTo{{3, "sender"}, 9};
    e.deadline_ns = 5;
    e.trace_id = {6, 7};
    e.attempt = 1;
    return keel::wire::encode_envelope(e).value();
  }();
  return bytes;
}

void check(std::string_view bytes) {
  keel::Result<keel::wire::Envelope> e = keel::wire::decode_envelope(bytes);
  keel::Result<keel::wire::EnvelopeView> v = keel::wire::EnvelopeView::open(bytes);
  if (!e.has_value()) {
    if (e.status().code() != keel::StatusCode::kCorruption || v.has_value()) std::abort();
    return;
  }
  if (!v.has_value() || !(v->to_envelope() == *e)) std::abort();
  keel::Result<std::string> again = keel::wire::encode_envelope(*e);
  if (!again.has_value() || !(keel::wire::decode_envelope(*again).value() == *e)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size >= 2 && (data[0] & 1) != 0) {
    std::string bytes = valid_envelope();
    if (data[1] != 0) bytes.resize(bytes.size() * data[1] / 256);
    for (std::size_t i = 2; i + 1 < size && !bytes.empty(); i += 2) {
      bytes[data[i] % bytes.size()] ^= static_cast<char>(data[i + 1]);
    }
    check(bytes);
  } else {
    check(std::string_view(reinterpret_cast<const char*>(data), size));
  }
  return 0;
}
