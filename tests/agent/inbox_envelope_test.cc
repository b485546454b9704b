// A call to a durable actor through keel-agent is journaled in its
// worker's journal as the envelope the worker received, byte for byte. The
// call goes out on a raw connection, so the test knows every byte of the
// envelope but the correlation id the agent gives it when forwarding.
#include <cstdint>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "agent_fixture.h"
#include "keel/journal/format.h"
#include "keel/journal/journal.h"
#include "keel/net/tcp_transport.h"
#include "keel/wire/control.h"
#include "keel/wire/envelope.h"

namespace keel {
namespace {

using testing::AgentTest;
using testing::kSecret;
using testing::kWait;
using testing::RemoteTally;
using testing::wait;

// Sends the envelope `bytes` as a call on a connection of its own and
// returns the reply's payload. Errors: kUnavailable (the connection
// closed first), the call's remote error, kTimeout past kWait.
Result<std::string> call_raw(std::uint16_t port, const std::string& bytes) {
  wire::TransportOptions options;
  options.secret = kSecret;
  options.node_name = "raw-caller";
  auto transport = wire::TcpTransport::create(options);
  if (!transport) return transport.status();
  std::promise<Result<std::string>> answer;
  std::once_flag answered;  // the close that follows a reply is no answer
  auto settle = [&](Result<std::string> r) {
    std::call_once(answered, [&] { answer.set_value(std::move(r)); });
  };
  wire::ConnectionCallbacks cb;
  cb.on_open = [&](wire::Connection& c) { c.send(wire::MessageType::kCall, bytes).ignore(); };
  cb.on_frame = [&](wire::Connection&, const wire::Frame& f) {
    if (f.type == wire::MessageType::kReply) {
      wire::Reply r;
      Status s = wire::decode_body(f.body, r);
      settle(s.is_ok() ? Result<std::string>(std::move(r.payload)) : Result<std::string>(s));
    } else if (f.type == wire::MessageType::kError) {
      wire::ErrorMessage e;
      Status s = wire::decode_body(f.body, e);
      settle(s.is_ok() ? e.to_status() : s);
    }
  };
  cb.on_close = [&](wire::Connection&, const Status& why) {
    settle(Status::unavailable("closed before the reply: " + why.to_string()));
  };
  wire::ReconnectOptions once;
  once.enabled = false;
  auto got = answer.get_future();
  auto link = (*transport)->connect("127.0.0.1", port, std::move(cb), once);
  if (got.wait_for(kWait) != std::future_status::ready) return Status::timeout("no reply within the deadline");
  Result<std::string> out = got.get();
  link.reset();  // before `answer` and `answered`, which its callbacks use
  return out;
}

TEST_F(AgentTest, ACallToADurableActorIsJournaledAsTheEnvelopeTheWorkerReceived) {
  ASSERT_TRUE(wait(client_->spawn("Tally", "t")).is_ok());
  wire::Envelope sent;
  sent.id = {0x7261772d63616c6cull, 1};
  sent.target.key = "t";
  sent.method = "add";
  sent.payload = wire::encode_args(std::int64_t{5});
  sent.reply_to.emplace();
  sent.reply_to->correlation_id = 9;
  sent.idempotent = true;
  Result<std::string> reply = call_raw(agent_->port(), wire::encode_envelope(sent).value());
  ASSERT_TRUE(reply.is_ok()) << reply.status();
  EXPECT_EQ(wire::decode_value<std::int64_t>(*reply).value(), 5);

  // The reply followed the commit of the call's INBOX record.
  JournalOptions read_only;
  read_only.read_only = true;
  auto journal = open_journal((dir_ / "journal" / "worker-0.db").string(), read_only);
  ASSERT_TRUE(journal.is_ok()) << journal.status();
  std::vector<std::string> inbox;
  ASSERT_TRUE((*journal)
                  ->scan_owner(actor_owner("t"), 1,
                               [&](const Record& r) {
                                 if (r.kind == RecordKind::kInbox) inbox.push_back(r.payload);
                                 return true;
                               })
                  .is_ok());
  ASSERT_EQ(inbox.size(), 1u);
  // The agent forwarded the envelope under a correlation id of its own.
  wire::Envelope journaled = wire::decode_envelope(inbox[0]).value();
  ASSERT_TRUE(journaled.reply_to.has_value()) << "the record is not the envelope the worker received";
  wire::Envelope forwarded = sent;
  forwarded.reply_to->correlation_id = journaled.reply_to->correlation_id;
  EXPECT_EQ(inbox[0], wire::encode_envelope(forwarded).value());
}

}  // namespace
}  // namespace keel
