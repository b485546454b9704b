// A restart-safe batch inference pipeline: every document of a folder goes
// through a graph of actor nodes
//
//   chunk -> tokenize -> model -> post-process -> write
//
// as one durable workflow run per document (the run id is the file name).
// Each node visit is a journaled step, so a pipeline killed at any point and
// started again on the same journal resumes each document at its first
// unfinished node: a document whose model step finished is not scored again,
// and the outputs equal those of an uninterrupted run. The model is a
// character n-gram language model per topic (model.h), trained at start-up
// from the shipped corpus. Walkthrough: docs/pipeline.md.
//
// Usage: keel_pipeline [docs-dir [out-dir [journal]]] [--journal J] [--workers N]
//   defaults: examples/pipeline/corpus /tmp/keel-pipeline/out
//             /tmp/keel-pipeline/journal.db, N = one per core
//   The journal is a SQLite file, a RocksDB directory or a postgresql:// URL
//   (keel/journal/journal.h, open_journal).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "keel/engine/engine.h"
#include "keel/journal/journal.h"
#include "keel/workflow/graph.h"
#include "keel/workflow/workflow.h"
#include "model.h"

namespace fs = std::filesystem;

namespace {

int fail(const keel::Status& error) {  // prints why and exits 1
  std::cerr << "keel_pipeline: " << error << "\n";
  return 1;
}

// [snippet doc]
// One chunk's scores, filled by the model node.
struct ChunkScore {
  int index = 0;
  int chars = 0;                    // normalized characters scored
  std::vector<double> perplexity;  // one per topic, in topic order
  std::string topic;                // the topic with the lowest perplexity
  static constexpr auto kFields = keel::fields(
      keel::field<&ChunkScore::index>("index"), keel::field<&ChunkScore::chars>("chars"),
      keel::field<&ChunkScore::perplexity>("perplexity"), keel::field<&ChunkScore::topic>("topic"));
};

// The value that flows through the graph. Each node fills its fields and
// clears what later nodes no longer need, so each journaled step stays small.
struct Doc {
  std::string name;                 // file name: the run id
  std::string path;                 // input file
  std::string out_dir;              // where "write" puts <name>.json
  std::vector<std::string> chunks;  // chunk: paragraphs
  std::vector<std::string> tokens;  // tokenize: each chunk normalized (a-z, spaces)
  std::vector<std::string> topics;  // model: topic names
  std::vector<ChunkScore> scores;   // model: one per chunk
  std::string topic;                // post-process: the document's topic
  std::string json;                 // post-process: the output file's content
  std::string written;              // write: the output file
  static constexpr auto kFields = keel::fields(
      keel::field<&Doc::name>("name"), keel::field<&Doc::path>("path"),
      keel::field<&Doc::out_dir>("out_dir"), keel::field<&Doc::chunks>("chunks"),
      keel::field<&Doc::tokens>("tokens"), keel::field<&Doc::topics>("topics"),
      keel::field<&Doc::scores>("scores"), keel::field<&Doc::topic>("topic"),
      keel::field<&Doc::json>("json"), keel::field<&Doc::written>("written"));
};
// [/snippet doc]

// The documents the model scored in this process (a document whose model
// step the journal already held is not scored again). Any thread.
std::mutex g_scored_mu;
std::set<std::string> g_scored;

keel::Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return keel::Status::io_error("cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// --- the stages: plain functions of a Doc -----------------------------------

// Splits the file into paragraphs (separated by blank lines).
keel::Result<Doc> chunk(const Doc& in) {
  KEEL_ASSIGN_OR_RETURN(std::string text, read_file(in.path));
  Doc out = in;
  std::string paragraph;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    bool blank = line.find_first_not_of(" \t\r") == std::string::npos;
    if (!blank) paragraph += (paragraph.empty() ? "" : " ") + line;
    if (blank && !paragraph.empty()) out.chunks.push_back(std::move(paragraph)), paragraph.clear();
  }
  if (!paragraph.empty()) out.chunks.push_back(std::move(paragraph));
  return out;
}

keel::Result<Doc> tokenize(const Doc& in) {
  Doc out = in;
  for (const std::string& c : in.chunks) out.tokens.push_back(pipeline::normalize(c));
  out.chunks.clear();
  return out;
}

// Scores each chunk under every topic model. The expensive stage.
keel::Result<Doc> score(const pipeline::TopicModel& model, const Doc& in) {
  {
    std::lock_guard<std::mutex> lock(g_scored_mu);
    g_scored.insert(in.name);
  }
  Doc out = in;
  out.topics = model.topics();
  for (std::size_t i = 0; i < in.tokens.size(); ++i) {
    ChunkScore s;
    s.index = static_cast<int>(i);
    s.chars = static_cast<int>(in.tokens[i].size());
    s.perplexity = model.perplexities(in.tokens[i]);
    auto best = std::min_element(s.perplexity.begin(), s.perplexity.end());
    s.topic = out.topics[static_cast<std::size_t>(best - s.perplexity.begin())];
    out.scores.push_back(std::move(s));
  }
  out.tokens.clear();
  return out;
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// Picks the document's topic (the lowest character-weighted mean log
// perplexity) and renders the output JSON. Fixed precision: the bytes do not
// depend on timing or on the machine's default formatting.
keel::Result<Doc> post_process(const Doc& in) {
  Doc out = in;
  std::vector<double> log_ppl(in.topics.size(), 0.0);
  double chars = 0;
  for (const ChunkScore& s : in.scores) {
    for (std::size_t t = 0; t < s.perplexity.size() && t < log_ppl.size(); ++t) {
      log_ppl[t] += s.chars * std::log(s.perplexity[t]);
    }
    chars += s.chars;
  }
  std::size_t best = 0;
  for (std::size_t t = 0; t < log_ppl.size(); ++t) {
    if (log_ppl[t] < log_ppl[best]) best = t;
  }
  out.topic = in.topics.empty() ? "" : in.topics[best];
  std::string j = "{\n  \"document\": \"" + in.name + "\",\n  \"topic\": \"" + out.topic + "\",\n";
  j += "  \"chars\": " + std::to_string(static_cast<long long>(chars)) + ",\n  \"perplexity\": {";
  for (std::size_t t = 0; t < in.topics.size(); ++t) {
    double ppl = chars > 0 ? std::exp(log_ppl[t] / chars) : 1.0;
    j += (t ? ", \"" : "\"") + in.topics[t] + "\": " + fixed(ppl, 4);
  }
  j += "},\n  \"chunks\": [\n";
  for (std::size_t i = 0; i < in.scores.size(); ++i) {
    const ChunkScore& s = in.scores[i];
    j += "    {\"index\": " + std::to_string(s.index) + ", \"chars\": " + std::to_string(s.chars) +
         ", \"topic\": \"" + s.topic + "\", \"perplexity\": " +
         fixed(s.perplexity.empty() ? 1.0 : *std::min_element(s.perplexity.begin(), s.perplexity.end()), 4) +
         "}" + (i + 1 < in.scores.size() ? ",\n" : "\n");
  }
  j += "  ]\n}\n";
  out.json = std::move(j);
  out.scores.clear();
  return out;
}

// Writes <out_dir>/<name>.json atomically: a temporary file, fsync, rename,
// fsync of the directory. A kill leaves the old file or the new one, never
// half of one; writing the same bytes twice is harmless, so a visit asked
// again after a restart is too.
keel::Result<Doc> write_output(const Doc& in) {
  const std::string final_path = in.out_dir + "/" + in.name + ".json";
  const std::string tmp_path = in.out_dir + "/." + in.name + ".json.tmp";
  int fd = ::open(tmp_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return keel::Status::io_error("cannot create " + tmp_path);
  std::size_t done = 0;
  while (done < in.json.size()) {
    ssize_t n = ::write(fd, in.json.data() + done, in.json.size() - done);
    if (n < 0) {
      ::close(fd);
      return keel::Status::io_error("cannot write " + tmp_path);
    }
    done += static_cast<std::size_t>(n);
  }
  bool synced = ::fsync(fd) == 0;
  if (::close(fd) != 0 || !synced) return keel::Status::io_error("cannot sync " + tmp_path);
  if (std::rename(tmp_path.c_str(), final_path.c_str()) != 0) {
    return keel::Status::io_error("cannot rename " + tmp_path);
  }
  int dir = ::open(in.out_dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  Doc out;  // the run's result: small, the content is in the file
  out.name = in.name;
  out.topic = in.topic;
  out.written = final_path;
  return out;
}

// [snippet stage]
// A graph node: an actor that hands each document to the next worker of its
// stage's pool (round-robin) and replies when that worker does, so one stage
// works on as many documents at once as the pool has members.
using Worker = keel::FunctionNode<Doc>;
class Stage : public keel::Actor {
 public:
  explicit Stage(keel::Pool<Worker>* workers) : workers_(workers) {}
  keel::Future<Doc> process(const Doc& doc) { return workers_->ask<&Worker::process>(doc); }
  static constexpr auto kHandlers = keel::handlers(keel::handler<&Stage::process>("process"));

 private:
  keel::Pool<Worker>* workers_;  // owned by main; outlives the system's actors
};
// [/snippet stage]

struct Options {
  std::string docs = "examples/pipeline/corpus";
  std::string out = "/tmp/keel-pipeline/out";
  std::string journal = "/tmp/keel-pipeline/journal.db";
  int workers = 0;  // per stage; 0: one per core
};

keel::Result<Options> parse(int argc, char** argv) {
  Options o;
  std::vector<std::string> positional;
  std::string journal_flag;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--workers" && i + 1 < argc) {
      o.workers = std::atoi(argv[++i]);
    } else if ((a == "--journal" || a == "-j") && i + 1 < argc) {
      journal_flag = argv[++i];
    } else if (a.starts_with("-")) {
      return keel::Status::invalid_argument(
          "usage: keel_pipeline [docs-dir [out-dir [journal]]] [--journal PATH|URL] [--workers N]");
    } else {
      positional.push_back(a);
    }
  }
  if (positional.size() > 3) return keel::Status::invalid_argument("too many arguments");
  if (positional.size() > 2 && !journal_flag.empty())
    return keel::Status::invalid_argument("the journal is given twice: as an argument and with --journal");
  if (positional.size() > 0) o.docs = positional[0];
  if (positional.size() > 1) o.out = positional[1];
  if (positional.size() > 2) o.journal = positional[2];
  if (!journal_flag.empty()) o.journal = journal_flag;
  if (o.workers <= 0) o.workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return o;
}

// `s` as one shell word: as is when it has only safe characters, else in
// single quotes (a URL's '&' and '?' would otherwise split the command).
std::string shell_quoted(const std::string& s) {
  const bool safe = !s.empty() && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) != 0 || std::strchr("/._-+:,=@%", c) != nullptr;
  });
  if (safe) return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// The .txt files of `dir`, sorted by name.
