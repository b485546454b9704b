// value_from_json (keel/wire/value_tree.h): JSON text to a Value tree, for
// tools that take values from users (a signal's value on the command line).
#include <cerrno>
#include <cstdlib>
#include <string>

#include "keel/wire/value_tree.h"

namespace keel::wire {
namespace {

class JsonParser {
 public:
  explicit JsonParser(std::string_view text) : text_(text) {}

  Result<Value> parse_document() {
    Value v;
    KEEL_RETURN_IF_ERROR(parse(v, 0));
    skip_space();
    if (pos_ != text_.size()) return error("trailing characters after the value");
    return v;
  }

 private:
  Status error(std::string_view what) const {
    return Status::invalid_argument("JSON at byte " + std::to_string(pos_) + ": " + std::string(what));
  }

  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' ||
                                   text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool take(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  Status parse(Value& v, int depth) {
    if (depth >= kMaxValueDepth) return error("nested deeper than " + std::to_string(kMaxValueDepth));
    skip_space();
    if (pos_ >= text_.size()) return error("a value is missing");
    const char c = text_[pos_];
    if (c == '{') return parse_object(v, depth);
    if (c == '[') return parse_array(v, depth);
    if (c == '"') {
      v.kind = ValueKind::kString;
      return parse_string(v.text);
    }
    if (take("null")) {
      v.kind = ValueKind::kNull;
      return Status::ok();
    }
    if (take("true") || take("false")) {
      v.kind = ValueKind::kBool;
      v.bool_value = c == 't';
      return Status::ok();
    }
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number(v);
    return error(std::string("unexpected character '") + c + "'");
  }

  Status parse_object(Value& v, int depth) {
    v.kind = ValueKind::kStruct;
    ++pos_;  // '{'
    skip_space();
    if (take("}")) return Status::ok();
    for (;;) {
      skip_space();
      if (pos_ >= text_.size() || text_[pos_] != '"') return error("an object key must be a string");
      ValueField f;
      KEEL_RETURN_IF_ERROR(parse_string(f.name));
      for (const ValueField& other : v.fields) {
        if (other.name == f.name) return error("the key \"" + f.name + "\" appears twice");
      }
      skip_space();
      if (!take(":")) return error("':' expected after an object key");
      KEEL_RETURN_IF_ERROR(parse(f.value, depth + 1));
      v.fields.push_back(std::move(f));
      skip_space();
      if (take("}")) return Status::ok();
      if (!take(",")) return error("',' or '}' expected in an object");
    }
  }

  Status parse_array(Value& v, int depth) {
    v.kind = ValueKind::kList;
    ++pos_;  // '['
    skip_space();
    if (take("]")) return Status::ok();
    for (;;) {
      Value item;
      KEEL_RETURN_IF_ERROR(parse(item, depth + 1));
      v.items.push_back(std::move(item));
      skip_space();
      if (take("]")) return Status::ok();
      if (!take(",")) return error("',' or ']' expected in an array");
    }
  }

  static void append_utf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xc0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xe0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }

  Status parse_hex4(std::uint32_t* out) {
    if (pos_ + 4 > text_.size()) return error("a \\u escape needs four hex digits");
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = text_[pos_++];
      v <<= 4;
      if (h >= '0' && h <= '9') v |= static_cast<std::uint32_t>(h - '0');
      else if (h >= 'a' && h <= 'f') v |= static_cast<std::uint32_t>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') v |= static_cast<std::uint32_t>(h - 'A' + 10);
      else return error("a \\u escape needs four hex digits");
    }
    *out = v;
    return Status::ok();
  }

  Status parse_string(std::string& out) {
    ++pos_;  // '"'
    for (;;) {
      if (pos_ >= text_.size()) return error("unterminated string");
      const char c = text_[pos_++];
      if (c == '"') return Status::ok();
      if (static_cast<unsigned char>(c) < 0x20) return error("a control character inside a string");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= text_.size()) return error("unterminated string");
      const char e = text_[pos_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          std::uint32_t cp = 0;
          KEEL_RETURN_IF_ERROR(parse_hex4(&cp));
          if (cp >= 0xd800 && cp < 0xdc00) {
            std::uint32_t low = 0;
            if (!take("\\u")) return error("a high surrogate without its low half");
            KEEL_RETURN_IF_ERROR(parse_hex4(&low));
            if (low < 0xdc00 || low >= 0xe000) return error("a high surrogate without its low half");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
          } else if (cp >= 0xdc00 && cp < 0xe000) {
            return error("a lone low surrogate");
          }
          append_utf8(out, cp);
          break;
        }
        default:
          return error(std::string("unknown escape '\\") + e + "'");
      }
    }
  }

  Status parse_number(Value& v) {
    const std::size_t start = pos_;
    bool integral = true;
    if (text_[pos_] == '-') ++pos_;
    auto digits = [&] {
      const std::size_t from = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
      return pos_ - from;
    };
    if (digits() == 0) return error("a digit expected");
    if (pos_ < text_.size() && text_[pos_] == '.') {
      integral = false;
      ++pos_;
      if (digits() == 0) return error("a digit expected after '.'");
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      integral = false;
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      if (digits() == 0) return error("a digit expected in the exponent");
    }
    const std::string number(text_.substr(start, pos_ - start));
    errno = 0;
    char* end = nullptr;
    if (integral && number[0] == '-') {
      const long long n = std::strtoll(number.c_str(), &end, 10);
      if (errno == 0) {
        v.kind = ValueKind::kSint;
        v.sint_value = n;
        return Status::ok();
      }
    } else if (integral) {
      const unsigned long long n = std::strtoull(number.c_str(), &end, 10);
      if (errno == 0) {
        v.kind = ValueKind::kUint;
        v.uint_value = n;
        return Status::ok();
      }
    }
    // A fraction, an exponent, or an integer beyond 64 bits.
    errno = 0;
    v.kind = ValueKind::kFloat64;
    v.float_value = std::strtod(number.c_str(), &end);
    if (errno == ERANGE) return error("the number " + number + " is out of range");
    return Status::ok();
  }

  std::string_view text_;
  std::size_t pos_ = 0;
};

}  // namespace

Result<Value> value_from_json(std::string_view json) { return JsonParser(json).parse_document(); }

}  // namespace keel::wire
