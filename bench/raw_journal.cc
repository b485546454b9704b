// raw_journal.cc: raw SQLite / RocksDB synced commits (see raw_journal.h).
#include "raw_journal.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

namespace keel_bench {

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& why) { raw_baseline_failed("journal", why); }

}  // namespace

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void raw_baseline_failed(const std::string& which, const std::string& why) {
  std::fprintf(stderr, "raw %s baseline: %s\n", which.c_str(), why.c_str());
  std::exit(1);
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  std::size_t i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

double RawCommits::p50_us() const { return percentile(latency_us, 0.5); }
double RawCommits::p99_us() const { return percentile(latency_us, 0.99); }

RawCommits raw_sqlite_commits(const std::string& path, int batch, int commits,
                              std::size_t payload_bytes) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) die("sqlite open " + path);
  auto exec = [&](const char* sql) {
    if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) die(sqlite3_errmsg(db));
  };
  exec("PRAGMA journal_mode = WAL");
  exec("PRAGMA synchronous = FULL");
  exec("CREATE TABLE IF NOT EXISTS records (lsn INTEGER PRIMARY KEY, owner TEXT, seq INTEGER, "
       "payload BLOB)");
  sqlite3_stmt *insert = nullptr, *begin = nullptr, *commit = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO records (owner, seq, payload) VALUES (?1, ?2, ?3)", -1,
                     &insert, nullptr);
  sqlite3_prepare_v2(db, "BEGIN", -1, &begin, nullptr);
  sqlite3_prepare_v2(db, "COMMIT", -1, &commit, nullptr);
  const std::string p(payload_bytes, 'p');
  RawCommits out;
  out.batch = batch;
  out.commits = commits;
  out.latency_us.reserve(static_cast<std::size_t>(commits));
  std::int64_t seq = 0;
  auto t0 = Clock::now();
  for (int c = 0; c < commits; ++c) {
    auto c0 = Clock::now();
    sqlite3_step(begin);
    sqlite3_reset(begin);
    for (int i = 0; i < batch; ++i) {
      sqlite3_bind_text(insert, 1, "owner", -1, SQLITE_STATIC);
      sqlite3_bind_int64(insert, 2, ++seq);
      sqlite3_bind_blob(insert, 3, p.data(), static_cast<int>(p.size()), SQLITE_STATIC);
      if (sqlite3_step(insert) != SQLITE_DONE) die(sqlite3_errmsg(db));
      sqlite3_reset(insert);
    }
    if (sqlite3_step(commit) != SQLITE_DONE) die(sqlite3_errmsg(db));
    sqlite3_reset(commit);
    out.latency_us.push_back(seconds_since(c0) * 1e6);
  }
  out.seconds = seconds_since(t0);
  sqlite3_finalize(insert);
  sqlite3_finalize(begin);
  sqlite3_finalize(commit);
  sqlite3_close(db);
  return out;
}

RawCommits raw_rocks_commits(const std::string& path, int batch, int commits,
                             std::size_t payload_bytes) {
  rocksdb::Options o;
  o.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status st = rocksdb::DB::Open(o, path, &raw);
  if (!st.ok()) die("rocksdb open: " + st.ToString());
  std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::WriteOptions w;
  w.sync = true;
  const std::string p(payload_bytes, 'p');
  RawCommits out;
  out.batch = batch;
  out.commits = commits;
  out.latency_us.reserve(static_cast<std::size_t>(commits));
  std::uint64_t key = 0;
  auto t0 = Clock::now();
  for (int c = 0; c < commits; ++c) {
    auto c0 = Clock::now();
    rocksdb::WriteBatch b;
    for (int i = 0; i < batch; ++i) {
      char k[9] = {'L'};
      std::uint64_t be = __builtin_bswap64(++key);
      std::memcpy(k + 1, &be, 8);
      b.Put(rocksdb::Slice(k, 9), p);
    }
    st = db->Write(w, &b);
    if (!st.ok()) die("rocksdb write: " + st.ToString());
    out.latency_us.push_back(seconds_since(c0) * 1e6);
  }
  out.seconds = seconds_since(t0);
  st = db->Close();
  return out;
}

}  // namespace keel_bench
