// examples/pipeline/model.h: the pipeline's model, a character-level n-gram
// language model per topic with add-k smoothing.
//
// Training reads labelled documents (the label is the file name up to its
// first '-', so "astronomy-03.txt" is about "astronomy") and counts every
// n-gram of orders 1..kOrder in their normalized text (a-z and single
// spaces). Scoring a text under a topic interpolates the orders, sweeping
// the smoothing constant and the interpolation weights; the text's perplexity under each topic says how surprising it is
// to that topic's model, and the topic with the lowest one is the text's
// class. Everything is integer counting and double arithmetic in a fixed
// order, so a given corpus and text always give the same numbers.
//
//   pipeline::TopicModel model;
//   model.add("astronomy", normalize("The telescope found a comet."));
//   std::vector<double> ppl = model.perplexities(normalize("a bright comet"));
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace pipeline {

// Symbols: 'a'..'z' are 1..26 and the space is 27; 5 bits each.
inline constexpr int kOrder = 7;               // longest n-gram
inline constexpr int kSymbols = 27;            // vocabulary size V
// The add-k values and interpolation ratios (order n weighs ratio^n) swept
// per chunk: each pair is a full scoring pass, and the best pair is kept.
inline constexpr double kSmoothing[] = {0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0};
inline constexpr double kRatios[] = {1.0, 1.5, 2.0, 3.0, 4.0};

// Lowercases `text`, maps every non-letter to a space and collapses runs of
// spaces, so the model sees only a-z and single spaces.
inline std::string normalize(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    char l = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    if (l >= 'a' && l <= 'z') {
      out.push_back(l);
    } else if (!out.empty() && out.back() != ' ') {
      out.push_back(' ');
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

inline int symbol(char c) { return c == ' ' ? kSymbols : c - 'a' + 1; }

// One topic's counts. Key: the n-gram's symbols (5 bits each) and its order
// (bits 48+); a context count sets bit 44 so it never collides with an n-gram.
class NgramCounts {
 public:
  void add(std::string_view text) {
    for (std::size_t i = 0; i < text.size(); ++i) {
      for (int n = 1; n <= kOrder && static_cast<std::size_t>(n) <= i + 1; ++n) {
        ++counts_[key(text, i, n)];
        ++counts_[context_key(text, i, n)];
      }
    }
  }
  // log p(text[i] | the kOrder-1 symbols before it): each order add-k
  // smoothed, order n weighted ratio^n.
  double log_prob(std::string_view text, std::size_t i, double k, double ratio) const {
    double p = 0;
    double weights = 0;
    double w = 1;
    for (int n = 1; n <= kOrder && static_cast<std::size_t>(n) <= i + 1; ++n) {
      w *= ratio;
      double c = count(key(text, i, n));
      double h = count(context_key(text, i, n));
      p += w * (c + k) / (h + k * kSymbols);
      weights += w;
    }
    return std::log(p / weights);
  }

 private:
  // The n-gram ending at text[i].
  static std::uint64_t key(std::string_view text, std::size_t i, int n) {
    std::uint64_t k = 0;
    for (std::size_t j = i + 1 - static_cast<std::size_t>(n); j <= i; ++j) {
      k = k << 5 | static_cast<std::uint64_t>(symbol(text[j]));  // at most 35 bits
    }
    k |= static_cast<std::uint64_t>(n) << 48;
    return k;
  }
  // Its context: the n-1 symbols before text[i].
  static std::uint64_t context_key(std::string_view text, std::size_t i, int n) {
    if (n == 1) return std::uint64_t{1} << 44;
    return key(text, i - 1, n - 1) | std::uint64_t{1} << 44;
  }
  double count(std::uint64_t k) const {
    auto it = counts_.find(k);
    return it == counts_.end() ? 0.0 : static_cast<double>(it->second);
  }

  std::unordered_map<std::uint64_t, std::uint32_t> counts_;
};

// Per-topic models, topics in name order. Build with add(), then score from
// any number of threads (scoring only reads).
class TopicModel {
 public:
  void add(const std::string& topic, std::string_view normalized_text) {
    models_[topic].add(normalized_text);
  }
  std::vector<std::string> topics() const {
    std::vector<std::string> names;
    for (const auto& [name, counts] : models_) names.push_back(name);
    return names;
  }
  // The perplexity of `text` (normalized) under each topic, in topics()
  // order: for each topic the lowest over the kSmoothing x kRatios sweep.
  // An empty text has perplexity 1 everywhere.
  std::vector<double> perplexities(std::string_view text) const {
    std::vector<double> out;
    for (const auto& [name, counts] : models_) {
      double best = 0;
      for (double k : kSmoothing) {
        for (double ratio : kRatios) {
          double log_sum = 0;
          for (std::size_t i = 0; i < text.size(); ++i) log_sum += counts.log_prob(text, i, k, ratio);
          double ppl = text.empty() ? 1.0 : std::exp(-log_sum / static_cast<double>(text.size()));
          if (best == 0 || ppl < best) best = ppl;
        }
      }
      out.push_back(best);
    }
    return out;
  }

 private:
  std::map<std::string, NgramCounts> models_;
};

}  // namespace pipeline
