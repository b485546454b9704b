// Uses the installed Keel headers and libraries: if this builds, links and
// prints, find_package(Keel) and the Keel:: targets work for a consumer.
#include <chrono>
#include <iostream>

#include <keel/base/clock.h>
#include <keel/base/status.h>

int main() {
  keel::Status status = keel::Status::not_found("actor 7");
  std::cout << "status: " << status << "\n";

  keel::ManualClock clock;
  const keel::TimePoint start = clock.now();
  clock.advance(std::chrono::seconds(5));
  const auto elapsed = std::chrono::duration_cast<std::chrono::seconds>(clock.now() - start);
  std::cout << "manual clock advanced " << elapsed.count() << "s\n";

  return status.code() == keel::StatusCode::kNotFound && elapsed.count() == 5 ? 0 : 1;
}
