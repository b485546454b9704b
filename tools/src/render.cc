#include "render.h"

#include <cstdio>

#include "capnp_render.h"
#include "keel/journal/format.h"
#include "keel/wire/envelope.h"
#include "text.h"

namespace keel::internal {
namespace {

std::string id_hex(const wire::Id128& id) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(id.hi),
                static_cast<unsigned long long>(id.lo));
  return buf;
}

std::string address_json(const wire::ActorAddress& a) {
  if (a.node == 0 && a.key.empty()) return "null";
  return "{\"node\":" + std::to_string(a.node) + ",\"key\":" + json_string(a.key) + "}";
}

std::string address_text(const wire::ActorAddress& a) {
  return a.node == 0 ? a.key : a.key + "@" + std::to_string(a.node);
}

DecodedPayload as_hex(std::string_view bytes, std::string error) {
  std::string h = hex(bytes);
  return {"hex", json_string(h), "hex " + h, std::move(error)};
}

// A payload that is not an envelope: a self-describing value, else Cap'n
// Proto when a schema is given, else hex.
DecodedPayload decode_plain(std::string_view bytes, const CapnpRenderer* capnp) {
  Result<wire::Value> v = wire::parse_value(bytes);
  if (v) {
    std::string json = v->to_json();
    return {"value", json, json, ""};
  }
  if (capnp != nullptr) {
    Result<std::string> json = capnp->to_json(bytes);
    if (json) return {"capnp", *json, *json, ""};
    return as_hex(bytes, std::string(json.status().message()));
  }
  return as_hex(bytes, std::string(v.status().message()));
}

DecodedPayload decode_envelope_payload(const wire::Envelope& e, const CapnpRenderer* capnp) {
  switch (e.payload_encoding) {
    case wire::PayloadEncoding::kSelfDescribing: {
      Result<std::string> json = wire::value_to_json(e.payload);
      if (json) return {"value", *json, *json, ""};
      return as_hex(e.payload, std::string(json.status().message()));
    }
    case wire::PayloadEncoding::kCapnp: {
      if (capnp == nullptr) return as_hex(e.payload, "");
      Result<std::string> json = capnp->to_json(e.payload);
      if (json) return {"capnp", *json, *json, ""};
      return as_hex(e.payload, std::string(json.status().message()));
    }
    default: return as_hex(e.payload, "");
  }
}

DecodedPayload decode_envelope_record(const Record& r, const CapnpRenderer* capnp) {
  Result<wire::Envelope> env = wire::decode_envelope(r.payload);
  // Workflow signals are INBOX records holding a self-describing value.
  if (!env) return decode_plain(r.payload, capnp);
  const wire::Envelope& e = *env;
  DecodedPayload inner = decode_envelope_payload(e, capnp);
  std::string json = "{\"id\":\"" + id_hex(e.id) + "\",\"sender\":" + address_json(e.sender) +
                     ",\"target\":" + address_json(e.target) + ",\"method\":" + json_string(e.method) +
                     ",\"encoding\":\"" + std::string(wire::payload_encoding_name(e.payload_encoding)) +
                     "\",\"payload_format\":\"" + inner.format + "\",\"payload\":" + inner.json;
  if (!inner.error.empty()) json += ",\"payload_error\":" + json_string(inner.error);
  json += ",\"reply_to\":";
  if (e.reply_to) {
    json += "{\"address\":" + address_json(e.reply_to->address) +
            ",\"correlation_id\":" + std::to_string(e.reply_to->correlation_id) + "}";
  } else {
    json += "null";
  }
  json += ",\"deadline_ns\":" + std::to_string(e.deadline_ns) + ",\"trace_id\":\"" + id_hex(e.trace_id) +
          "\",\"attempt\":" + std::to_string(e.attempt);
  std::string summary = e.method + "(" + inner.summary + ")";
  if (e.id.hi == kTimerIdMark) {
    json += ",\"timer\":" + std::to_string(e.id.lo);
    summary += " by timer " + std::to_string(e.id.lo);
  }
  json += "}";
  if (e.sender.node != 0 || !e.sender.key.empty()) summary += " from " + address_text(e.sender);
  if (e.reply_to) summary += " (ask)";
  return {"envelope", std::move(json), std::move(summary), ""};
}

