// raw_pg.cc: raw PostgreSQL synced commits through libpq (see raw_pg.h).
#include "raw_pg.h"

#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <latch>
#include <thread>
#include <vector>

namespace keel_bench {

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void die(const std::string& why) { raw_baseline_failed("PostgreSQL", why); }

// A table no other run uses.
std::string fresh_table() {
  static std::atomic<int> n{0};
  return "keel_raw_" + std::to_string(::getpid()) + "_" + std::to_string(n.fetch_add(1));
}

// One connection, the INSERT into `table` prepared, in pipeline mode once
// start_pipeline() ran. One thread at a time.
class RawConnection {
 public:
  explicit RawConnection(const std::string& url) : conn_(PQconnectdb(url.c_str())) {
    if (PQstatus(conn_) != CONNECTION_OK) die(std::string("connect: ") + PQerrorMessage(conn_));
    // The server's notices (DROP ... CASCADE lists every dropped object) are
    // not the benchmark's output.
    PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);
  }
  ~RawConnection() { PQfinish(conn_); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  void exec(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    if (PQresultStatus(r) != PGRES_COMMAND_OK) die(sql + ": " + PQerrorMessage(conn_));
    PQclear(r);
  }
  // A one-parameter query's rows (text); the caller PQclear()s them.
  PGresult* query(const char* sql, const char* const* values) {
    PGresult* r = PQexecParams(conn_, sql, 1, nullptr, values, nullptr, nullptr, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) die(std::string(sql) + ": " + PQerrorMessage(conn_));
    return r;
  }
  void start_pipeline(const std::string& table) {
    PGresult* r = PQprepare(conn_, "insert", ("INSERT INTO " + table + " (payload) VALUES ($1)").c_str(), 1,
                            nullptr);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) die(std::string("prepare: ") + PQerrorMessage(conn_));
    PQclear(r);
    if (PQenterPipelineMode(conn_) != 1) die(std::string("pipeline mode: ") + PQerrorMessage(conn_));
  }
  // BEGIN, `rows` INSERTs of `payload` and COMMIT in one round trip;
  // returns once the server has committed.
  void commit(int rows, const std::string& payload) {
    const char* values[1] = {payload.data()};
    const int lengths[1] = {static_cast<int>(payload.size())};
    const int formats[1] = {1};  // binary bytea
    send(PQsendQueryParams(conn_, "BEGIN", 0, nullptr, nullptr, nullptr, nullptr, 0));
    for (int i = 0; i < rows; ++i) send(PQsendQueryPrepared(conn_, "insert", 1, values, lengths, formats, 0));
    send(PQsendQueryParams(conn_, "COMMIT", 0, nullptr, nullptr, nullptr, nullptr, 0));
    send(PQpipelineSync(conn_));
    for (int q = 0; q < rows + 2; ++q) {
      PGresult* r = PQgetResult(conn_);
      if (r == nullptr || PQresultStatus(r) != PGRES_COMMAND_OK) die(std::string("commit: ") + PQerrorMessage(conn_));
      PQclear(r);
      if (PGresult* end = PQgetResult(conn_); end != nullptr) die("commit: more results than statements");
    }
    PGresult* sync = PQgetResult(conn_);
    if (sync == nullptr || PQresultStatus(sync) != PGRES_PIPELINE_SYNC) die(std::string("sync: ") + PQerrorMessage(conn_));
    PQclear(sync);
  }
  void end_pipeline() {
    if (PQexitPipelineMode(conn_) != 1) die(std::string("pipeline mode: ") + PQerrorMessage(conn_));
  }

 private:
  void send(int ok) {
    if (ok != 1) die(std::string("send: ") + PQerrorMessage(conn_));
  }

  PGconn* conn_;
};

void create_table(RawConnection& c, const std::string& table) {
  c.exec("CREATE TABLE " + table + " (id bigserial PRIMARY KEY, payload bytea NOT NULL)");
}

}  // namespace

RawCommits raw_pg_commits(const std::string& url, int batch, int commits, std::size_t payload_bytes) {
  RawConnection c(url);
  const std::string table = fresh_table();
  create_table(c, table);
  c.start_pipeline(table);
  const std::string payload(payload_bytes, 'p');
  RawCommits out;
  out.batch = batch;
  out.commits = commits;
  out.latency_us.reserve(static_cast<std::size_t>(commits));
  const auto t0 = Clock::now();
  for (int i = 0; i < commits; ++i) {
    const auto c0 = Clock::now();
    c.commit(batch, payload);
    out.latency_us.push_back(seconds_since(c0) * 1e6);
  }
  out.seconds = seconds_since(t0);
  c.end_pipeline();
  c.exec("DROP TABLE " + table);
  return out;
}

RawCommits raw_pg_clients(const std::string& url, int clients, int batch, double seconds,
                          std::size_t payload_bytes) {
  RawConnection setup(url);
  const std::string table = fresh_table();
  create_table(setup, table);
  const std::string payload(payload_bytes, 'p');
  std::vector<std::vector<double>> latencies(static_cast<std::size_t>(clients));
  std::latch ready(clients + 1);
  std::atomic<bool> go{false};
  Clock::time_point t0;
  std::vector<std::thread> threads;
  for (int k = 0; k < clients; ++k) {
    threads.emplace_back([&, k] {
      RawConnection c(url);
      c.start_pipeline(table);
      ready.count_down();
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      const auto end = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
      std::vector<double>& lat = latencies[static_cast<std::size_t>(k)];
      for (auto now = Clock::now(); now < end; now = Clock::now()) {
        c.commit(batch, payload);
        lat.push_back(seconds_since(now) * 1e6);
      }
      c.end_pipeline();
    });
  }
  ready.arrive_and_wait();
  t0 = Clock::now();
  go.store(true, std::memory_order_release);
  for (std::thread& t : threads) t.join();
  RawCommits out;
  out.batch = batch;
  out.seconds = seconds_since(t0);
  for (const std::vector<double>& lat : latencies) {
    out.commits += static_cast<int>(lat.size());
    out.latency_us.insert(out.latency_us.end(), lat.begin(), lat.end());
  }
  setup.exec("DROP TABLE " + table);
  return out;
}

void drop_pg_schemas(const std::string& url, const std::string& prefix) {
  RawConnection c(url);
  std::vector<std::string> names;
  {
    const std::string pattern = prefix + "%";
    const char* values[1] = {pattern.c_str()};
    PGresult* r = c.query("SELECT nspname FROM pg_namespace WHERE nspname LIKE $1", values);
    for (int i = 0; i < PQntuples(r); ++i) names.emplace_back(PQgetvalue(r, i, 0));
    PQclear(r);
  }
  for (const std::string& n : names) c.exec("DROP SCHEMA \"" + n + "\" CASCADE");
}

}  // namespace keel_bench
