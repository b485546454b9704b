# control.capnp: the bodies of the frames that Keel peers exchange (agent,
# client, worker) over every transport. Framing, the handshake, limits and
# versioning are in docs/wire-protocol.md; the C++ side is
# net/src/frame.h (framing) and keel/wire/control.h (these bodies).
#
# The union tag of the protocol is the frame header's type byte
# (MessageType below), not a Cap'n Proto union: a transport routes a frame by
# its header alone, and a `call` frame's body is exactly the Envelope
# (envelope.capnp) that a durable target journals, so it is journaled from
# the receive buffer without re-encoding. Every other type has its own
# struct here. Evolve by appending fields and enumerants only.

@0xd3c1e2a6b8f47051;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("keel::wire::schema");

# Protocol version carried in Hello. Two peers talk if their
# [minVersion, version] ranges overlap, at the lower of the two versions.
# Version 2 adds rdmaSetup; version 3 adds cancel.
const protocolVersion :UInt16 = 3;

# The frame header's type byte. Numbers are stable; 0 is never valid.
enum MessageType {
  invalid @0;
  hello @1;        # Hello: first frame of each side
  auth @2;         # AuthProof: the client's proof over the server's nonce
  authOk @3;       # (empty body) the server accepted the client's proof
  spawn @4;        # Spawn
  spawnAck @5;     # SpawnAck
  call @6;         # an Envelope (envelope.capnp), byte for byte
  reply @7;        # Reply
  error @8;        # Error
  register @9;     # Register
  lookup @10;      # Lookup
  lookupReply @11; # LookupReply
  heartbeat @12;   # Heartbeat
  shutdown @13;    # Shutdown
  rdmaSetup @14;   # RdmaSetup (version 2): moving a connection's data frames to RDMA
  cancel @15;      # Cancel (version 3): the caller gave up on a call
}

# Sent by both sides first. The client sends its nonce; the server answers
# with its own nonce and its proof over the client's nonce.
struct Hello {
  version @0 :UInt16;       # = protocolVersion of the sender
  minVersion @1 :UInt16;    # oldest version the sender still speaks
  nonce @2 :Data;           # 32 random bytes, fresh per connection
  node @3 :Text;            # sender's node name, for logs
  proof @4 :Data;           # server only: HMAC-SHA256(secret, "keel-server-v1" | clientNonce | serverNonce)
}

# The client's proof: HMAC-SHA256(secret, "keel-client-v1" | serverNonce | clientNonce).
struct AuthProof {
  proof @0 :Data;
}

struct Spawn {
  requestId @0 :UInt64;
  actorType @1 :Text;       # registered actor type
  key @2 :Text;             # actor key (name) to spawn under
  args @3 :Data;            # constructor arguments (self-describing value)
  durable @4 :Bool;
}

struct SpawnAck {
  requestId @0 :UInt64;
  node @1 :UInt64;          # where the actor lives
  key @2 :Text;
  recovered @3 :Bool;       # the actor existed and was recovered from its journal
}

# The answer to a `call` whose Envelope has a replyTo.
struct Reply {
  correlationId @0 :UInt64;
  payload @1 :Data;
  payloadEncoding @2 :UInt8;   # envelope.capnp PayloadEncoding numbering
}

# A typed failure, for a request (requestId/correlationId != 0) or for the
# connection (0; the sender closes the connection after it).
struct Error {
  correlationId @0 :UInt64;
  code @1 :UInt8;              # keel::StatusCode numbering (base/status.h)
  remoteType @2 :Text;         # the remote exception or error type, if any
  message @3 :Text;
}

struct Register {
  requestId @0 :UInt64;
  name @1 :Text;
  node @2 :UInt64;
  key @3 :Text;
}

struct Lookup {
  requestId @0 :UInt64;
  name @1 :Text;
}

struct LookupReply {
  requestId @0 :UInt64;
  found @1 :Bool;
  node @2 :UInt64;
  key @3 :Text;
}

struct Heartbeat {
  sequence @0 :UInt64;
  sentNs @1 :Int64;            # sender's steady clock, echoed for RTT
  stats @2 :WorkerStats;       # in a worker's echo to its agent: its engine's counters; else unset
}

# A keel-agent worker's engine counters when it echoed a heartbeat
# (keel::EngineMetrics, docs/metrics.md). Counters count from the worker's
# start; a restarted worker starts again from zero.
struct WorkerStats {
  messagesHandled @0 :UInt64;
  inboxDepth @1 :UInt64;
  durableCommits @2 :UInt64;
  durableRecords @3 :UInt64;
  commitSecondsBounds @4 :List(Float64);  # bucket upper bounds, strictly ascending, finite
  commitSecondsCounts @5 :List(UInt64);   # per bucket (not cumulative): one more than the bounds
  commitSecondsSum @6 :Float64;
}

struct Shutdown {
  reason @0 :Text;
  drainMs @1 :UInt32;          # time the sender gives in-flight calls
}

# The caller of a `call` gave up on it (version 3; never sent on a
# connection at an older version). The receiver forgets the call and passes
# the cancel on to where it runs; no answer is sent, and a reply or error
# that crosses it is dropped by the caller.
struct Cancel {
  correlationId @0 :UInt64;    # the replyTo correlation id of the call
}

# Moving the data frames of a TCP connection to an RDMA queue pair, after
# the handshake, when both peers speak version 2 (docs/wire-protocol.md,
# "Transport negotiation"). The TCP connection stays open as the control
# plane; any decline leaves the connection on TCP.
struct RdmaSetup {
  enum Kind {
    offer @0;      # client: has a device; endpoint = its RdmaEndpointInfo
    accept @1;     # server: connected to the offer; endpoint = its RdmaEndpointInfo
    decline @2;    # either: stays on TCP; reason says why
    switched @3;   # either: the sender's data frames after this one come over RDMA
  }
  kind @0 :Kind;
  endpoint @1 :Data;           # offer, accept: 64 bytes (RdmaEndpointInfo, net/src/rdma_transport.h)
  reason @2 :Text;             # decline
}
