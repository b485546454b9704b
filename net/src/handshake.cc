// The HMAC challenge-response handshake (handshake.h) over
// OpenSSL 3: HMAC() for the proofs, CRYPTO_memcmp for the comparison; the
// nonces come from the kernel's CSPRNG (getrandom), which is what seeds
// OpenSSL's own generator: setting that generator up costs a new process
// about 1.5 ms, on the path of every worker's start.
#include "handshake.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/random.h>

#include <algorithm>
#include <cerrno>

#include "frame.h"
#include "keel/net/tcp_transport.h"
#include "keel/wire/control.h"

namespace keel::wire {
namespace {

// Labels keep the two proofs distinct, so a server's proof can never be
// replayed as a client's.
constexpr std::string_view kServerLabel = "keel-server-v1";
constexpr std::string_view kClientLabel = "keel-client-v1";

// What every handshake error starts with, on both sides.
constexpr std::string_view kErrorContext = "handshake";

// Fills `out` from the kernel's CSPRNG. getrandom blocks only until the
// pool is first initialised at boot; a signal can cut a read short.
void fill_random(std::string& out) {
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::getrandom(out.data() + done, out.size() - done, 0);
    if (n < 0 && errno == EINTR) continue;
    KEEL_CHECK(n > 0, "getrandom failed");
    done += static_cast<std::size_t>(n);
  }
}

std::string proof(std::string_view secret, std::string_view label, std::string_view first,
                  std::string_view second) {
  std::string message;
  message.reserve(label.size() + first.size() + second.size());
  message.append(label).append(first).append(second);
  return hmac_sha256(secret, message);
}

}  // namespace

void prepare_handshake_crypto() {
  static const bool prepared = !hmac_sha256("keel", "").empty();
  (void)prepared;
}

std::string hmac_sha256(std::string_view key, std::string_view message) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  const unsigned char* r =
      HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
           reinterpret_cast<const unsigned char*>(message.data()), message.size(), out, &len);
  KEEL_CHECK(r != nullptr && len == kProofBytes, "HMAC-SHA256 failed");
  return std::string(reinterpret_cast<const char*>(out), len);
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Handshake::Handshake(Role role, std::string secret, std::string node, std::uint16_t version)
    : role_(role),
      secret_(std::move(secret)),
      node_(std::move(node)),
      nonce_(kNonceBytes, '\0'),
      offered_version_(version),
      version_(version) {
  KEEL_CHECK(!secret_.empty(), "handshake secret must not be empty");
  KEEL_CHECK(version >= kMinProtocolVersion && version <= kProtocolVersion,
             "handshake version out of range");
  fill_random(nonce_);
  if (role_ == Role::kClient) {
    Hello hello;
    hello.version = offered_version_;
    hello.nonce = nonce_;
    hello.node = node_;
    append_message(output_, hello);
  }
}

std::string Handshake::take_output() { return std::exchange(output_, std::string()); }

Status Handshake::fail(Status why, bool tell_peer) {
  state_ = State::kFailed;
  if (tell_peer) {
    // The peer reads it as "<remote_type>: <message>", the same line as ours.
    ErrorMessage e;
    e.code = why.code();
    e.remote_type = std::string(kErrorContext);
    e.message = std::string(why.message());
    append_message(output_, e);
  }
  return why.with_context(kErrorContext);
}

Status Handshake::on_frame(const Frame& frame) {
  if (state_ == State::kFailed) return Status::failed_precondition("handshake already failed");
  if (state_ == State::kDone) return Status::failed_precondition("handshake already done");
  if (frame.type == MessageType::kError) {
    ErrorMessage e;
    if (Status s = decode_body(frame.body, e); !s.is_ok()) return fail(s, false);
    state_ = State::kFailed;
    return e.to_status();  // the peer's line, "handshake: ..." from another Handshake
  }
  const bool server = role_ == Role::kServer;
  switch (state_) {
    case State::kAwaitHello:
      if (frame.type == MessageType::kHello) return on_hello(frame.body);
      break;
    case State::kAwaitAuth:
      if (server && frame.type == MessageType::kAuth) return on_auth(frame.body);
      break;
    case State::kAwaitAuthOk:
      if (!server && frame.type == MessageType::kAuthOk) {
        state_ = State::kDone;
        return Status::ok();
      }
      break;
    default:
      break;
  }
  return fail(Status::corruption("unexpected " +
                                 std::string(message_type_name(frame.type)) + " frame"),
              true);
}

Status Handshake::on_hello(std::string_view body) {
  Hello hello;
  if (Status s = decode_body(body, hello); !s.is_ok()) return fail(s, true);
  peer_node_ = hello.node;
  if (hello.version < kMinProtocolVersion || hello.min_version > offered_version_) {
    return fail(Status::failed_precondition(
                    "peer speaks protocol versions " + std::to_string(hello.min_version) +
                    ".." + std::to_string(hello.version) + ", this node " +
                    std::to_string(kMinProtocolVersion) + ".." + std::to_string(offered_version_)),
                true);
  }
  version_ = std::min(offered_version_, hello.version);
  if (hello.nonce.size() != kNonceBytes) {
    return fail(Status::corruption("nonce of " + std::to_string(hello.nonce.size()) +
                                   " bytes"),
                true);
  }
  peer_nonce_ = hello.nonce;
  if (role_ == Role::kServer) {
    Hello reply;
    reply.version = offered_version_;
    reply.nonce = nonce_;
    reply.node = node_;
    reply.proof = proof(secret_, kServerLabel, peer_nonce_, nonce_);
    append_message(output_, reply);
    state_ = State::kAwaitAuth;
    return Status::ok();
  }
  // Client: the server must prove itself before the client answers.
  if (!constant_time_equal(hello.proof, proof(secret_, kServerLabel, nonce_, peer_nonce_))) {
    return fail(Status::unauthenticated("the server's proof does not match "
                                        "(wrong shared secret)"),
                true);
  }
  append_message(output_, AuthProof{proof(secret_, kClientLabel, peer_nonce_, nonce_)});
  state_ = State::kAwaitAuthOk;
  return Status::ok();
}

Status Handshake::on_auth(std::string_view body) {
  AuthProof auth;
  if (Status s = decode_body(body, auth); !s.is_ok()) return fail(s, true);
  if (!constant_time_equal(auth.proof, proof(secret_, kClientLabel, nonce_, peer_nonce_))) {
    return fail(Status::unauthenticated("the client's proof does not match "
                                        "(wrong shared secret)"),
                true);
  }
  append_frame(output_, MessageType::kAuthOk, {});
  state_ = State::kDone;
  return Status::ok();
}

}  // namespace keel::wire
