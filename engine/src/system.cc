#include "keel/engine/system.h"

#include "cell.h"
#include "runtime.h"

namespace keel {

System::System() : System(SystemConfig{}) {}

System::System(SystemConfig config) : rt_(new internal::Runtime(*this, std::move(config))) {
  rt_->scheduler().start();
}

System::~System() {
  rt_->shutdown(ShutdownMode::kStop, std::chrono::seconds(30)).ignore();
  rt_->detach();
  rt_->release();
}

Result<AnyRef> System::spawn_erased(const SpawnOptions& options, const std::type_info& type,
                                    Factory factory, detail::Cell* parent) {
  return rt_->spawn(options, type, std::move(factory), parent);
}

Status System::register_name(const std::string& name, const AnyRef& ref) {
  if (!ref.valid()) return Status::invalid_argument("cannot register '" + name + "': empty ref");
  return rt_->register_name(name, ref.cell(), ref.generation());
}

Status System::unregister_name(const std::string& name) { return rt_->unregister_name(name); }

Result<AnyRef> System::lookup_any(const std::string& name, const std::type_info* type) const {
  return rt_->lookup(name, type);
}

void System::note_unknown_target(std::string_view name, std::string_view method) {
  rt_->dead_letter_unknown(name, method);
}

void System::stop(const AnyRef& ref) {
  if (!ref.valid()) return;
  ref.cell()->send_system(detail::make_sys(detail::SysMsg::kStop));
}

Future<Down> System::watch(const AnyRef& ref) {
  Promise<Down> p;
  Future<Down> f = p.future();
  if (!ref.valid()) {
    p.set_value(Down{ref, Status::not_found("watch of an empty actor ref")});
    return f;
  }
  detail::SysMsgPtr m = detail::make_sys(detail::SysMsg::kMonitor);
  m->watch.emplace(std::move(p));
  ref.cell()->send_system(std::move(m));
  return f;
}

TimerId System::schedule_timer(Duration delay, Duration period, std::function<void()> fire,
                               ActorId owner) {
  (void)owner;
  return rt_->timers().schedule(rt_->clock().now() + delay, period, std::move(fire));
}

bool System::cancel_timer(TimerId id) { return rt_->timers().cancel(id); }

Status System::shutdown(ShutdownMode mode, Duration deadline) { return rt_->shutdown(mode, deadline); }
bool System::is_shut_down() const { return rt_->is_shut_down(); }

bool System::run_one() {
  KEEL_CHECK(rt_->scheduler().threads() == 0, "run_one() needs a System with threads = 0");
  return rt_->scheduler().run_one();
}

std::size_t System::run_until_idle(std::size_t max_steps) {
  std::size_t n = 0;
  while (n < max_steps && run_one()) ++n;
  return n;
}

DeadLetterChannel& System::dead_letters() { return rt_->dead_letters(); }
SystemSnapshot System::snapshot() const { return rt_->snapshot(); }
EngineMetrics System::metrics() const { return rt_->metrics(); }
Clock& System::clock() const { return rt_->clock(); }
int System::worker_threads() const { return rt_->scheduler().threads(); }

}  // namespace keel
