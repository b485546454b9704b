// keel/base/random_hex.h: unpredictable identifiers (tokens, names,
// tickets) from the operating system's generator.
#pragma once

#include <cstddef>
#include <string>

namespace keel {

// `bytes` random bytes from std::random_device (getrandom(2) on Linux), as
// 2 * bytes lowercase hexadecimal digits. Thread-safe.
std::string random_hex(std::size_t bytes);

}  // namespace keel
