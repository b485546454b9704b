// file_contents.h: what a test compares to show that a command left the
// files it was given as they were, byte for byte, with nothing added.
#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>

namespace keel::testing {

// Every entry under `path` (or the file `path` itself) by path: a regular
// file with its bytes, anything else (a folder, a socket) as "(not a regular
// file)". Empty when nothing is at `path`.
inline std::map<std::string, std::string> file_contents(const std::string& path) {
  std::map<std::string, std::string> out;
  auto add = [&](const std::filesystem::directory_entry& e) {
    if (!e.is_regular_file()) {
      out[e.path().string()] = "(not a regular file)";
      return;
    }
    std::ifstream in(e.path(), std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    out[e.path().string()] = bytes.str();
  };
  if (std::filesystem::is_directory(path)) {
    for (const auto& e : std::filesystem::recursive_directory_iterator(path)) add(e);
  } else if (std::filesystem::exists(path)) {
    add(std::filesystem::directory_entry(path));
  }
  return out;
}

// The names in folder `dir`, not recursive.
inline std::set<std::string> names_in(const std::string& dir) {
  std::set<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

}  // namespace keel::testing
