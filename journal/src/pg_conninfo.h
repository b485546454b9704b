// pg_conninfo.h: PgTarget, what a PostgreSQL journal's name says: the libpq
// connection string without Keel's own parameters, the schema, and a name
// for messages that never holds the password.
#pragma once

#include <string>
#include <string_view>

#include "keel/base/status.h"

namespace keel::internal {

// Value type.
struct PgTarget {
  std::string conninfo;  // for libpq: the input without keel_* parameters
  std::string schema;    // validated: [a-z_][a-z0-9_]{0,62}
  // "postgresql://user@host:port/db?keel_schema=s", without the password;
  // for messages and JournalStats::path.
  std::string display;
  // "host:port" (or the socket directory), for "cannot reach ..." errors.
  std::string server;
};

// Parses `name` (a URL or keyword/value string, see open_pg_journal).
// `default_schema` applies when the string names none (empty: "keel").
// Errors: kInvalidArgument (malformed string, bad schema name, a keel_*
// parameter this build does not know, or two different schemas); messages
// quote no part of the string that could hold a password.
Result<PgTarget> parse_pg_target(std::string_view name, std::string_view default_schema);

// Whether `s` is a valid schema name for a journal.
bool is_valid_pg_schema(std::string_view s);

}  // namespace keel::internal
