#include "pg_conninfo.h"

#include <libpq-fe.h>

#include <cctype>
#include <memory>
#include <optional>
#include <utility>

namespace keel::internal {
namespace {

constexpr std::string_view kSchemaKey = "keel_schema";

bool is_url(std::string_view s) { return s.starts_with("postgresql://") || s.starts_with("postgres://"); }

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    const int hi = hex_digit(s[i + 1]);
    const int lo = hex_digit(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

// Takes the keel_* parameters out of `s`, into *schema. Returns the rest.
Result<std::string> strip_url(std::string_view s, std::optional<std::string>* schema) {
  const std::size_t q = s.find('?');
  if (q == std::string_view::npos) return std::string(s);
  std::string out(s.substr(0, q));
  std::string_view query = s.substr(q + 1);
  char sep = '?';
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view param = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const std::string_view key = param.substr(0, param.find('='));
    if (!key.starts_with("keel_")) {
      out.push_back(sep);
      out.append(param);
      sep = '&';
      continue;
    }
    if (key != kSchemaKey || param.size() == key.size()) {
      return Status::invalid_argument("postgresql journal: unknown or empty parameter " + std::string(key));
    }
    auto value = percent_decode(param.substr(key.size() + 1));
    if (!value) return Status::invalid_argument("postgresql journal: bad %-escape in keel_schema");
    *schema = std::move(*value);
  }
  return out;
}

// The same for a keyword/value string: key = value pairs, values bare or
// single-quoted with backslash escapes (libpq's syntax).
Result<std::string> strip_keywords(std::string_view s, std::optional<std::string>* schema) {
  std::string out;
  std::size_t i = 0;
  auto space = [&] {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
  };
  for (space(); i < s.size(); space()) {
    const std::size_t start = i;
    while (i < s.size() && s[i] != '=' && !std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    const std::string_view key = s.substr(start, i - start);
    space();
    if (i >= s.size() || s[i] != '=') {
      return Status::invalid_argument("postgresql journal: malformed connection string (missing '=' after a keyword)");
    }
    ++i;
    space();
    std::string value;
    if (i < s.size() && s[i] == '\'') {
      for (++i; i < s.size() && s[i] != '\''; ++i) {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
        value.push_back(s[i]);
      }
      if (i >= s.size()) return Status::invalid_argument("postgresql journal: unterminated quoted value");
      ++i;
    } else {
      for (; i < s.size() && !std::isspace(static_cast<unsigned char>(s[i])); ++i) {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
        value.push_back(s[i]);
      }
    }
    if (!key.starts_with("keel_")) {
      if (!out.empty()) out.push_back(' ');
      out.append(s.substr(start, i - start));
      continue;
    }
    if (key != kSchemaKey || value.empty()) {
      return Status::invalid_argument("postgresql journal: unknown or empty parameter " + std::string(key));
    }
    *schema = std::move(value);
  }
  return out;
}

struct ConninfoOptions {
  void operator()(PQconninfoOption* o) const { PQconninfoFree(o); }
};

}  // namespace

bool is_valid_pg_schema(std::string_view s) {
  if (s.empty() || s.size() > 63 || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

Result<PgTarget> parse_pg_target(std::string_view name, std::string_view default_schema) {
  std::optional<std::string> named;
  PgTarget t;
  KEEL_ASSIGN_OR_RETURN(t.conninfo, is_url(name) ? strip_url(name, &named) : strip_keywords(name, &named));
  if (named && !default_schema.empty() && *named != default_schema) {
    return Status::invalid_argument("postgresql journal: keel_schema " + *named + " differs from pg_schema " +
                                    std::string(default_schema));
  }
  t.schema = named ? *named : default_schema.empty() ? std::string("keel") : std::string(default_schema);
  if (!is_valid_pg_schema(t.schema)) {
    return Status::invalid_argument("postgresql journal: schema name '" + t.schema +
                                    "' is not 1 to 63 characters of [a-z0-9_] starting with a letter or '_'");
  }
  char* err = nullptr;
  std::unique_ptr<PQconninfoOption, ConninfoOptions> opts(PQconninfoParse(t.conninfo.c_str(), &err));
  if (opts == nullptr) {
    // libpq quotes the offending part of the string (some messages quote
    // the whole URI, password and all): keep only the words before it.
    std::string why = err != nullptr ? err : "out of memory";
    PQfreemem(err);
    why = why.substr(0, why.find('"'));
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ' || why.back() == ':')) why.pop_back();
    return Status::invalid_argument("postgresql journal: malformed connection string: " + why);
  }
  std::string user, host, port, db;
  for (PQconninfoOption* o = opts.get(); o->keyword != nullptr; ++o) {
    if (o->val == nullptr || *o->val == '\0') continue;
    const std::string_view k = o->keyword;
    if (k == "user") user = o->val;
    if (k == "host" || (k == "hostaddr" && host.empty())) host = o->val;
    if (k == "port") port = o->val;
    if (k == "dbname") db = o->val;
  }
  t.server = (host.empty() ? std::string("the default socket") : host) + (port.empty() ? "" : ":" + port);
  t.display = "postgresql://" + (user.empty() ? "" : user + "@") + host + (port.empty() ? "" : ":" + port) + "/" +
              db + "?keel_schema=" + t.schema;
  return t;
}

}  // namespace keel::internal
