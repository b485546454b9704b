// Names of the wire protocol's message types (keel/wire/message_type.h), for
// logs and error messages.
#include "keel/wire/message_type.h"

namespace keel::wire {

std::string_view message_type_name(MessageType t) {
  switch (t) {
    case MessageType::kHello: return "hello";
    case MessageType::kAuth: return "auth";
    case MessageType::kAuthOk: return "auth_ok";
    case MessageType::kSpawn: return "spawn";
    case MessageType::kSpawnAck: return "spawn_ack";
    case MessageType::kCall: return "call";
    case MessageType::kReply: return "reply";
    case MessageType::kError: return "error";
    case MessageType::kRegister: return "register";
    case MessageType::kLookup: return "lookup";
    case MessageType::kLookupReply: return "lookup_reply";
    case MessageType::kHeartbeat: return "heartbeat";
    case MessageType::kShutdown: return "shutdown";
    case MessageType::kRdmaSetup: return "rdma_setup";
    case MessageType::kCancel: return "cancel";
  }
  return "unknown";
}

}  // namespace keel::wire
