// keel/engine/fwd.h: forward declarations of the engine's public types.
#pragma once

#include <cstdint>

namespace keel {
class Actor;
class AnyRef;
template <class T>
class ActorRef;
template <class T>
class Future;
template <class T>
class Promise;
class System;
struct SystemConfig;
struct SpawnOptions;
struct SendOptions;
struct AskOptions;
struct MailboxConfig;
struct SupervisorStrategy;
struct Down;
struct ExitSignal;
struct DeadLetter;
class DeadLetterChannel;
struct SystemSnapshot;
template <class T>
class Pool;
using ActorId = std::uint64_t;
using TimerId = std::uint64_t;
}  // namespace keel
