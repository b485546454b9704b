#include "keel/base/metrics_registry.h"

#include <charconv>
#include <cmath>

#include "keel/base/check.h"

namespace keel {

struct MetricsRegistry::Series {
  MetricLabels labels;
  std::unique_ptr<Counter> counter;
  std::unique_ptr<Gauge> gauge;
  std::unique_ptr<Histogram> histogram;
};

struct MetricsRegistry::Family {
  std::string name;
  std::string help;
  MetricType type = MetricType::kCounter;
  std::vector<double> bounds;  // histograms
  std::vector<std::unique_ptr<Series>> series;
};

namespace {

bool is_name(std::string_view s, bool colon) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':') ||
                    (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool is_label_name(std::string_view s) { return is_name(s, false) && s.substr(0, 2) != "__"; }

// HELP text escapes backslash and newline; a label value also the double quote.
void append_escaped(std::string& out, std::string_view s, bool quote) {
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

// The shortest text that reads back as `v` (Go's ParseFloat, which
// Prometheus uses, reads every form to_chars writes), or +Inf, -Inf, NaN.
void append_double(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[32];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
  }
}

// {a="x",b="y"}, with `le` (when given) last; nothing without labels.
void append_labels(std::string& out, const MetricLabels& labels, const std::string* le) {
  if (labels.empty() && le == nullptr) return;
  out += '{';
  bool first = true;
  auto one = [&](std::string_view name, std::string_view value) {
    if (!first) out += ',';
    first = false;
    out += name;
    out += "=\"";
    append_escaped(out, value, true);
    out += '"';
  };
  for (const auto& [name, value] : labels) one(name, value);
  if (le != nullptr) one("le", *le);
  out += '}';
}

void append_sample(std::string& out, std::string_view name, std::string_view suffix, const MetricLabels& labels,
                   const std::string* le, std::string_view value) {
  out += name;
  out += suffix;
  append_labels(out, labels, le);
  out += ' ';
  out += value;
  out += '\n';
}

std::string double_text(double v) {
  std::string s;
  append_double(s, v);
  return s;
}

void append_histogram(std::string& out, const std::string& name, const MetricLabels& labels,
                      const HistogramSnapshot& s) {
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < s.counts.size(); ++i) {
    cumulative += s.counts[i];
    const std::string le = i < s.bounds.size() ? double_text(s.bounds[i]) : "+Inf";
    append_sample(out, name, "_bucket", labels, &le, std::to_string(cumulative));
  }
  append_sample(out, name, "_sum", labels, nullptr, double_text(s.sum));
  // The +Inf bucket's count, so that the two always agree.
  append_sample(out, name, "_count", labels, nullptr, std::to_string(cumulative));
}

std::string_view type_name(MetricType t) {
  switch (t) {
    case MetricType::kCounter: return "counter";
    case MetricType::kGauge: return "gauge";
    case MetricType::kHistogram: return "histogram";
  }
  return "untyped";
}

}  // namespace

MetricsRegistry::MetricsRegistry() = default;
MetricsRegistry::~MetricsRegistry() = default;

MetricsRegistry::Family& MetricsRegistry::family(std::string_view name, std::string_view help, MetricType type,
                                                 const std::vector<double>* bounds) {
  for (auto& f : families_) {
    if (f->name != name) continue;
    KEEL_CHECK(f->type == type, "metric registered again with another type");
    KEEL_CHECK(bounds == nullptr || f->bounds == *bounds, "histogram registered again with other bounds");
    return *f;
  }
  KEEL_CHECK(is_name(name, true), "bad metric name");
  auto f = std::make_unique<Family>();
  f->name = std::string(name);
  f->help = std::string(help);
  f->type = type;
  if (bounds != nullptr) f->bounds = *bounds;
  families_.push_back(std::move(f));
  return *families_.back();
}

MetricsRegistry::Series& MetricsRegistry::series(Family& f, const MetricLabels& labels) {
  for (auto& s : f.series) {
    if (s->labels == labels) return *s;
  }
  for (const auto& [name, value] : labels) {
    KEEL_CHECK(is_label_name(name), "bad metric label name");
    KEEL_CHECK(f.type != MetricType::kHistogram || name != "le", "a histogram's label may not be 'le'");
  }
  auto s = std::make_unique<Series>();
  s->labels = labels;
  switch (f.type) {
    case MetricType::kCounter: s->counter = std::make_unique<Counter>(); break;
    case MetricType::kGauge: s->gauge = std::make_unique<Gauge>(); break;
    case MetricType::kHistogram: s->histogram = std::make_unique<Histogram>(f.bounds); break;
  }
  f.series.push_back(std::move(s));
  return *f.series.back();
}

Counter& MetricsRegistry::counter(std::string_view name, std::string_view help, const MetricLabels& labels) {
  MutexLock l(mu_);
  return *series(family(name, help, MetricType::kCounter, nullptr), labels).counter;
}

Gauge& MetricsRegistry::gauge(std::string_view name, std::string_view help, const MetricLabels& labels) {
  MutexLock l(mu_);
  return *series(family(name, help, MetricType::kGauge, nullptr), labels).gauge;
}

Histogram& MetricsRegistry::histogram(std::string_view name, std::string_view help,
                                      const std::vector<double>& bounds, const MetricLabels& labels) {
  MutexLock l(mu_);
  return *series(family(name, help, MetricType::kHistogram, &bounds), labels).histogram;
}

std::string MetricsRegistry::render() const {
  MutexLock l(mu_);
  std::string out;
  for (const auto& f : families_) {
    out += "# HELP ";
    out += f->name;
    out += ' ';
    append_escaped(out, f->help, false);
    out += "\n# TYPE ";
    out += f->name;
    out += ' ';
    out += type_name(f->type);
    out += '\n';
    for (const auto& s : f->series) {
      switch (f->type) {
        case MetricType::kCounter:
          append_sample(out, f->name, "", s->labels, nullptr, std::to_string(s->counter->value()));
          break;
        case MetricType::kGauge:
          append_sample(out, f->name, "", s->labels, nullptr, double_text(s->gauge->value()));
          break;
        case MetricType::kHistogram:
          append_histogram(out, f->name, s->labels, s->histogram->snapshot());
          break;
      }
    }
  }
  return out;
}

}  // namespace keel
