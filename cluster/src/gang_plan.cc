#include "keel/cluster/gang_plan.h"

#include <algorithm>

#include "keel/base/rendezvous.h"

namespace keel {
namespace {

struct Candidate {
  const HostCapacity* host;
  std::uint64_t weight;
  std::uint32_t left;
};

Status cannot_place(const GangRequest& r, const std::vector<Candidate>& c, std::uint64_t slots) {
  std::string why = "gang '" + r.name + "' of " + std::to_string(r.size) + " (" +
                    std::string(gang_policy_name(r.policy)) +
                    (r.required.empty() ? "" : ", " + labels_to_string(r.required)) + "): ";
  why += std::to_string(c.size()) + " live host" + (c.size() == 1 ? "" : "s") + " with the labels and a free slot";
  if (!c.empty()) why += ", " + (slots >= HostCapacity::kUnlimited ? std::string("unlimited") : std::to_string(slots)) +
                         " free slot" + (slots == 1 ? "" : "s");
  return Status::failed_precondition(why);
}

}  // namespace

std::string_view gang_policy_name(GangPolicy policy) {
  switch (policy) {
    case GangPolicy::kPack: return "pack";
    case GangPolicy::kSpread: return "spread";
    case GangPolicy::kStrictPack: return "strict-pack";
    case GangPolicy::kStrictSpread: return "strict-spread";
  }
  return "unknown";
}

Result<std::vector<GangMember>> plan_gang(const std::vector<HostCapacity>& hosts, const GangRequest& request) {
  if (request.size == 0) return Status::invalid_argument("gang '" + request.name + "': the size must be 1 or more");
  std::vector<Candidate> c;
  std::uint64_t slots = 0;
  for (const HostCapacity& h : hosts) {
    if (h.free_slots == 0 || !labels_match(h.labels, request.required)) continue;
    c.push_back(Candidate{&h, rendezvous_weight(h.id, request.name), h.free_slots});
    slots = std::min<std::uint64_t>(slots + h.free_slots, HostCapacity::kUnlimited);
  }
  std::sort(c.begin(), c.end(), [](const Candidate& a, const Candidate& b) {
    return a.weight != b.weight ? a.weight > b.weight : a.host->id < b.host->id;
  });
  const std::uint32_t n = request.size;
  std::vector<GangMember> out;
  auto take = [&out](Candidate& k) {
    out.push_back(GangMember{static_cast<std::uint32_t>(out.size()), k.host->id});
    if (k.left != HostCapacity::kUnlimited) --k.left;
  };
  switch (request.policy) {
    case GangPolicy::kStrictPack:
      for (Candidate& k : c) {
        if (k.left < n) continue;
        while (out.size() < n) take(k);
        return out;
      }
      return cannot_place(request, c, slots);
    case GangPolicy::kStrictSpread:
      if (c.size() < n) return cannot_place(request, c, slots);
      for (std::uint32_t i = 0; i < n; ++i) take(c[i]);
      return out;
    case GangPolicy::kPack:
      if (slots < n) return cannot_place(request, c, slots);
      std::stable_sort(c.begin(), c.end(), [](const Candidate& a, const Candidate& b) { return a.left > b.left; });
      for (Candidate& k : c) {
        while (out.size() < n && k.left > 0) take(k);
        if (out.size() == n) return out;
      }
      return cannot_place(request, c, slots);
    case GangPolicy::kSpread:
      if (slots < n) return cannot_place(request, c, slots);
      while (out.size() < n) {
        for (Candidate& k : c) {
          if (out.size() < n && k.left > 0) take(k);
        }
      }
      return out;
  }
  return Status::invalid_argument("gang '" + request.name + "': unknown policy");
}

}  // namespace keel
