// The RDMA binding where libibverbs is not installed
// (rdma_transport.h): no devices, so every connection stays on TCP.
#include "rdma_transport.h"

namespace keel::wire {

Result<std::vector<std::string>> rdma_devices() {
  return Status::unavailable("no RDMA support: built without libibverbs");
}

Result<std::unique_ptr<RdmaLink>> RdmaLink::open(const std::string&, std::size_t) {
  return Status::unavailable("no RDMA support: built without libibverbs");
}

}  // namespace keel::wire
