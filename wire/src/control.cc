// Codecs for the control.capnp bodies (keel/wire/control.h). As in
// envelope.cc, every Cap'n Proto call that reads input runs inside a try
// block, so no kj exception leaves wire/.
#include "keel/wire/control.h"

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <cstring>
#include <memory>

#include "keel/wire/transport.h"
#include "schema/control.capnp.h"

namespace keel::wire {
namespace {

namespace schema = ::keel::wire::schema;

static_assert(schema::PROTOCOL_VERSION == kProtocolVersion);
static_assert(static_cast<int>(schema::MessageType::HELLO) == static_cast<int>(MessageType::kHello));
static_assert(static_cast<int>(schema::MessageType::CALL) == static_cast<int>(MessageType::kCall));
static_assert(static_cast<int>(schema::MessageType::SHUTDOWN) ==
              static_cast<int>(MessageType::kShutdown));
static_assert(static_cast<int>(schema::MessageType::RDMA_SETUP) ==
              static_cast<int>(MessageType::kRdmaSetup));
static_assert(static_cast<int>(schema::MessageType::CANCEL) == static_cast<int>(MessageType::kCancel));
static_assert(static_cast<int>(schema::MessageType::CANCEL) == kMaxMessageType);
static_assert(static_cast<int>(schema::RdmaSetup::Kind::SWITCHED) ==
              static_cast<int>(RdmaSetup::Kind::kSwitched));

// Control bodies are small; this bounds the work a hostile one can cause.
constexpr std::uint64_t kTraversalLimitWords = (kDefaultMaxFrameBodyBytes / 8) + 1024;

capnp::Text::Reader text(const std::string& s) { return {s.data(), s.size()}; }
capnp::Data::Reader data(const std::string& s) {
  return {reinterpret_cast<const kj::byte*>(s.data()), s.size()};
}
std::string str(capnp::Text::Reader t) { return {t.begin(), t.size()}; }
std::string str(capnp::Data::Reader d) {
  return {reinterpret_cast<const char*>(d.begin()), d.size()};
}

template <class S, class Fill>
std::string build(Fill fill) {
  capnp::MallocMessageBuilder message(256);
  fill(message.initRoot<S>());
  kj::Array<capnp::word> words = capnp::messageToFlatArray(message);
  kj::ArrayPtr<const kj::byte> bytes = words.asBytes();
  return std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
}

// Validates `bytes` as one flat message of root type S and calls read(root).
template <class S, class Read>
Status parse(std::string_view bytes, const char* what, Read read) {
  if (bytes.size() < 2 * sizeof(capnp::word) || bytes.size() % sizeof(capnp::word) != 0) {
    return Status::corruption(std::string(what) + ": " + std::to_string(bytes.size()) +
                              " bytes is not a whole message");
  }
  std::unique_ptr<capnp::word[]> copy;
  const char* p = bytes.data();
  if (reinterpret_cast<std::uintptr_t>(p) % alignof(capnp::word) != 0) {
    copy = std::make_unique<capnp::word[]>(bytes.size() / sizeof(capnp::word));
    std::memcpy(copy.get(), p, bytes.size());
    p = reinterpret_cast<const char*>(copy.get());
  }
  kj::ArrayPtr<const capnp::word> words(reinterpret_cast<const capnp::word*>(p),
                                        bytes.size() / sizeof(capnp::word));
  try {
    capnp::ReaderOptions options;
    options.traversalLimitInWords = kTraversalLimitWords;
    options.nestingLimit = 4;
    capnp::FlatArrayMessageReader reader(words, options);
    if (reader.getEnd() != words.end()) {
      return Status::corruption(std::string(what) + ": trailing bytes after the message");
    }
    return read(reader.getRoot<S>());
  } catch (const kj::Exception& ex) {
    return Status::corruption(std::string(what) + ": malformed: " + ex.getDescription().cStr());
  }
}

}  // namespace

Status ErrorMessage::to_status() const {
  std::string m = remote_type.empty() ? message : remote_type + ": " + message;
  if (code == StatusCode::kOk) return Status::internal("remote error with code ok: " + m);
  return Status(code, m);
}

std::string encode_body(const Hello& m) {
  return build<schema::Hello>([&](schema::Hello::Builder b) {
    b.setVersion(m.version);
    b.setMinVersion(m.min_version);
    b.setNonce(data(m.nonce));
    b.setNode(text(m.node));
    if (!m.proof.empty()) b.setProof(data(m.proof));
  });
}
Status decode_body(std::string_view bytes, Hello& out) {
  return parse<schema::Hello>(bytes, "hello", [&](schema::Hello::Reader r) {
    out.version = r.getVersion();
    out.min_version = r.getMinVersion();
    out.nonce = str(r.getNonce());
    out.node = str(r.getNode());
    out.proof = str(r.getProof());
    return Status::ok();
  });
}

std::string encode_body(const AuthProof& m) {
  return build<schema::AuthProof>([&](schema::AuthProof::Builder b) { b.setProof(data(m.proof)); });
}
Status decode_body(std::string_view bytes, AuthProof& out) {
  return parse<schema::AuthProof>(bytes, "auth", [&](schema::AuthProof::Reader r) {
    out.proof = str(r.getProof());
    return Status::ok();
  });
}

std::string encode_body(const Spawn& m) {
  return build<schema::Spawn>([&](schema::Spawn::Builder b) {
    b.setRequestId(m.request_id);
    b.setActorType(text(m.actor_type));
    b.setKey(text(m.key));
    b.setArgs(data(m.args));
    b.setDurable(m.durable);
  });
}
Status decode_body(std::string_view bytes, Spawn& out) {
  return parse<schema::Spawn>(bytes, "spawn", [&](schema::Spawn::Reader r) {
    out.request_id = r.getRequestId();
    out.actor_type = str(r.getActorType());
    out.key = str(r.getKey());
    out.args = str(r.getArgs());
    out.durable = r.getDurable();
    return Status::ok();
  });
}

std::string encode_body(const SpawnAck& m) {
  return build<schema::SpawnAck>([&](schema::SpawnAck::Builder b) {
    b.setRequestId(m.request_id);
    b.setNode(m.node);
    b.setKey(text(m.key));
    b.setRecovered(m.recovered);
  });
}
Status decode_body(std::string_view bytes, SpawnAck& out) {
  return parse<schema::SpawnAck>(bytes, "spawn_ack", [&](schema::SpawnAck::Reader r) {
    out.request_id = r.getRequestId();
    out.node = r.getNode();
    out.key = str(r.getKey());
    out.recovered = r.getRecovered();
    return Status::ok();
  });
}

std::string encode_body(const Reply& m) {
  return build<schema::Reply>([&](schema::Reply::Builder b) {
    b.setCorrelationId(m.correlation_id);
    b.setPayload(data(m.payload));
    b.setPayloadEncoding(m.payload_encoding);
  });
}
Status decode_body(std::string_view bytes, Reply& out) {
  return parse<schema::Reply>(bytes, "reply", [&](schema::Reply::Reader r) {
    out.correlation_id = r.getCorrelationId();
    out.payload = str(r.getPayload());
    out.payload_encoding = r.getPayloadEncoding();
    return Status::ok();
  });
}

std::string encode_body(const ErrorMessage& m) {
  return build<schema::Error>([&](schema::Error::Builder b) {
    b.setCorrelationId(m.correlation_id);
    b.setCode(static_cast<std::uint8_t>(m.code));
    b.setRemoteType(text(m.remote_type));
    b.setMessage(text(m.message));
  });
}
Status decode_body(std::string_view bytes, ErrorMessage& out) {
  return parse<schema::Error>(bytes, "error", [&](schema::Error::Reader r) {
    const std::uint8_t code = r.getCode();
    if (code > static_cast<std::uint8_t>(kLastStatusCode)) {
      return Status::corruption("error: unknown status code " + std::to_string(code));
    }
    out.correlation_id = r.getCorrelationId();
    out.code = static_cast<StatusCode>(code);
    out.remote_type = str(r.getRemoteType());
    out.message = str(r.getMessage());
    return Status::ok();
  });
}

std::string encode_body(const Register& m) {
  return build<schema::Register>([&](schema::Register::Builder b) {
    b.setRequestId(m.request_id);
    b.setName(text(m.name));
    b.setNode(m.node);
    b.setKey(text(m.key));
  });
}
Status decode_body(std::string_view bytes, Register& out) {
  return parse<schema::Register>(bytes, "register", [&](schema::Register::Reader r) {
    out.request_id = r.getRequestId();
    out.name = str(r.getName());
    out.node = r.getNode();
    out.key = str(r.getKey());
    return Status::ok();
  });
}

std::string encode_body(const Lookup& m) {
  return build<schema::Lookup>([&](schema::Lookup::Builder b) {
    b.setRequestId(m.request_id);
    b.setName(text(m.name));
  });
}
Status decode_body(std::string_view bytes, Lookup& out) {
  return parse<schema::Lookup>(bytes, "lookup", [&](schema::Lookup::Reader r) {
    out.request_id = r.getRequestId();
    out.name = str(r.getName());
    return Status::ok();
  });
}

std::string encode_body(const LookupReply& m) {
  return build<schema::LookupReply>([&](schema::LookupReply::Builder b) {
    b.setRequestId(m.request_id);
    b.setFound(m.found);
    b.setNode(m.node);
    b.setKey(text(m.key));
  });
}
Status decode_body(std::string_view bytes, LookupReply& out) {
  return parse<schema::LookupReply>(bytes, "lookup_reply", [&](schema::LookupReply::Reader r) {
    out.request_id = r.getRequestId();
    out.found = r.getFound();
    out.node = r.getNode();
    out.key = str(r.getKey());
    return Status::ok();
  });
}

namespace {
void fill_stats(schema::WorkerStats::Builder b, const WorkerStats& s) {
  b.setMessagesHandled(s.messages_handled);
  b.setInboxDepth(s.inbox_depth);
  b.setDurableCommits(s.durable_commits);
  b.setDurableRecords(s.durable_records);
  const HistogramSnapshot& h = s.commit_seconds;
  auto bounds = b.initCommitSecondsBounds(static_cast<unsigned>(h.bounds.size()));
  for (unsigned i = 0; i < h.bounds.size(); ++i) bounds.set(i, h.bounds[i]);
  auto counts = b.initCommitSecondsCounts(static_cast<unsigned>(h.counts.size()));
  for (unsigned i = 0; i < h.counts.size(); ++i) counts.set(i, h.counts[i]);
  b.setCommitSecondsSum(h.sum);
}

Status read_stats(schema::WorkerStats::Reader r, WorkerStats& out) {
  out.messages_handled = r.getMessagesHandled();
  out.inbox_depth = r.getInboxDepth();
  out.durable_commits = r.getDurableCommits();
  out.durable_records = r.getDurableRecords();
  HistogramSnapshot& h = out.commit_seconds;
  for (double b : r.getCommitSecondsBounds()) h.bounds.push_back(b);
  for (std::uint64_t c : r.getCommitSecondsCounts()) h.counts.push_back(c);
  h.sum = r.getCommitSecondsSum();
  if (!h.is_well_formed()) return Status::corruption("heartbeat: malformed commit histogram in the worker stats");
  return Status::ok();
}
}  // namespace

std::string encode_body(const Heartbeat& m) {
  return build<schema::Heartbeat>([&](schema::Heartbeat::Builder b) {
    b.setSequence(m.sequence);
    b.setSentNs(m.sent_ns);
    if (m.stats) fill_stats(b.initStats(), *m.stats);
  });
}
Status decode_body(std::string_view bytes, Heartbeat& out) {
  return parse<schema::Heartbeat>(bytes, "heartbeat", [&](schema::Heartbeat::Reader r) {
    out.sequence = r.getSequence();
    out.sent_ns = r.getSentNs();
    out.stats.reset();
    if (!r.hasStats()) return Status::ok();
    out.stats.emplace();
    return read_stats(r.getStats(), *out.stats);
  });
}

std::string encode_body(const Shutdown& m) {
  return build<schema::Shutdown>([&](schema::Shutdown::Builder b) {
    b.setReason(text(m.reason));
    b.setDrainMs(m.drain_ms);
  });
}
Status decode_body(std::string_view bytes, Shutdown& out) {
  return parse<schema::Shutdown>(bytes, "shutdown", [&](schema::Shutdown::Reader r) {
    out.reason = str(r.getReason());
    out.drain_ms = r.getDrainMs();
    return Status::ok();
  });
}

std::string encode_body(const RdmaSetup& m) {
  return build<schema::RdmaSetup>([&](schema::RdmaSetup::Builder b) {
    b.setKind(static_cast<schema::RdmaSetup::Kind>(m.kind));
    if (!m.endpoint.empty()) b.setEndpoint(data(m.endpoint));
    if (!m.reason.empty()) b.setReason(text(m.reason));
  });
}
Status decode_body(std::string_view bytes, RdmaSetup& out) {
  return parse<schema::RdmaSetup>(bytes, "rdma_setup", [&](schema::RdmaSetup::Reader r) {
    const auto kind = static_cast<std::uint16_t>(r.getKind());
    if (kind > static_cast<std::uint16_t>(RdmaSetup::Kind::kSwitched)) {
      return Status::corruption("rdma_setup: unknown kind " + std::to_string(kind));
    }
    out.kind = static_cast<RdmaSetup::Kind>(kind);
    out.endpoint = str(r.getEndpoint());
    out.reason = str(r.getReason());
    const bool needs_endpoint = out.kind == RdmaSetup::Kind::kOffer || out.kind == RdmaSetup::Kind::kAccept;
    if (needs_endpoint && out.endpoint.size() != kRdmaEndpointInfoBytes) {
      return Status::corruption("rdma_setup: endpoint of " + std::to_string(out.endpoint.size()) +
                                " bytes, not " + std::to_string(kRdmaEndpointInfoBytes));
    }
    return Status::ok();
  });
}

std::string encode_body(const Cancel& m) {
  return build<schema::Cancel>([&](schema::Cancel::Builder b) { b.setCorrelationId(m.correlation_id); });
}
Status decode_body(std::string_view bytes, Cancel& out) {
  return parse<schema::Cancel>(bytes, "cancel", [&](schema::Cancel::Reader r) {
    out.correlation_id = r.getCorrelationId();
    return Status::ok();
  });
}

}  // namespace keel::wire
