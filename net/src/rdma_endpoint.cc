// RdmaEndpointInfo's fixed 64-byte form (rdma_transport.h). Built
// with or without libibverbs: the TCP transport's negotiation carries it.
#include <cstdint>
#include <string>
#include <string_view>

#include "keel/wire/control.h"
#include "rdma_transport.h"

namespace keel::wire {
namespace {

void put(std::string& out, std::uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::uint64_t get(const char*& p, int bytes) {
  std::uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= std::uint64_t{static_cast<unsigned char>(*p++)} << (8 * i);
  return v;
}

}  // namespace

std::string RdmaEndpointInfo::encode() const {
  std::string out;
  out.reserve(kRdmaEndpointInfoBytes);
  put(out, qp_num, 4);
  put(out, lid, 2);
  put(out, 0, 2);
  for (std::uint8_t b : gid) out.push_back(static_cast<char>(b));
  put(out, ring_addr, 8);
  put(out, ring_rkey, 4);
  put(out, 0, 4);
  put(out, ring_bytes, 8);
  put(out, mirror_addr, 8);
  put(out, mirror_rkey, 4);
  put(out, 0, 4);
  return out;
}

Result<RdmaEndpointInfo> RdmaEndpointInfo::decode(std::string_view bytes) {
  if (bytes.size() != kRdmaEndpointInfoBytes) {
    return Status::corruption("rdma endpoint info of " + std::to_string(bytes.size()) + " bytes, not " +
                              std::to_string(kRdmaEndpointInfoBytes));
  }
  const char* p = bytes.data();
  RdmaEndpointInfo info;
  info.qp_num = static_cast<std::uint32_t>(get(p, 4));
  info.lid = static_cast<std::uint16_t>(get(p, 2));
  get(p, 2);
  for (std::uint8_t& b : info.gid) b = static_cast<std::uint8_t>(get(p, 1));
  info.ring_addr = get(p, 8);
  info.ring_rkey = static_cast<std::uint32_t>(get(p, 4));
  get(p, 4);
  info.ring_bytes = get(p, 8);
  info.mirror_addr = get(p, 8);
  info.mirror_rkey = static_cast<std::uint32_t>(get(p, 4));
  return info;
}

}  // namespace keel::wire
