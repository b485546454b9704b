// wire_bench: the cost of Keel's message formats, beside memcpy of the same
// bytes in the same run (so the figures are ratios that hold on a noisy
// machine).
//
//   keel_wire_bench            full run, prints a table
//   keel_wire_bench --quick    a smoke run (CTest: bench.wire_quick)
//   keel_wire_bench --json     the same figures as one JSON object
//
// Workloads: the Envelope (Cap'n Proto) built and serialized
// (encode_envelope), read in place (EnvelopeView::open) and decoded into an
// owning value (decode_envelope); the self-describing value encoding of a
// small struct (encode_value / decode_value) and its JSON rendering
// (value_to_json); memcpy of the encoded envelope as the baseline.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "keel/wire/envelope.h"
#include "keel/wire/value.h"
#include "keel/wire/value_tree.h"
#include "bench_support.h"

namespace {

struct Order {
  std::string id;
  int qty = 0;
  double price = 0;
  static constexpr auto kFields = keel::fields(keel::field<&Order::id>("id"),
                                               keel::field<&Order::qty>("qty"),
                                               keel::field<&Order::price>("price"));
};

// Keeps results observable so the optimizer cannot drop the work.
volatile std::uint64_t g_sink = 0;

struct Row {
  std::string name;
  double bytes = 0;  // size of the input or output of one operation
  double ns_per_op = 0;
};

// Runs `op` `n` times per repetition and returns the best ns/op of `reps`.
template <class Op>
double measure(std::int64_t n, int reps, Op op) {
  double best = 1e300;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    std::uint64_t acc = 0;
    for (std::int64_t i = 0; i < n; ++i) acc += op(i);
    const auto t1 = std::chrono::steady_clock::now();
    g_sink = g_sink + acc;
    best = std::min(best, std::chrono::duration<double, std::nano>(t1 - t0).count() / n);
  }
  return best;
}

keel::wire::Envelope sample_envelope() {
  keel::wire::Envelope e;
  e.id = {0x1122334455667788ULL, 0x99aabbccddeeff00ULL};
  e.target = {1, "orders"};
  e.method = "place";
  e.payload = keel::wire::encode_args(7);
  e.deadline_ns = 1'700'000'000'000'000'000;
  e.trace_id = {3, 4};
  return e;
}

void fail(const char* what) {
  std::fprintf(stderr, "keel_wire_bench: %s\n", what);
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  keel_bench::QuickJson flags;
  if (!keel_bench::parse_quick_json(argc, argv, &flags)) return 2;
  const bool quick = flags.quick, json = flags.json;
  const std::int64_t n = quick ? 20'000 : 2'000'000;
  const int reps = quick ? 1 : 5;

  const keel::wire::Envelope envelope = sample_envelope();
  keel::Result<std::string> encoded = keel::wire::encode_envelope(envelope);
  if (!encoded) fail("encode_envelope failed");
  const std::string bytes = *encoded;
  if (!keel::wire::EnvelopeView::open(bytes)) fail("EnvelopeView::open failed");

  const Order order{"A-17", 3, 9.5};
  const std::string value_bytes = keel::wire::encode_value(order);
  if (!keel::wire::decode_value<Order>(value_bytes)) fail("decode_value failed");

  std::vector<Row> rows;
  std::vector<char> dst(bytes.size());
  rows.push_back({"memcpy (envelope bytes)", double(bytes.size()), measure(n, reps, [&](std::int64_t i) {
                    std::memcpy(dst.data(), bytes.data(), bytes.size());
                    dst[0] = static_cast<char>(i);  // a new copy each time
                    return static_cast<std::uint64_t>(dst[bytes.size() - 1]);
                  })});
  rows.push_back({"envelope build+serialize", double(bytes.size()), measure(n, reps, [&](std::int64_t) {
                    return static_cast<std::uint64_t>(keel::wire::encode_envelope(envelope)->size());
                  })});
  rows.push_back({"envelope open (view, in place)", double(bytes.size()),
                  measure(n, reps, [&](std::int64_t) {
                    auto v = keel::wire::EnvelopeView::open(bytes);
                    return static_cast<std::uint64_t>(v->method().size() + v->payload().size());
                  })});
  rows.push_back({"envelope decode (owning copy)", double(bytes.size()),
                  measure(n, reps, [&](std::int64_t) {
                    return static_cast<std::uint64_t>(keel::wire::decode_envelope(bytes)->method.size());
                  })});
  rows.push_back({"envelope build+serialize+read", double(bytes.size()),
                  measure(n, reps, [&](std::int64_t) {
                    const std::string b = *keel::wire::encode_envelope(envelope);
                    return static_cast<std::uint64_t>(keel::wire::EnvelopeView::open(b)->attempt() + 1);
                  })});
  rows.push_back({"encode_value (3-field struct)", double(value_bytes.size()),
                  measure(n, reps, [&](std::int64_t) {
                    return static_cast<std::uint64_t>(keel::wire::encode_value(order).size());
                  })});
  rows.push_back({"decode_value (3-field struct)", double(value_bytes.size()),
                  measure(n, reps, [&](std::int64_t) {
                    return static_cast<std::uint64_t>(keel::wire::decode_value<Order>(value_bytes)->qty);
                  })});
  rows.push_back({"value_to_json (3-field struct)", double(value_bytes.size()),
                  measure(n / 4, reps, [&](std::int64_t) {
                    return static_cast<std::uint64_t>(keel::wire::value_to_json(value_bytes)->size());
                  })});

  const double base = rows[0].ns_per_op;
  if (json) {
    std::printf("{\"quick\":%s,\"envelope_bytes\":%zu,\"results\":[", quick ? "true" : "false",
                bytes.size());
    for (std::size_t i = 0; i < rows.size(); ++i) {
      std::printf("%s{\"name\":\"%s\",\"bytes\":%.0f,\"ns_per_op\":%.1f,\"ops_per_s\":%.0f}",
                  i ? "," : "", rows[i].name.c_str(), rows[i].bytes, rows[i].ns_per_op,
                  1e9 / rows[i].ns_per_op);
    }
    std::printf("]}\n");
    return 0;
  }
  std::printf("keel_wire_bench%s: envelope %zu bytes, struct value %zu bytes\n",
              quick ? " --quick" : "", bytes.size(), value_bytes.size());
  std::printf("%-34s %7s %12s %10s %10s\n", "workload", "bytes", "ops/s", "ns/op", "x memcpy");
  for (const Row& r : rows) {
    std::printf("%-34s %7.0f %12.0f %10.1f %10.1f\n", r.name.c_str(), r.bytes, 1e9 / r.ns_per_op,
                r.ns_per_op, r.ns_per_op / base);
  }
  return 0;
}
