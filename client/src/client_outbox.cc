// keel::ClientOutbox: outbox messages delivered as client calls
// (keel/client/client_outbox.h).
#include "keel/client/client_outbox.h"

namespace keel {

Future<void> ClientOutbox::deliver(const OutboxMessage& m) {
  CallOptions options;
  options.deadline = deadline_;
  options.id = m.id;
  return client_.call_encoded(m.target, m.method, m.args, options).then([](Result<std::string> r) -> Status {
    return r.status();
  });
}

}  // namespace keel
