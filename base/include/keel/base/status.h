// keel/base/status.h: Status and Result<T>, the error vocabulary of Keel.
//
// Every library call that can fail returns a Status or a Result<T>. Codes are
// few and stable (their numbers are written to journals and the wire); the
// message carries context.
//
//   keel::Result<int> parse(std::string_view s) {
//     if (s.empty()) return keel::Status::invalid_argument("empty input");
//     return 42;
//   }
//   keel::Status use() {
//     KEEL_ASSIGN_OR_RETURN(int v, parse("x"));
//     return v > 0 ? keel::Status::ok() : keel::Status::internal("negative");
//   }
#pragma once

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include "keel/base/check.h"

namespace keel {

// Stable numbers: never renumber, only append.
enum class StatusCode : std::uint8_t {
  kOk = 0,
  kInvalidArgument = 1,
  kNotFound = 2,
  kAlreadyExists = 3,
  kCorruption = 4,
  kIoError = 5,
  kTimeout = 6,
  kCancelled = 7,
  kUnavailable = 8,         // reconnect and retry
  kOverloaded = 9,          // back off
  kFailedPrecondition = 10,
  kUnauthenticated = 11,
  kNonDeterministic = 12,
  kInternal = 13,
  // A commit was refused because another writer now owns the journal owner
  // (a fenced actor or run): stop working on it here, never retry.
  kOwnershipLost = 14,
};

// The highest code in use; a number above it read from a journal or the
// wire is corrupt.
inline constexpr StatusCode kLastStatusCode = StatusCode::kOwnershipLost;

// The name of `code` ("kNotFound" -> "not_found").
std::string_view status_code_name(StatusCode code);

// A success or an error code with a message. Cheap to copy when ok (no
// allocation). Thread-compatible value type.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string_view message);

  static Status ok() { return Status(); }
  static Status invalid_argument(std::string_view m) { return {StatusCode::kInvalidArgument, m}; }
  static Status not_found(std::string_view m) { return {StatusCode::kNotFound, m}; }
  static Status already_exists(std::string_view m) { return {StatusCode::kAlreadyExists, m}; }
  static Status corruption(std::string_view m) { return {StatusCode::kCorruption, m}; }
  static Status io_error(std::string_view m) { return {StatusCode::kIoError, m}; }
  static Status timeout(std::string_view m) { return {StatusCode::kTimeout, m}; }
  static Status cancelled(std::string_view m) { return {StatusCode::kCancelled, m}; }
  static Status unavailable(std::string_view m) { return {StatusCode::kUnavailable, m}; }
  static Status overloaded(std::string_view m) { return {StatusCode::kOverloaded, m}; }
  static Status failed_precondition(std::string_view m) {
    return {StatusCode::kFailedPrecondition, m};
  }
  static Status unauthenticated(std::string_view m) { return {StatusCode::kUnauthenticated, m}; }
  static Status non_deterministic(std::string_view m) {
    return {StatusCode::kNonDeterministic, m};
  }
  static Status internal(std::string_view m) { return {StatusCode::kInternal, m}; }
  static Status ownership_lost(std::string_view m) { return {StatusCode::kOwnershipLost, m}; }

  bool is_ok() const { return rep_ == nullptr; }
  StatusCode code() const { return rep_ ? rep_->code : StatusCode::kOk; }
  std::string_view message() const { return rep_ ? std::string_view(rep_->message) : ""; }

  // "not_found: actor 7 stopped", or "ok".
  std::string to_string() const;

  // Returns a copy whose message is "`context`: <message>"; ok stays ok.
  Status with_context(std::string_view context) const;

  // Marks a deliberately ignored status.
  void ignore() const {}

  friend bool operator==(const Status& a, const Status& b) {
    return a.code() == b.code() && a.message() == b.message();
  }

 private:
  struct Rep {
    StatusCode code;
    std::string message;
  };
  std::shared_ptr<const Rep> rep_;  // null when ok; immutable, so sharing is safe
};

std::ostream& operator<<(std::ostream& os, const Status& s);

// A value of type T or a non-ok Status. Mirrors std::expected's vocabulary
// (has_value, value, error, operator*, operator->) so a later switch is
// mechanical. Accessing value() of an error is a bug (KEEL_CHECK).
template <class T>
class [[nodiscard]] Result {
  static_assert(!std::is_same_v<std::remove_cvref_t<T>, Status>, "use Status");

 public:
  using value_type = T;

  Result(const T& v) : v_(std::in_place_index<0>, v) {}  // NOLINT(implicit)
  Result(T&& v) : v_(std::in_place_index<0>, std::move(v)) {}  // NOLINT(implicit)
  template <class U, class = std::enable_if_t<std::is_constructible_v<T, U&&> &&
                                              !std::is_same_v<std::remove_cvref_t<U>, Status> &&
                                              !std::is_same_v<std::remove_cvref_t<U>, Result>>>
  Result(U&& u) : v_(std::in_place_index<0>, std::forward<U>(u)) {}  // NOLINT(implicit)
  Result(Status s) : v_(std::in_place_index<1>, std::move(s)) {  // NOLINT(implicit)
    KEEL_CHECK(!std::get<1>(v_).is_ok(), "Result constructed from an ok Status");
  }

  bool has_value() const { return v_.index() == 0; }
  bool is_ok() const { return has_value(); }
  explicit operator bool() const { return has_value(); }

  T& value() & { check(); return std::get<0>(v_); }
  const T& value() const& { check(); return std::get<0>(v_); }
  T&& value() && { check(); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  template <class U>
  T value_or(U&& fallback) const& {
    return has_value() ? std::get<0>(v_) : static_cast<T>(std::forward<U>(fallback));
  }

  // The error; Status::ok() when a value is held.
  Status status() const { return has_value() ? Status::ok() : std::get<1>(v_); }
  const Status& error() const& {
    KEEL_CHECK(!has_value(), "error() on a Result holding a value");
    return std::get<1>(v_);
  }

 private:
  void check() const {
    if (!has_value()) detail::check_failed(__FILE__, __LINE__, "Result::value()", std::get<1>(v_).to_string());
  }
  std::variant<T, Status> v_;
};

namespace detail {
inline Status to_status(const Status& s) { return s; }
template <class T>
Status to_status(const Result<T>& r) { return r.status(); }
}  // namespace detail

}  // namespace keel

#define KEEL_STATUS_CONCAT_INNER_(a, b) a##b
#define KEEL_STATUS_CONCAT_(a, b) KEEL_STATUS_CONCAT_INNER_(a, b)

// Returns the Status of `expr` (a Status or Result) from the enclosing function
// when it is an error.
#define KEEL_RETURN_IF_ERROR(expr)                                             \
  do {                                                                         \
    ::keel::Status keel_status_ = ::keel::detail::to_status((expr));           \
    if (!keel_status_.is_ok()) return keel_status_;                            \
  } while (false)

// `lhs` = the value of the Result `rexpr`, or returns its error.
#define KEEL_ASSIGN_OR_RETURN(lhs, rexpr) \
  KEEL_ASSIGN_OR_RETURN_IMPL_(KEEL_STATUS_CONCAT_(keel_result_, __LINE__), lhs, rexpr)
#define KEEL_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                                \
  if (!tmp.has_value()) return tmp.error();          \
  lhs = std::move(tmp).value()