// "cursor 33 state {...} timers 0" for the (cursor, state, timers, ...) tuple of
// a durable actor's snapshot; the plain rendering otherwise.
std::string snapshot_summary(const Record& r, const DecodedPayload& p) {
  Result<wire::Value> v = wire::parse_value(r.payload);
  if (!v || v->kind != wire::ValueKind::kTuple || v->items.size() < 3 ||
      v->items[0].kind != wire::ValueKind::kUint) {
    return p.summary;
  }
  return "cursor " + std::to_string(v->items[0].uint_value) + " state " + v->items[1].to_json() +
         " timers " + std::to_string(v->items[2].items.size());
}

}  // namespace

DecodedPayload decode_payload(const Record& r, const CapnpRenderer* capnp) {
  if (r.compacted) return {"none", "null", "(compacted)", ""};
  if (r.payload.empty()) return {"none", "null", "(empty)", ""};
  if (r.kind == RecordKind::kInbox || r.kind == RecordKind::kOutbox) return decode_envelope_record(r, capnp);
  DecodedPayload p = decode_plain(r.payload, capnp);
  if (p.format != "value") return p;
  if (r.kind == RecordKind::kProcessed) {
    // Cursor 0 is a mark: the INBOX record just before it was journaled
    // with its handling and is handled.
    p.summary = p.json == "0" ? "mark: lsn " + std::to_string(r.lsn - 1) + " handled" : "cursor " + p.json;
  } else if (r.kind == RecordKind::kSnapshot) {
    p.summary = snapshot_summary(r, p);
  } else if (r.kind == RecordKind::kDelivered) {
    p.summary = "outbox delivered through " + p.json;
  }
  return p;
}

std::string record_json(const Record& r, const DecodedPayload& p) {
  std::string out = "{\"lsn\":" + std::to_string(r.lsn) + ",\"owner\":" + json_string(r.owner) +
                    ",\"seq\":" + std::to_string(r.seq) + ",\"kind\":\"" +
                    std::string(record_kind_name(r.kind)) + "\",\"time\":\"" + rfc3339(r.time) +
                    "\",\"time_ns\":" + std::to_string(unix_ns(r.time)) +
                    ",\"format_version\":" + std::to_string(r.format_version) +
                    ",\"crc\":" + std::to_string(r.crc) + ",\"compacted\":" + (r.compacted ? "true" : "false") +
                    ",\"size\":" + std::to_string(r.payload.size()) + ",\"payload_format\":\"" + p.format +
                    "\",\"payload\":" + p.json;
  if (!p.error.empty()) out += ",\"payload_error\":" + json_string(p.error);
  out += "}";
  return out;
}

std::string damaged_json(const JournalProblem& p) {
  return "{\"lsn\":" + std::to_string(p.lsn) + ",\"owner\":" + json_string(p.owner) +
         ",\"damaged\":" + json_string(p.status.message()) + "}";
}

std::optional<Lsn> cursor_of(const Record& r) {
  if (r.compacted || (r.kind != RecordKind::kProcessed && r.kind != RecordKind::kSnapshot)) return std::nullopt;
  Result<wire::Value> v = wire::parse_value(r.payload);
  if (!v) return std::nullopt;
  const wire::Value* c = v.value().kind == wire::ValueKind::kTuple && !v->items.empty() ? &v->items[0] : &*v;
  if (c->kind != wire::ValueKind::kUint) return std::nullopt;
  return c->uint_value;
}

std::optional<std::string> status_field(const Record& r) {
  if (r.compacted) return std::nullopt;
  Result<wire::Value> v = wire::parse_value(r.payload);
  if (!v) return std::nullopt;
  const wire::Value* s = v->find("status");
  if (s == nullptr) s = v->find("event");
  if (s == nullptr) return std::nullopt;
  return s->kind == wire::ValueKind::kString ? s->text : s->to_json();
}

}  // namespace keel::internal
