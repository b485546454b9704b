#include "crc32c.h"

#include <gtest/gtest.h>

#include <string>

namespace keel::internal {
namespace {

TEST(Crc32c, MatchesTheStandardCheckValue) {
  EXPECT_EQ(crc32c::value("123456789"), 0xE3069283u);
}

TEST(Crc32c, MatchesRfc3720TestVectors) {
  // iSCSI (RFC 3720, B.4): 32 bytes of zeros, of 0xFF, ascending, descending.
  std::string zeros(32, '\0');
  std::string ones(32, '\xff');
  std::string up(32, '\0'), down(32, '\0');
  for (int i = 0; i < 32; ++i) {
    up[i] = static_cast<char>(i);
    down[i] = static_cast<char>(31 - i);
  }
  EXPECT_EQ(crc32c::value(zeros), 0x8A9136AAu);
  EXPECT_EQ(crc32c::value(ones), 0x62A8AB43u);
  EXPECT_EQ(crc32c::value(up), 0x46DD794Eu);
  EXPECT_EQ(crc32c::value(down), 0x113FDB5Cu);
}

TEST(Crc32c, EmptyInputHasCrcZero) { EXPECT_EQ(crc32c::value(""), 0u); }

TEST(Crc32c, ExtendingInPiecesEqualsOneShot) {
  std::string data = "hello world, this is a longer string to cross several words";
  for (std::size_t cut = 0; cut <= data.size(); ++cut) {
    std::uint32_t c = crc32c::value(data.data(), cut);
    c = crc32c::extend(c, data.data() + cut, data.size() - cut);
    EXPECT_EQ(c, crc32c::value(data)) << "cut at " << cut;
  }
}

TEST(Crc32c, CombiningTwoCrcsEqualsTheCrcOfTheConcatenation) {
  std::string data(3000, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 37 + 11);
  for (std::size_t cut : {0u, 1u, 8u, 41u, 100u, 2048u, 3000u}) {
    const std::uint32_t a = crc32c::value(data.data(), cut);
    const std::uint32_t b = crc32c::value(data.data() + cut, data.size() - cut);
    EXPECT_EQ(crc32c::combine(a, b, crc32c::shift_for(data.size() - cut)), crc32c::value(data)) << "cut at " << cut;
  }
}

TEST(Crc32c, HardwareAndPortablePathsAgreeOnUnalignedInput) {
  std::string data(1000, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 131 + 7);
  for (std::size_t offset = 0; offset < 9; ++offset) {
    for (std::size_t n : {0u, 1u, 7u, 8u, 9u, 63u, 500u}) {
      EXPECT_EQ(crc32c::extend(0, data.data() + offset, n),
                crc32c::extend_portable(0, data.data() + offset, n))
          << "offset " << offset << " n " << n;
    }
  }
}

}  // namespace
}  // namespace keel::internal
