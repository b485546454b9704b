// headless_browser.h: headless Chromium driven over the Chrome DevTools
// Protocol on a pipe (--remote-debugging-pipe: the browser reads commands
// on its fd 3 and writes replies and events on its fd 4, each message one
// JSON object ended by '\0'), for the tests of `keel ui`. One page; its
// DOM is read with Runtime.evaluate, clicks are real mouse events
// (Input.dispatchMouseEvent), and screenshots are PNG bytes.
//
//   std::string error;
//   auto browser = HeadlessBrowser::launch(&error);  // null, with error, if it cannot start
//   ASSERT_TRUE(browser->navigate(url).empty());
//   std::string text;
//   ASSERT_TRUE(browser->wait_until("document.title", &text).empty());
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "text.h"

extern char** environ;

namespace keel::testing {

// The browser the web view's tests use: $KEEL_CHROMIUM, else Debian's
// chromium package (scripts/setup.sh installs it).
inline std::string chromium_path() {
  const char* env = std::getenv("KEEL_CHROMIUM");
  return env != nullptr && *env != '\0' ? env : "/usr/bin/chromium";
}

// `s` as a JSON string literal (the CLI's own quoting).
inline std::string json_quote(const std::string& s) { return keel::internal::json_string(s); }

// The string value of the first `"name":"..."` in `json`, unescaped
// (\uXXXX below U+0800 only, which is all these tests need); nullopt when
// there is none.
inline std::optional<std::string> json_string_field(const std::string& json, const std::string& name) {
  const std::string key = "\"" + name + "\":\"";
  std::size_t i = json.find(key);
  if (i == std::string::npos) return std::nullopt;
  std::string out;
  for (i += key.size(); i < json.size() && json[i] != '"'; ++i) {
    if (json[i] != '\\' || i + 1 >= json.size()) {
      out += json[i];
      continue;
    }
    const char e = json[++i];
    if (e == 'n') {
      out += '\n';
    } else if (e == 't') {
      out += '\t';
    } else if (e == 'r') {
      out += '\r';
    } else if (e == 'u' && i + 4 < json.size()) {
      const unsigned cp = static_cast<unsigned>(std::stoul(json.substr(i + 1, 4), nullptr, 16));
      i += 4;
      if (cp < 0x80) {
        out += static_cast<char>(cp);
      } else {
        out += static_cast<char>(0xC0 | (cp >> 6));
        out += static_cast<char>(0x80 | (cp & 0x3F));
      }
    } else {
      out += e;  // \" \\ \/
    }
  }
  return out;
}

inline std::string base64_decode(const std::string& in) {
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (const char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '+') v = 62;
    else if (c == '/') v = 63;
    else continue;
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  return out;
}

// A headless Chromium with one page. Not thread-safe. Every call waits
// for the browser's reply up to a deadline (kCallWait) and returns an
// error message, empty on success.
class HeadlessBrowser {
 public:
  static constexpr auto kCallWait = std::chrono::seconds(60);

  // Starts the browser with a fresh profile and opens one blank page.
  // Returns null with `*error` set when the browser is missing or fails.
  static std::unique_ptr<HeadlessBrowser> launch(std::string* error) {
    const std::string program = chromium_path();
    if (::access(program.c_str(), X_OK) != 0) {
      *error = program + " is missing: the web view's tests need Debian's chromium package "
               "(scripts/setup.sh installs it; KEEL_CHROMIUM names another binary)";
      return nullptr;
    }
    std::unique_ptr<HeadlessBrowser> b(new HeadlessBrowser());
    *error = b->start(program);
    if (error->empty()) *error = b->open_page();
    if (!error->empty()) return nullptr;
    return b;
  }

