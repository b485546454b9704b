// cluster_secret.h: the salted hash a cluster keeps of its shared secret.
#pragma once

#include <string>
#include <string_view>

#include "keel/base/status.h"

namespace keel::internal {

// `n` random bytes from the operating system's generator. Errors: kIoError.
Result<std::string> random_bytes(std::size_t n);

// PBKDF2-HMAC-SHA256 of `secret` with `salt` (32 bytes): slow on purpose, so
// a copy of the table does not give the secret away cheaply.
Result<std::string> hash_secret(std::string_view secret, std::string_view salt);

// Whether `a` and `b` are equal, in time independent of where they differ.
bool same_bytes(std::string_view a, std::string_view b);

// Checks `secret` against the salt and hash of the row of cluster `cluster`
// (shown as at `where`). Errors: kUnauthenticated (not the cluster's
// secret; the message never holds it), kIoError.
Status check_secret(std::string_view secret, std::string_view salt, std::string_view hash, const std::string& cluster,
                    const std::string& where);

}  // namespace keel::internal
