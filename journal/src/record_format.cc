#include "record_format.h"

#include <cstdio>
#include <cstring>

#include "crc32c.h"

namespace keel::internal {
namespace {

std::uint64_t get_le(const char* p, int bytes) {
  std::uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}

void put_le(std::string* dst, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) dst->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

void set_le(char* p, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}

}  // namespace

void put_be64(std::string* dst, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) dst->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

std::uint64_t get_be64(const char* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}

void put_le16(std::string* dst, std::uint16_t v) { put_le(dst, v, 2); }
void put_le32(std::string* dst, std::uint32_t v) { put_le(dst, v, 4); }
void put_le64(std::string* dst, std::uint64_t v) { put_le(dst, v, 8); }

std::int64_t to_time_ns(WallTime t) { return t.time_since_epoch().count(); }
WallTime from_time_ns(std::int64_t ns) { return WallTime(Duration(ns)); }

namespace {

// The CRC-32C of the fields that precede the payload, without allocating.
std::uint32_t head_checksum(const Record& r, std::size_t payload_size) {
  char before_owner[12];
  set_le(before_owner, r.lsn, 8);
  set_le(before_owner + 8, r.owner.size(), 4);
  char after_owner[27];
  set_le(after_owner, r.seq, 8);
  after_owner[8] = static_cast<char>(r.kind);
  set_le(after_owner + 9, static_cast<std::uint64_t>(to_time_ns(r.time)), 8);
  set_le(after_owner + 17, r.format_version, 2);
  set_le(after_owner + 19, payload_size, 8);
  std::uint32_t crc = crc32c::value(before_owner, sizeof before_owner);
  crc = crc32c::extend(crc, r.owner.data(), r.owner.size());
  return crc32c::extend(crc, after_owner, sizeof after_owner);
}

}  // namespace

std::uint32_t record_checksum(const Record& r) {
  return crc32c::extend(head_checksum(r, r.payload.size()), r.payload.data(), r.payload.size());
}

std::uint32_t record_checksum(const Record& r, std::size_t payload_size, std::uint32_t payload_crc,
                              std::uint32_t payload_shift) {
  return crc32c::combine(head_checksum(r, payload_size), payload_crc, payload_shift);
}

Status check_record(const Record& r) {
  std::uint32_t computed = record_checksum(r);
  if (computed == r.crc) return Status::ok();
  char hex[64];
  std::snprintf(hex, sizeof hex, "(stored %08x, computed %08x)", r.crc, computed);
  return Status::corruption("lsn " + std::to_string(r.lsn) + ", owner " + r.owner +
                            ": checksum mismatch " + hex);
}

void stage_record_value(const Record& r, std::string* v) {
  v->clear();
  v->reserve(28 + r.owner.size() + r.payload.size());
  v->append(28, '\0');
  (*v)[2] = static_cast<char>(r.kind);
  (*v)[3] = r.compacted ? 1 : 0;
  set_le(v->data() + 24, r.owner.size(), 4);
  v->append(r.owner);
  v->append(r.payload);
}

void finish_record_value(const Record& r, std::string* v) {
  set_le(v->data(), r.format_version, 2);
  set_le(v->data() + 4, r.crc, 4);
  set_le(v->data() + 8, r.seq, 8);
  set_le(v->data() + 16, static_cast<std::uint64_t>(to_time_ns(r.time)), 8);
}

std::string encode_record_value(const Record& r) {
  std::string v;
  stage_record_value(r, &v);
  finish_record_value(r, &v);
  return v;
}

Status decode_record_value(std::string_view v, Record* r) {
  constexpr std::size_t kFixed = 2 + 1 + 1 + 4 + 8 + 8 + 4;
  auto truncated = [&] {
    return Status::corruption("lsn " + std::to_string(r->lsn) + ": truncated record");
  };
  if (v.size() < kFixed) return truncated();
  const char* p = v.data();
  r->format_version = static_cast<std::uint16_t>(get_le(p, 2));
  r->kind = static_cast<RecordKind>(static_cast<std::uint8_t>(p[2]));
  r->compacted = p[3] != 0;
  r->crc = static_cast<std::uint32_t>(get_le(p + 4, 4));
  r->seq = get_le(p + 8, 8);
  r->time = from_time_ns(static_cast<std::int64_t>(get_le(p + 16, 8)));
  std::size_t owner_len = get_le(p + 24, 4);
  if (v.size() - kFixed < owner_len) return truncated();
  r->owner.assign(p + kFixed, owner_len);
  r->payload.assign(p + kFixed + owner_len, v.size() - kFixed - owner_len);
  return Status::ok();
}

std::string encode_counts(const JournalCounts& c) {
  std::string v;
  v.reserve(8 * (1 + c.by_kind.size()));
  put_le64(&v, c.as_of);
  put_le64(&v, c.owners);
  for (std::size_t k = 1; k < c.by_kind.size(); ++k) put_le64(&v, c.by_kind[k]);
  return v;
}

Status decode_counts(std::string_view v, JournalCounts* c) {
  if (v.size() < 16 || v.size() % 8 != 0) return Status::corruption("damaged counters");
  *c = JournalCounts{};
  c->as_of = get_le(v.data(), 8);
  c->owners = get_le(v.data() + 8, 8);
  for (std::size_t k = 1; k < c->by_kind.size() && 8 + 8 * k < v.size(); ++k) {
    c->by_kind[k] = get_le(v.data() + 8 + 8 * k, 8);
  }
  return Status::ok();
}

std::string encode_owner_summary(const OwnerInfo& o) {
  std::string v;
  v.reserve(25);
  put_le64(&v, o.last_seq);
  put_le64(&v, o.last_lsn);
  put_le64(&v, static_cast<std::uint64_t>(to_time_ns(o.last_time)));
  v.push_back(static_cast<char>(o.last_kind));
  return v;
}

Status decode_owner_summary(std::string_view v, OwnerInfo* o) {
  if (v.size() != 25) return Status::corruption("owner " + o->owner + ": damaged summary");
  o->last_seq = get_le(v.data(), 8);
  o->last_lsn = get_le(v.data() + 8, 8);
  o->records = o->last_seq;  // sequences are gap-free from 1 (verify() checks)
  o->last_time = from_time_ns(static_cast<std::int64_t>(get_le(v.data() + 16, 8)));
  o->last_kind = static_cast<RecordKind>(static_cast<std::uint8_t>(v[24]));
  return Status::ok();
}

void append_owner_run(std::string* value, Lsn previous, Lsn lsn) {
  if (value->empty()) {
    put_be64(value, lsn);
    return;
  }
  std::uint64_t delta = lsn - previous;
  while (delta >= 0x80) {
    value->push_back(static_cast<char>((delta & 0x7F) | 0x80));
    delta >>= 7;
  }
  value->push_back(static_cast<char>(delta));
}

Status decode_owner_run(std::string_view value, std::string_view owner, std::vector<Lsn>* lsns) {
  lsns->clear();
  auto damaged = [&] { return Status::corruption("owner " + std::string(owner) + ": damaged index entry"); };
  if (value.size() < 8) return damaged();
  Lsn lsn = get_be64(value.data());
  lsns->push_back(lsn);
  std::size_t i = 8;
  while (i < value.size()) {
    std::uint64_t delta = 0;
    int shift = 0;
    for (;;) {
      if (i == value.size() || shift > 63) return damaged();
      const auto byte = static_cast<std::uint8_t>(value[i++]);
      delta |= static_cast<std::uint64_t>(byte & 0x7F) << shift;
      shift += 7;
      if ((byte & 0x80) == 0) break;
    }
    if (delta == 0 || lsn + delta < lsn) return damaged();
    lsn += delta;
    lsns->push_back(lsn);
  }
  return Status::ok();
}

}  // namespace keel::internal
