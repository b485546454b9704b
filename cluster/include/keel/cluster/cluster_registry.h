// keel/cluster/cluster_registry.h: the endpoint registry of a cluster, one
// table that every host reads and writes (docs/cluster.md, "The registry in
// a cluster"). Actors register under a name in a namespace; the keys under
// one name, in registration order, form a pool.
//
// A registration belongs to the incarnation of the host that made it: it
// counts only while that incarnation holds a live lease (by the database's
// clock, as for gang members), so the registrations of a host that died,
// left or joined again vanish from every lookup, and lookups remove their
// rows. Each name has a version that changes on every change of its
// members, and every change is announced with a NOTIFY on the channel named
// after the cluster's schema, whose payload is "ns/name"; a
// ClusterListener (keel/cluster/cluster_listener.h) hears them. The
// table is the truth: a notification may be missed.
//
//   KEEL_ASSIGN_OR_RETURN(auto registry, keel::ClusterRegistry::open(url, *membership));
//   KEEL_RETURN_IF_ERROR(registry->add("bank", "shards", "shard-0").status());
//   KEEL_ASSIGN_OR_RETURN(keel::RegistryMembers m, registry->lookup("bank", "shards"));
//   for (const std::string& key : m.keys) use(key);   // m.version changes on every change
//
// Thread-safe; calls block on the network for at most the membership's
// timeout.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "keel/base/status.h"
#include "keel/cluster/membership.h"

namespace keel {

// Value type: a name's members, by registration order, and its version.
struct ClusterRegistryMembers {
  std::uint64_t version = 0;  // 0: never registered under
  std::vector<std::string> keys;
  friend bool operator==(const ClusterRegistryMembers&, const ClusterRegistryMembers&) = default;
};

class ClusterRegistry {
 public:
  // The registry of the cluster at `url` (the URL `membership` joined
  // with), registering as `membership`'s incarnation; `membership` must
  // outlive this object. Errors: kInvalidArgument (a malformed URL).
  static Result<std::unique_ptr<ClusterRegistry>> open(const std::string& url, const Membership& membership);
  ~ClusterRegistry();
  ClusterRegistry(const ClusterRegistry&) = delete;
  ClusterRegistry& operator=(const ClusterRegistry&) = delete;

  // Registers `key` under `ns`/`name` as this incarnation and returns the
  // members after the change. A key registered there already by this
  // incarnation is left as it is (no new version); one registered by
  // another incarnation becomes this one's, last in order. Errors:
  // kInvalidArgument (see check_registry_name; an empty key),
  // kOwnershipLost (this incarnation holds no lease: nothing is
  // registered), kUnavailable, kIoError.
  Result<ClusterRegistryMembers> add(const std::string& ns, const std::string& name, const std::string& key);
  // Removes `key` from `ns`/`name`, whoever registered it, and returns the
  // members after the change; a key not there is fine. Errors:
  // kInvalidArgument, kUnavailable, kIoError.
  Result<ClusterRegistryMembers> remove(const std::string& ns, const std::string& name, const std::string& key);
  // Removes each of `keys` from every name this incarnation registered it
  // under (their actors have gone). Errors: kUnavailable, kIoError (some
  // names may then have lost them already).
  Status remove_keys(const std::vector<std::string>& keys);
  // The members of `ns`/`name` registered by live incarnations. Removes the
  // rows of dead ones first (a new version, announced). Errors:
  // kInvalidArgument, kUnavailable, kIoError.
  Result<ClusterRegistryMembers> lookup(const std::string& ns, const std::string& name);

 private:
  class Impl;
  explicit ClusterRegistry(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// OK when `ns` and `name` can name registry members: both non-empty, at
// most kMaxRegistryName bytes, no '/' in `ns` (the notification payload is
// "ns/name"). Errors: kInvalidArgument saying which.
inline constexpr std::size_t kMaxRegistryName = 1024;
Status check_registry_name(const std::string& ns, const std::string& name);

}  // namespace keel
