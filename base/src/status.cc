#include "keel/base/status.h"

#include <cstdio>
#include <cstdlib>

namespace keel {

std::string_view status_code_name(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "ok";
    case StatusCode::kInvalidArgument: return "invalid_argument";
    case StatusCode::kNotFound: return "not_found";
    case StatusCode::kAlreadyExists: return "already_exists";
    case StatusCode::kCorruption: return "corruption";
    case StatusCode::kIoError: return "io_error";
    case StatusCode::kTimeout: return "timeout";
    case StatusCode::kCancelled: return "cancelled";
    case StatusCode::kUnavailable: return "unavailable";
    case StatusCode::kOverloaded: return "overloaded";
    case StatusCode::kFailedPrecondition: return "failed_precondition";
    case StatusCode::kUnauthenticated: return "unauthenticated";
    case StatusCode::kNonDeterministic: return "non_deterministic";
    case StatusCode::kInternal: return "internal";
    case StatusCode::kOwnershipLost: return "ownership_lost";
  }
  return "unknown";
}

Status::Status(StatusCode code, std::string_view message) {
  if (code != StatusCode::kOk) rep_ = std::make_shared<const Rep>(Rep{code, std::string(message)});
}

std::string Status::to_string() const {
  if (is_ok()) return "ok";
  std::string out(status_code_name(code()));
  if (!rep_->message.empty()) {
    out += ": ";
    out += rep_->message;
  }
  return out;
}

Status Status::with_context(std::string_view context) const {
  if (is_ok()) return *this;
  std::string m(context);
  m += ": ";
  m += message();
  return Status(code(), m);
}

std::ostream& operator<<(std::ostream& os, const Status& s) { return os << s.to_string(); }

namespace detail {
void check_failed(const char* file, int line, std::string_view cond, std::string_view message) {
  std::fprintf(stderr, "KEEL_CHECK failed at %s:%d: %.*s%s%.*s\n", file, line,
               static_cast<int>(cond.size()), cond.data(), message.empty() ? "" : ": ",
               static_cast<int>(message.size()), message.data());
  std::fflush(stderr);
  std::abort();
}
}  // namespace detail

}  // namespace keel
