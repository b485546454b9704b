// `keel journal show --schema FILE.capnp --type NAME`: Cap'n Proto payloads
// rendered as JSON with the user's schema, and as hex without it.
#include <capnp/dynamic.h>
#include <capnp/message.h>
#include <capnp/schema-parser.h>
#include <capnp/serialize.h>
#include <gtest/gtest.h>
#include <kj/filesystem.h>

#include <fstream>
#include <string>

#include "keel/wire/envelope.h"
#include "tools/bank_journal.h"

namespace keel::testing {
namespace {

constexpr const char* kSchema = R"(@0xd5a1c9f0e3b7a241;
struct Order {
  id @0 :Text;
  qty @1 :UInt32;
  tags @2 :List(Text);
  rush @3 :Bool;
  kind @4 :Kind;
  enum Kind { retail @0; wholesale @1; }
}
struct Other { x @0 :Int8; }
)";

class CapnpSchemaTest : public BankJournalTest<SqliteBackend> {
 protected:
  void SetUp() override {
    BankJournalTest<SqliteBackend>::SetUp();
    schema_ = dir_ + "/order.capnp";
    std::ofstream(schema_) << kSchema;
  }

  // An Order built through the schema, as flat-array Cap'n Proto bytes.
  std::string order_bytes() {
    auto fs = kj::newDiskFilesystem();
    capnp::SchemaParser parser;
    capnp::ParsedSchema file =
        parser.parseFromDirectory(fs->getRoot(), kj::Path::parse(schema_.substr(1)), nullptr);
    capnp::MallocMessageBuilder message;
    auto order = message.initRoot<capnp::DynamicStruct>(file.getNested("Order").asStruct());
    order.set("id", "A-17");
    order.set("qty", 3);
    auto tags = order.init("tags", 2).as<capnp::DynamicList>();
    tags.set(0, "rush");
    tags.set(1, "gift");
    order.set("rush", true);
    order.set("kind", "wholesale");
    kj::Array<capnp::word> words = capnp::messageToFlatArray(message);
    kj::ArrayPtr<const kj::byte> bytes = words.asBytes();
    return std::string(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
  }

  // actor/shop: an INBOX envelope with a Cap'n Proto payload, and an EVENT
  // record whose payload is the bare Cap'n Proto message.
  void write_shop() {
    open_writer();
    wire::Envelope e;
    e.id = {1, 2};
    e.target = {0, "shop"};
    e.method = "place";
    e.payload = order_bytes();
    e.payload_encoding = wire::PayloadEncoding::kCapnp;
    std::vector<NewRecord> batch;
    batch.push_back({"actor/shop", RecordKind::kInbox, wire::encode_envelope(e).value()});
    batch.push_back({"actor/shop", RecordKind::kEvent, order_bytes()});
    ASSERT_TRUE(writer_->append(std::move(batch)).is_ok());
    writer_.reset();
  }

  std::string schema_;
};

constexpr const char* kOrderJson =
    R"({"id":"A-17","qty":3,"tags":["rush","gift"],"rush":true,"kind":"wholesale"})";

TEST_F(CapnpSchemaTest, PayloadsRenderAsJsonWithTheSchema) {
  write_shop();
  CliRun r = keel("show", {"shop", "--json", "--schema", schema_, "--type", "Order"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(JsonCheck::valid(r.out)) << r.out;
  EXPECT_TRUE(has(r.out, std::string("\"encoding\":\"capnp\",\"payload_format\":\"capnp\",\"payload\":") + kOrderJson))
      << r.out;
  EXPECT_TRUE(has(r.out, std::string("\"kind\":\"event\"")) &&
              has(r.out, std::string("\"payload_format\":\"capnp\",\"payload\":") + kOrderJson + "}"))
      << r.out;
}

TEST_F(CapnpSchemaTest, PayloadsAreHexWithoutTheSchema) {
  write_shop();
  CliRun r = keel("show", {"shop", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(JsonCheck::valid(r.out)) << r.out;
  EXPECT_TRUE(has(r.out, "\"encoding\":\"capnp\",\"payload_format\":\"hex\",\"payload\":\"")) << r.out;
  CliRun human = keel("show", {"shop"});
  EXPECT_TRUE(has(human.out, "place(hex ")) << human.out;
}

TEST_F(CapnpSchemaTest, ATypeIsNeededWhenTheSchemaHasSeveralStructs) {
  write_shop();
  CliRun r = keel("show", {"shop", "--schema", schema_});
  EXPECT_EQ(r.exit_code, 2);
  expect_one_line_error(r, "give --type");
  CliRun unknown = keel("show", {"shop", "--schema", schema_, "--type", "Nope"});
  EXPECT_EQ(unknown.exit_code, 2);
  expect_one_line_error(unknown, "Nope");
}

}  // namespace
}  // namespace keel::testing
