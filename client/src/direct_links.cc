#include "direct_links.h"

#include <utility>

namespace keel::internal {

std::size_t DirectLinks::usable(const std::string& key, std::size_t agent) const {
  auto it = routes_.find(key);
  if (it == routes_.end()) return kNone;
  const Route& r = it->second;
  if (r.link == kNone || r.agent != agent || r.through_agent != 0) return kNone;
  const Link& l = links_[r.link];
  return l.opened && !l.lost && l.conn != nullptr ? r.link : kNone;
}

bool DirectLinks::should_ask(const std::string& key, std::size_t agent, Time now) const {
  if (auto f = failed_connects_.find(agent); f != failed_connects_.end() && f->second >= kMaxFailedConnects) {
    return false;
  }
  auto it = routes_.find(key);
  if (it == routes_.end()) return true;
  const Route& r = it->second;
  if (r.asking != 0) return now - r.answered_at >= kQuestionTimeout;
  if (r.agent != agent) return true;
  return r.link == kNone && now - r.answered_at >= kAskAgain;
}

void DirectLinks::asked(const std::string& key, std::size_t agent, std::uint64_t correlation, Time now) {
  trim();
  Route& r = routes_[key];
  if (r.asking != 0) questions_.erase(r.asking);  // unanswered: its answer, if it comes, is dropped
  if (r.agent != agent) r.link = kNone;
  r.agent = agent;
  r.asking = correlation;
  r.answered_at = now;
  questions_[correlation] = key;
}

std::optional<std::string> DirectLinks::answered(std::uint64_t correlation) {
  auto it = questions_.find(correlation);
  if (it == questions_.end()) return std::nullopt;
  std::string key = std::move(it->second);
  questions_.erase(it);
  return key;
}

std::size_t DirectLinks::learn(const std::string& key, std::optional<AgentEndpoint> at, Time now) {
  auto it = routes_.find(key);
  if (it == routes_.end()) return kNone;
  Route& r = it->second;
  r.asking = 0;
  r.answered_at = now;
  r.link = kNone;
  if (!at) return kNone;
  for (std::size_t i = 0; i < links_.size(); ++i) {
    if (!links_[i].lost && links_[i].at == *at) {
      r.link = i;
      return kNone;
    }
  }
  if (links_.size() >= kMaxLinks) return kNone;
  Link l;
  l.at = std::move(*at);
  l.agent = r.agent;
  links_.push_back(std::move(l));
  r.link = links_.size() - 1;
  return r.link;
}

void DirectLinks::opened(std::size_t i) {
  Link& l = links_[i];
  if (l.lost) return;
  l.opened = true;
  failed_connects_.erase(l.agent);
}

void DirectLinks::forget(const std::string& key, Time now) {
  auto it = routes_.find(key);
  if (it == routes_.end()) return;
  it->second.link = kNone;
  it->second.answered_at = now;
}

void DirectLinks::ended_through_agent(const std::string& key) {
  auto it = routes_.find(key);
  if (it != routes_.end() && it->second.through_agent > 0) --it->second.through_agent;
}

void DirectLinks::lost(std::size_t i, Time now) {
  Link& l = links_[i];
  if (l.lost) return;
  l.lost = true;
  if (!l.opened) ++failed_connects_[l.agent];
  for (auto& [key, r] : routes_) {
    if (r.link != i) continue;
    r.link = kNone;
    r.answered_at = l.opened ? Time{} : now;
  }
}

std::vector<std::unique_ptr<wire::TcpClient>> DirectLinks::take_all() {
  std::vector<std::unique_ptr<wire::TcpClient>> out;
  for (Link& l : links_) {
    l.lost = true;
    if (l.conn) out.push_back(std::move(l.conn));
  }
  return out;
}

void DirectLinks::trim() {
  if (routes_.size() < kMaxRoutes) return;
  std::erase_if(routes_, [](const auto& e) {
    return e.second.link == kNone && e.second.asking == 0 && e.second.through_agent == 0;
  });
}

}  // namespace keel::internal
