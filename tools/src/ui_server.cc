// keel ui: the web view's routes, and the command that serves them.
#include "ui_server.h"

#include <chrono>
#include <sstream>

#include "command.h"
#include "keel/journal/pg_journal.h"
#include "text.h"

namespace keel::internal {
namespace {

constexpr std::string_view kOwnerPrefix = "/api/owner/";
constexpr std::string_view kRunPrefix = "/api/run/";
constexpr std::string_view kClusterPrefix = "/api/cluster/";
constexpr std::uint64_t kDefaultPort = 8787;
// How often the serving thread looks at the stop flag that SIGINT and
// SIGTERM set (a signal handler may not touch the server itself).
constexpr std::chrono::milliseconds kStopCheck{100};

// The page may load nothing from anywhere else: everything it needs is inline.
constexpr const char* kPagePolicy =
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

// The HTTP status of a command's outcome; a document with damaged records
// was written whole, so it is served.
int http_status(const Outcome& o) {
  switch (o.code) {
    case ExitCode::kOk:
    case ExitCode::kCorruptRecord: return 200;
    case ExitCode::kUsage: return 400;
    case ExitCode::kUnknownId:
    case ExitCode::kNoJournal: return 404;
    default: return 500;
  }
}

template <class Write>
HttpResponse document(Write write) {
  std::ostringstream out;
  const Outcome outcome = write(out);
  const int status = http_status(outcome);
  if (status != 200) return json_error(status, outcome.message);
  return HttpResponse::text(200, "application/json", std::move(out).str());
}

std::string query_value(const HttpRequest& r, const std::string& name) {
  auto it = r.query.find(name);
  return it == r.query.end() ? std::string() : it->second;
}

// The host part of a Host header: "[::1]:8787" -> "[::1]", "localhost:80" -> "localhost".
std::string host_name(const std::string& header) {
  const std::size_t colon = header.rfind(':');
  if (colon == std::string::npos || header.find(']', colon) != std::string::npos) return header;
  return header.substr(0, colon);
}

bool host_allowed(const UiSource& source, const std::string& header) {
  if (!source.loopback_only || header.empty()) return true;
  const std::string name = host_name(header);
  return name == "127.0.0.1" || name == "localhost" || name == "[::1]" || name == source.bound_host ||
         name == "[" + source.bound_host + "]";
}

}  // namespace

HttpResponse json_error(int status, const std::string& message) {
  return HttpResponse::text(status, "application/json",
                            "{\"error\":" + json_string(message) + ",\"status\":" + std::to_string(status) + "}\n");
}

HttpResponse serve_ui(const UiSource& source, const HttpRequest& request) {
  if (!host_allowed(source, request.host)) {
    return json_error(403, "keel ui answers only requests for a loopback host, not '" + request.host +
                                             "'");
  }
  const std::string& path = request.path;
  Journal& journal = source.journal;
  if (path == "/") {
    HttpResponse r = HttpResponse::text(200, "text/html; charset=utf-8", std::string(ui_page()));
    r.headers.emplace_back("Content-Security-Policy", kPagePolicy);
    return r;
  }
  if (path == "/api/stats") {
    return document([&](std::ostream& out) { return write_stats_json(journal, source.path, out); });
  }
  if (path == "/api/owners") {
    const OwnerFilter filter{query_value(request, "kind"), query_value(request, "status")};
    return document([&](std::ostream& out) { return write_owners_json(journal, filter, out); });
  }
  if (path == "/api/runs") {
    const RunFilter filter{query_value(request, "status"), query_value(request, "workflow")};
    return document([&](std::ostream& out) { return write_runs_json(journal, filter, out); });
  }
  if (path.rfind(kClusterPrefix, 0) == 0) {
    const std::string verb = path.substr(kClusterPrefix.size());
    if (verb != "status" && verb != "hosts" && verb != "shards") return json_error(404, "no such path: " + path);
    return document([&](std::ostream& out) {
      return run_cluster(verb, source.journal_path, out, Palette(false), /*json=*/true);
    });
  }
  if (path.size() > kOwnerPrefix.size() && path.rfind(kOwnerPrefix, 0) == 0) {
    const std::string id = path.substr(kOwnerPrefix.size());
    return document([&](std::ostream& out) { return write_owner_json(journal, id, source.capnp, out); });
  }
  if (path.size() > kRunPrefix.size() && path.rfind(kRunPrefix, 0) == 0) {
    const std::string id = path.substr(kRunPrefix.size());
    return document([&](std::ostream& out) { return write_run_json(journal, id, out); });
  }
  return json_error(404, "no such path: " + path);
}

Outcome run_ui(Context& ctx) {
  Result<std::uint64_t> port = parse_u64(ctx.args.get("--port", std::to_string(kDefaultPort)), "--port");
  if (!port) return Outcome::fail(ExitCode::kUsage, std::string(port.status().message()));
  if (*port > 65535) return Outcome::fail(ExitCode::kUsage, "--port must be at most 65535");
  const std::string host = ctx.args.get("--host", "127.0.0.1");
  UiSource source{ctx.journal, redacted_journal_path(ctx.path), ctx.path, ctx.capnp,
                  host.rfind("127.", 0) == 0 || host == "::1", host};
  Result<std::unique_ptr<HttpServer>> server = HttpServer::open(
      host, static_cast<std::uint16_t>(*port), [&source](const HttpRequest& r) { return serve_ui(source, r); }, {},
      json_error);
  if (!server) {
    const ExitCode code = server.status().code() == StatusCode::kInvalidArgument ? ExitCode::kUsage : ExitCode::kIoError;
    return Outcome::fail(code, std::string(server.status().message()));
  }
  HttpServer& s = **server;
  if (ctx.stop != nullptr) {
    s.every(kStopCheck, [&] {
      if (ctx.stop->load(std::memory_order_relaxed)) s.stop();
    });
  }
  ctx.out << "keel ui: serving " << s.url() << " (journal " << redacted_journal_path(ctx.path) << "; Ctrl-C stops)"
          << std::endl;
  s.run();
  return {};
}

}  // namespace keel::internal
