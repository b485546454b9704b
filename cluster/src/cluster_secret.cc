#include "cluster_secret.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

namespace keel::internal {
namespace {

constexpr int kIterations = 20000;
constexpr std::size_t kHashBytes = 32;

}  // namespace

Result<std::string> random_bytes(std::size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    return Status::io_error("cluster: the random generator failed");
  }
  return out;
}

Result<std::string> hash_secret(std::string_view secret, std::string_view salt) {
  std::string out(kHashBytes, '\0');
  if (PKCS5_PBKDF2_HMAC(secret.data(), static_cast<int>(secret.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()), static_cast<int>(salt.size()), kIterations,
                        EVP_sha256(), static_cast<int>(out.size()), reinterpret_cast<unsigned char*>(out.data())) != 1) {
    return Status::io_error("cluster: hashing the secret failed");
  }
  return out;
}

bool same_bytes(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Status check_secret(std::string_view secret, std::string_view salt, std::string_view hash, const std::string& cluster,
                    const std::string& where) {
  KEEL_ASSIGN_OR_RETURN(std::string computed, hash_secret(secret, salt));
  if (!same_bytes(computed, hash)) {
    return Status::unauthenticated("cluster \"" + cluster + "\" at " + where + ": the secret is not the cluster's");
  }
  return Status::ok();
}

}  // namespace keel::internal
