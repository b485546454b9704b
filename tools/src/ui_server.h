// ui_server.h: the web view, `keel ui` (docs/inspection.md, "The web
// view"): one embedded page at "/" and, under /api/, the JSON documents of
// the read commands (command.h, write_*_json), so the page and `keel ...
// --json` show one shape.
//
//   GET /                          the page (tools/ui/index.html)
//   GET /api/stats                 keel journal stats --json
//   GET /api/owners?kind=&status=  keel journal ls --json
//   GET /api/owner/ID              keel journal show ID --json
//   GET /api/runs?status=&workflow=  keel workflow ls --json
//   GET /api/run/ID                keel workflow show ID --json
#pragma once

#include <string>
#include <string_view>

#include "http_server.h"
#include "keel/journal/journal.h"

namespace keel::internal {

class CapnpRenderer;

// The page served at "/": one self-contained HTML document, embedded at
// build time from tools/ui/index.html (tools/ui/embed.cmake).
std::string_view ui_page();

// What the web view reads: the journal (opened read-only, read again on
// every request), its path as given, and the Cap'n Proto renderer (may be
// null). All borrowed: they must outlive the server that uses them.
struct UiSource {
  Journal& journal;
  std::string path;  // for people: without a password
  // The journal as given (a PostgreSQL URL may hold a password): for the
  // cluster's views, which read the database themselves; never sent.
  std::string journal_path;
  const CapnpRenderer* capnp = nullptr;
  // Accept only Host headers that name a loopback address (127.0.0.1,
  // localhost, [::1]) or `bound_host`: set when the server listens on a
  // loopback address, so that a web page elsewhere cannot reach it through
  // a DNS name that it points at 127.0.0.1.
  bool loopback_only = true;
  std::string bound_host;
};

// {"error":MESSAGE,"status":STATUS} with that status: every error of the
// web view, the HTTP server's own included.
HttpResponse json_error(int status, const std::string& message);

// Answers one GET request: 200 with the page or a JSON document; 400 (a
// bad filter), 403 (a Host that loopback_only refuses), 404 (no such path,
// owner or run) or 500 (the journal failed) with {"error":...,"status":...}.
// A document that lists damaged records is still a 200. Serving thread only.
HttpResponse serve_ui(const UiSource& source, const HttpRequest& request);

}  // namespace keel::internal
