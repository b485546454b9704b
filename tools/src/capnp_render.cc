#include "capnp_render.h"

#include <capnp/dynamic.h>
#include <capnp/schema-parser.h>
#include <capnp/serialize.h>
#include <kj/debug.h>
#include <kj/exception.h>
#include <kj/filesystem.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <vector>

#include "text.h"

namespace keel::internal {
namespace {

std::string base64(kj::ArrayPtr<const kj::byte> data) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    const std::uint32_t v = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
    for (int shift = 18; shift >= 0; shift -= 6) out += kAlphabet[(v >> shift) & 63];
  }
  if (i < data.size()) {
    std::uint32_t v = data[i] << 16;
    if (i + 1 < data.size()) v |= data[i + 1] << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < data.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

std::string json_number(double v) {
  if (std::isnan(v)) return "\"NaN\"";
  if (std::isinf(v)) return v > 0 ? "\"Infinity\"" : "\"-Infinity\"";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

void render(const capnp::DynamicValue::Reader& v, std::string& out);

void render_struct(const capnp::DynamicStruct::Reader& s, std::string& out) {
  out += '{';
  bool first = true;
  auto field = [&](const capnp::StructSchema::Field& f) {
    if (!first) out += ',';
    first = false;
    out += json_string(f.getProto().getName().cStr());
    out += ':';
    render(s.get(f), out);
  };
  for (const auto& f : s.getSchema().getNonUnionFields()) field(f);
  KJ_IF_MAYBE(active, s.which()) { field(*active); }
  out += '}';
}

void render(const capnp::DynamicValue::Reader& v, std::string& out) {
  switch (v.getType()) {
    case capnp::DynamicValue::VOID: out += "null"; break;
    case capnp::DynamicValue::BOOL: out += v.as<bool>() ? "true" : "false"; break;
    case capnp::DynamicValue::INT: out += std::to_string(v.as<std::int64_t>()); break;
    case capnp::DynamicValue::UINT: out += std::to_string(v.as<std::uint64_t>()); break;
    case capnp::DynamicValue::FLOAT: out += json_number(v.as<double>()); break;
    case capnp::DynamicValue::TEXT: {
      capnp::Text::Reader t = v.as<capnp::Text>();
      out += json_string(std::string_view(t.cStr(), t.size()));
      break;
    }
    case capnp::DynamicValue::DATA: out += json_string(base64(v.as<capnp::Data>())); break;
    case capnp::DynamicValue::LIST: {
      out += '[';
      bool first = true;
      for (const auto& item : v.as<capnp::DynamicList>()) {
        if (!first) out += ',';
        first = false;
        render(item, out);
      }
      out += ']';
      break;
    }
    case capnp::DynamicValue::ENUM: {
      capnp::DynamicEnum e = v.as<capnp::DynamicEnum>();
      KJ_IF_MAYBE(named, e.getEnumerant()) {
        out += json_string(named->getProto().getName().cStr());
      } else {
        out += std::to_string(e.getRaw());
      }
      break;
    }
    case capnp::DynamicValue::STRUCT: render_struct(v.as<capnp::DynamicStruct>(), out); break;
    default: out += "null"; break;  // capabilities and untyped pointers have no JSON form
  }
}

// The first line of a kj exception's description.
std::string describe(const kj::Exception& e) {
  std::string d = e.getDescription().cStr();
  return d.substr(0, d.find('\n'));
}

}  // namespace

struct CapnpRenderer::Impl {
  kj::Own<kj::Filesystem> fs = kj::newDiskFilesystem();
  std::vector<kj::Own<const kj::ReadableDirectory>> import_dirs;
  std::vector<const kj::ReadableDirectory*> import_path;
  capnp::SchemaParser parser;
  capnp::StructSchema type;
};

CapnpRenderer::CapnpRenderer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CapnpRenderer::~CapnpRenderer() = default;

Result<std::unique_ptr<CapnpRenderer>> CapnpRenderer::load(const std::string& file, const std::string& type) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) return Status::invalid_argument("--schema " + file + ": no such file");
  // kj logs warnings (a stale $PWD, for one) to stderr; errors reach the
  // user as this function's Status instead.
  kj::_::Debug::setLogLevel(kj::LogSeverity::ERROR);
  auto impl = std::make_unique<Impl>();
  std::string problem;
  kj::Maybe<kj::Exception> error = kj::runCatchingExceptions([&] {
    const kj::ReadableDirectory& root = impl->fs->getRoot();
    for (const char* dir : {"usr/local/include", "usr/include"}) {
      KJ_IF_MAYBE(d, root.tryOpenSubdir(kj::Path::parse(dir))) { impl->import_dirs.push_back(kj::mv(*d)); }
    }
    for (const auto& d : impl->import_dirs) impl->import_path.push_back(d.get());
    // From the root: getCurrentPath() trusts $PWD, which may be stale.
    kj::Path path = kj::Path::parse(std::filesystem::absolute(file).lexically_normal().string().substr(1));
    capnp::ParsedSchema parsed = impl->parser.parseFromDirectory(
        root, kj::mv(path), kj::arrayPtr(impl->import_path.data(), impl->import_path.size()));
    if (type.empty()) {
      int structs = 0;
      for (capnp::ParsedSchema nested : parsed.getAllNested()) {
        if (nested.getProto().isStruct()) {
          impl->type = nested.asStruct();
          ++structs;
        }
      }
      if (structs != 1) problem = "give --type: the file declares " + std::to_string(structs) + " top-level structs";
      return;
    }
    capnp::ParsedSchema node = parsed;
    std::string_view rest = type;
    while (!rest.empty()) {
      const std::size_t dot = rest.find('.');
      const std::string part(rest.substr(0, dot));
      KJ_IF_MAYBE(n, node.findNested(part.c_str())) {
        node = *n;
      } else {
        problem = "no struct '" + type + "' in the schema";
        return;
      }
      rest = dot == std::string_view::npos ? std::string_view() : rest.substr(dot + 1);
    }
    if (!node.getProto().isStruct()) {
      problem = "'" + type + "' is not a struct";
      return;
    }
    impl->type = node.asStruct();
  });
  KJ_IF_MAYBE(e, error) { problem = describe(*e); }
  if (!problem.empty()) return Status::invalid_argument("--schema " + file + ": " + problem);
  return std::unique_ptr<CapnpRenderer>(new CapnpRenderer(std::move(impl)));
}

Result<std::string> CapnpRenderer::to_json(std::string_view bytes) const {
  if (bytes.size() % sizeof(capnp::word) != 0) {
    return Status::corruption("capnp: " + std::to_string(bytes.size()) + " bytes is not a whole number of words");
  }
  kj::Array<capnp::word> words = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
  if (!bytes.empty()) std::memcpy(words.begin(), bytes.data(), bytes.size());
  std::string out;
  kj::Maybe<kj::Exception> error = kj::runCatchingExceptions([&] {
    capnp::ReaderOptions options;
    options.traversalLimitInWords = words.size() + 1024;
    capnp::FlatArrayMessageReader reader(words, options);
    render_struct(reader.getRoot<capnp::DynamicStruct>(impl_->type), out);
  });
  KJ_IF_MAYBE(e, error) { return Status::corruption("capnp: " + describe(*e)); }
  return out;
}

}  // namespace keel::internal
