// keel::Client's calls sent to workers directly (docs/distribution.md,
// "Direct calls"): once an agent has named the worker that hosts a key,
// the key's calls go to that worker over a connection of their own,
// skipping the hop through the agent; whatever the worker cannot take
// goes through the agent again.
#include "keel/wire/control.h"
#include "keel/wire/envelope.h"
#include "client_impl.h"

namespace keel {

using internal::DirectLinks;

bool Client::Impl::may_go_direct(const std::string& key) const {
  return options_.direct_calls && key != internal::kClusterKey && key != internal::kRegistryKey &&
         key != internal::kRouteKey;
}

bool Client::Impl::send_direct(Call& c) {
  if (!may_go_direct(c.key)) return false;
  const std::size_t link = direct_.usable(c.key, c.agent);
  if (link == DirectLinks::kNone) return false;
  // A frame that could not be sent was not delivered: it goes through the
  // agent, and the link's on_close drops its routes.
  if (!direct_.conn(link)->send(wire::MessageType::kCall, c.envelope).is_ok()) return false;
  c.link = link;
  return true;
}

void Client::Impl::ask_route(const std::string& key, std::size_t agent) {
  if (!may_go_direct(key) || stopping_) return;
  const SteadyTime now = std::chrono::steady_clock::now();
  if (!direct_.should_ask(key, agent, now)) return;
  const std::uint64_t sent = send_own_call(agent, internal::kRouteKey, internal::kWhere, wire::encode_args(key));
  if (sent != 0) direct_.asked(key, agent, sent, now);
}

bool Client::Impl::take_route_answer(std::size_t agent, std::uint64_t correlation, const std::string* payload,
                                     Completions& done) {
  std::optional<std::string> key = direct_.answered(correlation);
  if (!key) return false;
  std::optional<AgentEndpoint> at;
  if (payload != nullptr) {
    // An agent that knows no route questions (an older one) answers with
    // an error: its keys go through it.
    auto port = wire::decode_args<std::uint32_t>(*payload);
    if (port && std::get<0>(*port) != 0 && std::get<0>(*port) <= 65535) {
      at = AgentEndpoint{agents_[agent].host, static_cast<std::uint16_t>(std::get<0>(*port))};
    }
  }
  const std::size_t added = direct_.learn(*key, std::move(at), std::chrono::steady_clock::now());
  if (added != DirectLinks::kNone) done.new_links.push_back(added);
  return true;
}

void Client::Impl::connect_link(std::size_t i) {
  AgentEndpoint at;
  {
    MutexLock lock(mu_);
    if (stopping_) return;
    at = direct_.endpoint(i);
  }
  wire::ConnectionCallbacks cb;
  cb.on_open = [this, i](wire::Connection&) {
    MutexLock lock(mu_);
    direct_.opened(i);
  };
  cb.on_connect_error = [this, i](const Status& why) { on_link_lost(i, why); };
  cb.on_frame = [this, i](wire::Connection&, const wire::Frame& f) { on_link_frame(i, f); };
  cb.on_close = [this, i](wire::Connection&, const Status& why) { on_link_lost(i, why); };
  // A worker that goes away is not called again: its keys are asked for
  // anew, and its agent names the worker that hosts them next.
  wire::ReconnectOptions once;
  once.enabled = false;
  auto conn = transport_->connect(at.host, at.port, std::move(cb), once);
  // Kept even while the client stops: the destructor takes the links only
  // once no agent callback (this one's caller) runs.
  MutexLock lock(mu_);
  direct_.set_conn(i, std::move(conn));
}

void Client::Impl::on_link_frame(std::size_t link, const wire::Frame& f) {
  Completions done;
  {
    MutexLock lock(mu_);
    if (f.type == wire::MessageType::kReply) {
      wire::Reply r;
      if (wire::decode_body(f.body, r).is_ok()) {
        if (auto it = find_call(r.correlation_id, 0, link); it != calls_.end()) {
          done.calls.emplace_back(std::move(it->second.promise), std::move(r.payload));
          erase_call(it);
        }
      }
    } else if (f.type == wire::MessageType::kError) {
      wire::ErrorMessage e;
      auto it = wire::decode_body(f.body, e).is_ok() ? find_call(e.correlation_id, 0, link) : calls_.end();
      if (it != calls_.end()) {
        if (e.code == StatusCode::kNotFound && e.remote_type == internal::kAgentErrorType) {
          // The worker does not host the key (any more): not handled, so it
          // goes through the agent, which knows where it is now.
          direct_.forget(it->second.key, std::chrono::steady_clock::now());
          it->second.link = DirectLinks::kNone;
          --it->second.sends;
          send_call(it->first, done);
        } else {
          // A worker whose host lost the key's shard is not called again
          // for it until its agent names it anew.
          if (e.code == StatusCode::kOwnershipLost) direct_.forget(it->second.key, std::chrono::steady_clock::now());
          it->second.link = DirectLinks::kNone;
          retry_or_fail(it->first, e.to_status(), done);
        }
      }
    }
  }
  done.run();
}

void Client::Impl::on_link_lost(std::size_t link, const Status& why) {
  Completions done;
  {
    MutexLock lock(mu_);
    if (stopping_) return;
    direct_.lost(link, std::chrono::steady_clock::now());
    const Status lost = connection_lost("worker", direct_.endpoint(link), why);
    std::vector<std::uint64_t> ids;
    for (auto& [id, c] : calls_) {
      if (c.link == link) ids.push_back(id);
    }
    for (std::uint64_t id : ids) {
      calls_.at(id).link = DirectLinks::kNone;
      retry_or_fail(id, lost, done);
    }
  }
  done.run();
}

}  // namespace keel