keel::Result<std::vector<fs::path>> list_docs(const std::string& dir) {
  std::error_code ec;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_regular_file() && entry.path().extension() == ".txt") files.push_back(entry.path());
  }
  if (ec) return keel::Status::io_error("cannot list " + dir + ": " + ec.message());
  std::sort(files.begin(), files.end());
  return files;
}

// Trains one model per topic on the shipped corpus (the label is the file
// name up to its first '-'), or on `fallback` if the corpus is not there.
keel::Result<pipeline::TopicModel> train(const std::string& fallback) {
  std::string dir = KEEL_PIPELINE_CORPUS;
  if (!fs::is_directory(dir)) dir = fallback;
  KEEL_ASSIGN_OR_RETURN(std::vector<fs::path> files, list_docs(dir));
  pipeline::TopicModel model;
  for (const fs::path& f : files) {
    std::string stem = f.stem().string();
    KEEL_ASSIGN_OR_RETURN(std::string text, read_file(f.string()));
    model.add(stem.substr(0, stem.find('-')), pipeline::normalize(text));
  }
  return model;
}

std::string seconds(double s) { return fixed(s, 1) + "s"; }

// The progress lines and the closing summary. Only states what it knows:
// the rate counts completions since the first one (so the time the first
// document takes to cross every stage does not skew it), and it and the
// ETA are shown once kMinForRate documents have finished over at least
// kMinSpan (completions come in bursts, one per group commit); outputs are reported where the runs wrote them
// (a run keeps the output folder it was started with), and documents that
// failed are counted apart from those scored now or taken from the journal.
// Not thread-safe: the caller serializes.
class Progress {
 public:
  explicit Progress(int total) : total_(total), start_(Clock::now()) {}

