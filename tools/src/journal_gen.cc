// keel_journal_gen: writes a large journal in the shape durable actors give
// it, for measuring `keel journal` at scale.
//
//   keel_journal_gen PATH [--records N] [--actors K] [--rocksdb]
//
// N (1,000,000 by default, at least 2K) records for K actors (1,000).
// Each handled message is an INBOX record (an envelope whose arguments are a
// self-describing tuple) followed by its cursor: a SNAPSHOT (cursor, state,
// timers) every 10th message of an actor, a PROCESSED record otherwise. The
// last message of every 8th actor is left unhandled. Records are appended in
// batches of 2,000 with relaxed durability. Prints the LSN range written.
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <string>
#include <tuple>
#include <vector>

#include "keel/journal/format.h"
#include "keel/journal/journal.h"
#include "keel/wire/envelope.h"
#include "keel/wire/value.h"

namespace {

struct Ledger {
  std::int64_t balance = 0;
  std::int64_t deposits = 0;
  static constexpr auto kFields =
      keel::fields(keel::field<&Ledger::balance>("balance"), keel::field<&Ledger::deposits>("deposits"));
};

struct Options {
  std::string path;
  std::uint64_t records = 1'000'000;
  std::uint64_t actors = 1'000;
  bool rocksdb = false;
};

bool parse(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--records" && i + 1 < argc) {
      o.records = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--actors" && i + 1 < argc) {
      o.actors = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--rocksdb") {
      o.rocksdb = true;
    } else if (o.path.empty() && a[0] != '-') {
      o.path = a;
    } else {
      return false;
    }
  }
  return !o.path.empty() && o.actors > 0 && o.records >= 2 * o.actors;
}

std::string owner(std::uint64_t actor) { return keel::actor_owner("account-" + std::to_string(actor)); }

std::string deposit(std::uint64_t actor, std::uint64_t n) {
  keel::wire::Envelope e;
  e.id = {actor + 1, n + 1};
  e.target = {0, "account-" + std::to_string(actor)};
  e.method = "deposit";
  e.payload = keel::wire::encode_args(static_cast<std::int64_t>(n % 1000));
  return keel::wire::encode_envelope(e).value();
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!parse(argc, argv, o)) {
    std::cerr << "usage: keel_journal_gen PATH [--records N] [--actors K] [--rocksdb]\n";
    return 2;
  }
  keel::JournalOptions jo;
  jo.durability = keel::Durability::kRelaxed;
  auto journal = o.rocksdb ? keel::open_rocks_journal(o.path, jo) : keel::open_journal(o.path, jo);
  if (!journal) {
    std::cerr << "keel_journal_gen: " << journal.status() << "\n";
    return 1;
  }
  keel::Result<keel::Lsn> last = (*journal)->last_lsn();
  if (!last) {
    std::cerr << "keel_journal_gen: " << last.status() << "\n";
    return 1;
  }
  keel::Lsn next = *last + 1;  // this process is the only writer
  const keel::Lsn first = next;
  std::vector<Ledger> ledgers(o.actors);
  std::vector<keel::NewRecord> batch;
  // Two records a message, but one for the last message of every 8th actor.
  const std::uint64_t unhandled = (o.actors + 7) / 8;
  const std::uint64_t messages = (o.records + unhandled + 1) / 2;
  for (std::uint64_t m = 0; m < messages; ++m) {
    const std::uint64_t actor = m % o.actors;
    const std::uint64_t nth = m / o.actors;
    const keel::Lsn inbox = next++;
    batch.push_back({owner(actor), keel::RecordKind::kInbox, deposit(actor, m)});
    const bool last_round = m + o.actors >= messages;
    if (last_round && actor % 8 == 0) continue;  // left unhandled
    Ledger& l = ledgers[actor];
    l.balance += static_cast<std::int64_t>(m % 1000);
    ++l.deposits;
    std::string cursor = nth % 10 == 9 ? keel::wire::encode_args(inbox, l, std::vector<std::string>())
                                       : keel::wire::encode_value(static_cast<std::uint64_t>(inbox));
    batch.push_back({owner(actor), nth % 10 == 9 ? keel::RecordKind::kSnapshot : keel::RecordKind::kProcessed,
                     std::move(cursor)});
    ++next;
    if (batch.size() >= 2000 || m + 1 == messages) {
      keel::Result<keel::LsnRange> r = (*journal)->append(std::move(batch));
      batch.clear();
      if (!r) {
        std::cerr << "keel_journal_gen: " << r.status() << "\n";
        return 1;
      }
    }
  }
  if (!batch.empty()) {
    keel::Result<keel::LsnRange> r = (*journal)->append(std::move(batch));
    if (!r) {
      std::cerr << "keel_journal_gen: " << r.status() << "\n";
      return 1;
    }
  }
  std::cout << "wrote lsn " << first << ".." << next - 1 << " to " << o.path << "\n";
  return 0;
}