  ~HeadlessBrowser() {
    if (pid_ > 0) {
      if (!session_.empty()) (void)call("Browser.close", "{}", /*in_page=*/false);
      ::kill(-pid_, SIGKILL);  // the browser and its helpers share its process group
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    if (to_browser_ >= 0) ::close(to_browser_);
    if (from_browser_ >= 0) ::close(from_browser_);
    std::error_code ignored;
    if (!profile_.empty()) std::filesystem::remove_all(profile_, ignored);
  }
  HeadlessBrowser(const HeadlessBrowser&) = delete;
  HeadlessBrowser& operator=(const HeadlessBrowser&) = delete;

  // Sends one command and waits for its reply (events in between are
  // dropped); `*reply` gets the reply's JSON. `in_page`: to the page's
  // session rather than the browser.
  std::string call(const std::string& method, const std::string& params, bool in_page = true,
                   std::string* reply = nullptr) {
    const int id = ++last_id_;
    std::string message = "{\"id\":" + std::to_string(id) + ",\"method\":" + json_quote(method) +
                          ",\"params\":" + params;
    if (in_page) message += ",\"sessionId\":" + json_quote(session_);
    message += "}";
    message.push_back('\0');
    for (std::size_t sent = 0; sent < message.size();) {
      const ssize_t n = ::write(to_browser_, message.data() + sent, message.size() - sent);
      if (n <= 0) return method + ": the browser's pipe is closed";
      sent += static_cast<std::size_t>(n);
    }
    const std::string prefix = "{\"id\":" + std::to_string(id) + ",";
    const auto deadline = std::chrono::steady_clock::now() + kCallWait;
    for (;;) {
      std::optional<std::string> m = next_message(deadline);
      if (!m) return method + ": no reply from the browser within " + std::to_string(kCallWait.count()) + " s";
      if (m->rfind(prefix, 0) != 0) continue;
      if (m->find("\"error\":{") != std::string::npos && m->find("\"result\":") == std::string::npos) {
        return method + " failed: " + *m;
      }
      if (reply != nullptr) *reply = std::move(*m);
      return "";
    }
  }

  // Loads `url` in the page (returns once the navigation committed).
  std::string navigate(const std::string& url) { return call("Page.navigate", "{\"url\":" + json_quote(url) + "}"); }

  // Evaluates `expression` in the page until its value is truthy, then
  // sets `*value` to it as a string. It waits in the page, re-checking on
  // every DOM change, up to `timeout`; an error names the expression when
  // the deadline passes.
  std::string wait_until(const std::string& expression, std::string* value = nullptr,
                         std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    const std::string js =
        "new Promise((resolve, reject) => {"
        "  const check = () => { try { return (" + expression + "); } catch (e) { return null; } };"
        "  const first = check();"
        "  if (first) { resolve(String(first)); return; }"
        "  const observer = new MutationObserver(() => {"
        "    const v = check();"
        "    if (v) { observer.disconnect(); clearTimeout(timer); resolve(String(v)); }"
        "  });"
        "  const timer = setTimeout(() => { observer.disconnect();"
        "    reject(new Error('timed out after " + std::to_string(timeout.count()) + " ms waiting for: ' + " +
        json_quote(expression) + ")); }, " + std::to_string(timeout.count()) + ");"
        "  observer.observe(document, {subtree: true, childList: true, attributes: true, characterData: true});"
        "})";
    return evaluate(js, value);
  }

  // The value of `expression` (awaited if it is a promise) as a string.
  std::string evaluate(const std::string& expression, std::string* value) {
    std::string reply;
    const std::string error = call("Runtime.evaluate",
                                   "{\"expression\":" + json_quote(expression) +
                                       ",\"awaitPromise\":true,\"returnByValue\":true}",
                                   true, &reply);
    if (!error.empty()) return error;
    if (reply.find("\"exceptionDetails\":") != std::string::npos) {
      return "the page threw: " + json_string_field(reply, "description").value_or(reply);
    }
    if (value != nullptr) *value = json_string_field(reply, "value").value_or("");
    return "";
  }

  // A left click, as a user makes it, at the middle of the first element
  // that `selector` matches (scrolled into view first).
  std::string click(const std::string& selector) {
    std::string box;
    const std::string error = evaluate(
        "(() => { const e = document.querySelector(" + json_quote(selector) + ");"
        " if (!e) return '';"
        " e.scrollIntoView({block: 'center'});"
        " const r = e.getBoundingClientRect();"
        " return (r.left + r.width / 2) + ',' + (r.top + r.height / 2); })()",
        &box);
    if (!error.empty()) return error;
    if (box.empty()) return "no element matches " + selector;
    const std::string x = box.substr(0, box.find(','));
    const std::string y = box.substr(box.find(',') + 1);
    for (const char* type : {"mouseMoved", "mousePressed", "mouseReleased"}) {
      const std::string e = call("Input.dispatchMouseEvent",
                                 std::string("{\"type\":\"") + type + "\",\"x\":" + x + ",\"y\":" + y +
                                     ",\"button\":\"left\",\"buttons\":1,\"clickCount\":1}");
      if (!e.empty()) return e;
    }
    return "";
  }

  // Writes a PNG of the page's viewport to `path`.
  std::string screenshot(const std::string& path) {
    std::string reply;
    const std::string error = call("Page.captureScreenshot", "{\"format\":\"png\"}", true, &reply);
    if (!error.empty()) return error;
    const std::optional<std::string> data = json_string_field(reply, "data");
    if (!data) return "no image in " + reply.substr(0, 200);
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) return "cannot write " + path;
    const std::string png = base64_decode(*data);
    const bool ok = std::fwrite(png.data(), 1, png.size(), f) == png.size();
    return std::fclose(f) == 0 && ok ? "" : "cannot write " + path;
  }