  // Records one finished run and returns its progress line.
  std::string finish(const std::string& name, const keel::Result<Doc>& r) {
    ++done_;
    const Clock::time_point now = Clock::now();
    if (done_ == 1) first_ = now;
    std::string line = "[" + std::to_string(done_) + "/" + std::to_string(total_) + "] " + name + " ";
    if (r) {
      ++by_topic_[r->topic];
      ok_.insert(name);
      ++out_dirs_[fs::path(r->written).parent_path().string()];
      line += r->topic;
    } else {
      failures_.push_back(name + ": " + r.status().to_string());
      line += "FAILED: " + r.status().to_string();
    }
    if (done_ >= kMinForRate && done_ < total_) {
      double span = std::chrono::duration<double>(now - first_).count();
      if (span >= kMinSpanSeconds) {
        double rate = (done_ - 1) / span;
        line += "  " + fixed(rate, 1) + " docs/s  ETA " + seconds((total_ - done_) / rate);
      }
    }
    return line;
  }

  int done() const { return done_; }
  int failed() const { return static_cast<int>(failures_.size()); }

  // The closing lines. `requested_out` is where this invocation asked for
  // outputs; `scored` the documents the model scored in this process.
  std::string summary(const std::string& requested_out, const std::set<std::string>& scored) const {
    const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
    std::string s = "done: " + std::to_string(ok_.size()) + "/" + std::to_string(total_) + " documents in " +
                    seconds(elapsed) + ", " + std::to_string(failed()) + " failed\n";
    for (const std::string& f : failures_) s += "  failed: " + f + "\n";
    for (const auto& [dir, n] : out_dirs_) {
      s += "outputs: " + std::to_string(n) + " in " + dir;
      if (dir != requested_out) s += " (not " + requested_out + ": each run keeps the output folder it was started with)";
      s += "\n";
    }
    for (const auto& [topic, n] : by_topic_) s += "  " + topic + ": " + std::to_string(n) + "\n";
    int from_journal = 0;
    for (const std::string& name : ok_) from_journal += scored.count(name) ? 0 : 1;
    s += "model computed " + std::to_string(scored.size()) + " documents this run, " +
         std::to_string(from_journal) + " from the journal\n";
    return s;
  }

