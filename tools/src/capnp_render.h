// capnp_render.h: renders Cap'n Proto payloads as JSON, given the user's
// schema file (`--schema FILE.capnp`) and the payload's struct type
// (`--type Name`). Cap'n Proto stays inside this unit: no kj exception
// leaves it.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "keel/base/status.h"

namespace keel::internal {

// A parsed schema and the struct type payloads are read as. Immutable after
// load; not copyable. Thread-compatible.
class CapnpRenderer {
 public:
  // Parses `file` (imports resolve against its directory, /usr/local/include
  // and /usr/include) and picks the struct `type`: a name such as "Order"
  // or "Outer.Inner". An empty `type` picks the file's only top-level
  // struct. Errors: kInvalidArgument (the file is missing or does not parse,
  // no such struct, or no type given and the file does not declare exactly
  // one top-level struct).
  static Result<std::unique_ptr<CapnpRenderer>> load(const std::string& file, const std::string& type);

  ~CapnpRenderer();
  CapnpRenderer(const CapnpRenderer&) = delete;
  CapnpRenderer& operator=(const CapnpRenderer&) = delete;

  // Renders `bytes` (one Cap'n Proto message in flat-array form) as compact
  // JSON: structs as objects (the active union member only), lists as
  // arrays, enums by name, Data as base64, Void as null. Errors:
  // kCorruption (not a valid message of the type).
  Result<std::string> to_json(std::string_view bytes) const;

 private:
  struct Impl;
  explicit CapnpRenderer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace keel::internal
