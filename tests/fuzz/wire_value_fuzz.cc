// libFuzzer target: the self-describing value decoders on arbitrary bytes
// must return a value or kCorruption, and whatever parses generically must
// re-encode to stable bytes. Built with Clang only (tests/wire/CMakeLists.txt):
//   wire_value_fuzz -max_total_time=60 corpus/
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "keel/wire/value.h"
#include "keel/wire/value_tree.h"

namespace {

struct Item {
  std::string name;
  std::int32_t count = 0;
  std::optional<double> weight;
  std::vector<std::uint8_t> codes;
  std::map<std::string, std::int64_t> attrs;
  static constexpr auto kFields = keel::fields(
      keel::field<&Item::name>("name"), keel::field<&Item::count>("count"),
      keel::field<&Item::weight>("weight"), keel::field<&Item::codes>("codes"),
      keel::field<&Item::attrs>("attrs"));
};

template <class R>
void check(const R& r) {
  if (!r.has_value() && r.status().code() != keel::StatusCode::kCorruption) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  check(keel::wire::decode_value<Item>(bytes));
  check(keel::wire::decode_value<std::vector<Item>>(bytes));
  check(keel::wire::decode_args<std::string, int, keel::wire::Bytes>(bytes));
  check(keel::wire::value_to_json(bytes));
  keel::Result<keel::wire::Value> tree = keel::wire::parse_value(bytes);
  check(tree);
  if (tree.has_value()) {
    const std::string again = keel::wire::encode_value(*tree);
    keel::Result<keel::wire::Value> reparsed = keel::wire::parse_value(again);
    if (!reparsed.has_value() || keel::wire::encode_value(*reparsed) != again) std::abort();
  }
  return 0;
}