 private:
  using Clock = std::chrono::steady_clock;
  static constexpr int kMinForRate = 5;            // completions before a rate is shown
  static constexpr double kMinSpanSeconds = 0.5;  // and the time they must span

  int total_;
  int done_ = 0;
  Clock::time_point start_;
  Clock::time_point first_;  // when the first document finished
  std::set<std::string> ok_;
  std::vector<std::string> failures_;
  std::map<std::string, int> by_topic_;
  std::map<std::string, int> out_dirs_;
};

}  // namespace

int main(int argc, char** argv) {
  auto options = parse(argc, argv);
  if (!options) return fail(options.status());
  const Options& o = *options;
  std::error_code ec;
  fs::create_directories(o.out, ec);
  if (fs::path(o.journal).has_parent_path()) fs::create_directories(fs::path(o.journal).parent_path(), ec);
  const std::string out_dir = fs::absolute(o.out).lexically_normal().string();

  auto files = list_docs(o.docs);
  if (!files) return fail(files.status());
  const auto t0 = std::chrono::steady_clock::now();
  auto model = train(o.docs);
  if (!model) return fail(model.status());
  std::cout << "model: " << pipeline::kOrder << "-gram character models for " << model->topics().size()
            << " topics, trained in "
            << seconds(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count())
            << "\n";

  auto journal = keel::open_journal(o.journal, {});
  if (!journal) return fail(journal.status());
  keel::System system;

  // [snippet graph]
  // One pool of workers and one node actor per stage.
  const std::pair<const char*, std::function<keel::Result<Doc>(const Doc&)>> stages[] = {
      {"chunk", chunk},
      {"tokenize", tokenize},
      {"model", [m = &*model](const Doc& d) { return score(*m, d); }},
      {"post-process", post_process},
      {"write", write_output}};
  std::vector<std::unique_ptr<keel::Pool<Worker>>> pools;
  keel::GraphBuilder<Doc> g;
  for (const auto& [name, fn] : stages) {
    pools.push_back(std::make_unique<keel::Pool<Worker>>(system));
    if (auto s = pools.back()->spawn(static_cast<std::size_t>(o.workers), fn); !s.is_ok()) return fail(s);
    auto node = system.spawn<Stage>(pools.back().get());
    if (!node) return fail(node.status());
    g.node(name, *node);
  }
  g.edge("chunk", "tokenize").edge("tokenize", "model").edge("model", "post-process");
  g.edge("post-process", "write");
  auto graph = g.build();
  if (!graph) return fail(graph.status());
  keel::Workflows workflows;
  if (auto s = keel::define_graph(workflows, "pipeline", *graph); !s.is_ok()) return fail(s);
  // [/snippet graph]

  keel::WorkflowEngineOptions engine_options;
  engine_options.system = &system;
  engine_options.journal = journal->get();
  auto engine = keel::WorkflowEngine::open(workflows, engine_options);
  if (!engine) return fail(engine.status());

  // Start every document (idempotent by run id: after a restart this finds
  // the runs already in the journal), then report results as they complete.
  const int total = static_cast<int>(files->size());
  std::mutex mu;
  std::condition_variable all_done;
  Progress progress(total);
  std::cout << "pipeline: " << total << " documents from " << o.docs << " -> " << o.out << " (journal "
            << o.journal << ", " << o.workers << " workers per stage)" << std::endl;
  for (const fs::path& f : *files) {
    Doc doc;
    doc.name = f.filename().string();
    doc.path = fs::absolute(f).lexically_normal().string();
    doc.out_dir = out_dir;
    auto run = (*engine)->start<Doc>("pipeline", doc.name, doc);
    if (!run) return fail(run.status());
    run->result().then([&, name = doc.name](keel::Result<Doc> r) {
      std::lock_guard<std::mutex> lock(mu);
      std::cout << progress.finish(name, r) << std::endl;
      if (progress.done() == total) all_done.notify_all();
    });
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    all_done.wait(lock, [&] { return progress.done() == total; });
  }
  engine->reset();
  keel::Status down = system.shutdown(keel::ShutdownMode::kDrain);

  std::set<std::string> scored;
  {
    std::lock_guard<std::mutex> lock(g_scored_mu);
    scored = g_scored;
  }
  std::cout << "\n" << progress.summary(out_dir, scored) << "\n"
            << "Inspect the journal:\n"
            << "  build/tools/keel journal ls -j " << shell_quoted(o.journal) << "\n"
            << "  build/tools/keel journal show "
            << shell_quoted(files->empty() ? std::string("<doc>") : files->front().filename().string())
            << " -j " << shell_quoted(o.journal) << "\n";
  return progress.failed() == 0 && down.is_ok() ? 0 : 1;
}
