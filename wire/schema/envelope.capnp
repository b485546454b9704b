# envelope.capnp: the Envelope that carries every Keel message. The same bytes
# travel on the wire (TCP, shared memory, RDMA) and sit in the journal as
# INBOX and OUTBOX records. Layout, limits and a worked example are in
# docs/wire-format.md; the C++ value type is keel::wire::Envelope
# (keel/wire/envelope.h). Evolve by appending fields only: never renumber,
# never change a type.

@0xaa4cf157b79524ea;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("keel::wire::schema");

# Schema version written by this code into Envelope.schemaVersion. Readers
# accept any version >= 1 (newer writers only append fields); 0 means the
# field was never set, which a decoder reports as corruption.
const schemaVersion :UInt16 = 1;

# Where an actor lives: a node (system) and the actor's key on that node.
struct Address {
  node @0 :UInt64;   # system / node id; 0 = the local system
  key @1 :Text;      # actor key on that node (registered name or id)
}

# Where the reply to an ask goes, and the id that matches it to the request.
struct ReplyTo {
  address @0 :Address;
  correlationId @1 :UInt64;
}

# How to read Envelope.payload.
enum PayloadEncoding {
  selfDescribing @0;   # keel/wire/value.h: tagged, renderable as JSON
  capnp @1;            # a Cap'n Proto message whose schema the reader knows
  raw @2;              # opaque bytes
}

struct Envelope {
  schemaVersion @0 :UInt16;            # = schemaVersion of the writer
  idHi @1 :UInt64;                     # message id: 128 bits, unique per
  idLo @2 :UInt64;                     # message; dedup key on redelivery
  sender @3 :Address;                  # null when sent from outside an actor
  target @4 :Address;
  method @5 :Text;                     # handler name, as registered
  payload @6 :Data;
  payloadEncoding @7 :PayloadEncoding;
  replyTo @8 :ReplyTo;                 # null for tell
  deadlineNs @9 :Int64;                # wall-clock ns since the Unix epoch; 0 = none
  traceHi @10 :UInt64;                 # trace id (128 bits); 0:0 = none
  traceLo @11 :UInt64;
  attempt @12 :UInt32;                 # delivery attempt, 0 for the first
  idempotent @13 :Bool;                # the sender chose the id (a retry
                                       # reuses it): applied at most once
}
