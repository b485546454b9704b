// trainer.h: the gang member of the cluster example, shared by the worker
// program (which hosts it) and the client (which names its handler).
#pragma once

#include <unistd.h>

#include <string>

#include "keel/engine/actor.h"

// A plain actor, one per rank of a gang, pinned to its rank's host.
class Trainer : public keel::Actor {
 public:
  // "rank R in pid P on HOST": where this member runs.
  std::string hello(int rank) const {
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    return "rank " + std::to_string(rank) + " in pid " + std::to_string(getpid()) + " on " + host;
  }
  static constexpr auto kHandlers = keel::handlers(keel::handler<&Trainer::hello>("hello"));
};