 private:
  HeadlessBrowser() = default;

  std::string start(const std::string& program) {
    char tmpl[] = "/tmp/keel-chromium-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) return "cannot make a profile directory";
    profile_ = tmpl;
    int to[2];
    int from[2];
    if (::pipe(to) != 0 || ::pipe(from) != 0) return "cannot make pipes";
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, to[0], 3);
    posix_spawn_file_actions_adddup2(&actions, from[1], 4);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 2, (profile_ + "/stderr.log").c_str(), O_WRONLY | O_CREAT, 0644);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    std::vector<std::string> args = {program,
                                     "--headless=new",
                                     "--no-sandbox",  // the tests may run as root
                                     "--disable-gpu",
                                     "--disable-dev-shm-usage",
                                     "--remote-debugging-pipe",
                                     "--user-data-dir=" + profile_,
                                     "--no-first-run",
                                     "--no-default-browser-check",
                                     "--disable-extensions",
                                     "--disable-background-networking",
                                     "--disable-component-update",
                                     "--disable-sync",
                                     "--hide-scrollbars",
                                     "--window-size=1280,900",
                                     "about:blank"};
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    const int rc = posix_spawn(&pid_, program.c_str(), &actions, &attr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    ::close(to[0]);
    ::close(from[1]);
    to_browser_ = to[1];
    from_browser_ = from[0];
    if (rc != 0) {
      pid_ = -1;
      return "cannot start " + program + ": " + std::strerror(rc);
    }
    return "";
  }

  std::string open_page() {
    std::string reply;
    std::string error = call("Target.createTarget", "{\"url\":\"about:blank\"}", false, &reply);
    if (!error.empty()) return error + stderr_tail();
    const std::optional<std::string> target = json_string_field(reply, "targetId");
    if (!target) return "no targetId in " + reply;
    error = call("Target.attachToTarget", "{\"targetId\":" + json_quote(*target) + ",\"flatten\":true}", false, &reply);
    if (!error.empty()) return error;
    const std::optional<std::string> session = json_string_field(reply, "sessionId");
    if (!session) return "no sessionId in " + reply;
    session_ = *session;
    return call("Page.enable", "{}");
  }

  std::string stderr_tail() const {
    std::FILE* f = std::fopen((profile_ + "/stderr.log").c_str(), "r");
    if (f == nullptr) return "";
    std::string text(4096, '\0');
    text.resize(std::fread(text.data(), 1, text.size(), f));
    std::fclose(f);
    return "\nchromium's stderr:\n" + text;
  }

  // The next '\0'-ended message from the browser, or nullopt at the
  // deadline or when the pipe closes.
  std::optional<std::string> next_message(std::chrono::steady_clock::time_point deadline) {
    for (;;) {
      const std::size_t end = in_.find('\0');
      if (end != std::string::npos) {
        std::string m = in_.substr(0, end);
        in_.erase(0, end + 1);
        return m;
      }
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd p{from_browser_, POLLIN, 0};
      if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
      char buf[65536];
      const ssize_t n = ::read(from_browser_, buf, sizeof buf);
      if (n <= 0) return std::nullopt;
      in_.append(buf, static_cast<std::size_t>(n));
    }
  }

  pid_t pid_ = -1;
  int to_browser_ = -1;
  int from_browser_ = -1;
  int last_id_ = 0;
  std::string profile_;
  std::string session_;
  std::string in_;
};

}  // namespace keel::testing
