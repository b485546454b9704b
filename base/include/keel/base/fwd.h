// keel/base/fwd.h: forward declarations of keel::base types.
#pragma once

namespace keel {
class Status;
template <class T>
class Result;
class Clock;
class SystemClock;
class ManualClock;
class Mutex;
class MutexLock;
class CondVar;
}  // namespace keel
