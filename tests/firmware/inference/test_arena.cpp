#include "spindle/inference/arena.hpp"

#include <gtest/gtest.h>

#include <cstdint>

#include "inference_test_support.hpp"

namespace spindle::inference {
namespace {

using test::ArenaBuffer;

std::uintptr_t address(const void* p) {
  return reinterpret_cast<std::uintptr_t>(p);
}

TEST(Arena, PersistentBlocksComeFromTheEndAndScratchFromTheStart) {
  ArenaBuffer buffer(256);
  Arena arena(buffer.span());
  EXPECT_EQ(arena.capacity(), 256u);

  const auto persistent = arena.allocate_persistent(10);
  ASSERT_TRUE(persistent.ok());
  EXPECT_EQ(persistent->data(), buffer.span().data() + 240);
  EXPECT_EQ(persistent->size(), 16u);

  const auto scratch = arena.allocate_scratch(20);
  ASSERT_TRUE(scratch.ok());
  EXPECT_EQ(scratch->data(), buffer.span().data());
  EXPECT_EQ(scratch->size(), 32u);
  EXPECT_EQ(arena.used_bytes(), 48u);
}

TEST(Arena, EveryBlockIsAlignedWhateverTheBufferAlignment) {
  for (std::size_t misalignment = 0; misalignment < Arena::kAlignment; ++misalignment) {
    ArenaBuffer buffer(200, misalignment);
    Arena arena(buffer.span());
    for (const std::size_t bytes : {1u, 3u, 17u, 4u}) {
      const auto p = arena.allocate_persistent(bytes);
      const auto s = arena.allocate_scratch(bytes);
      ASSERT_TRUE(p.ok() && s.ok()) << misalignment;
      EXPECT_EQ(address(p->data()) % Arena::kAlignment, 0u);
      EXPECT_EQ(address(s->data()) % Arena::kAlignment, 0u);
    }
    EXPECT_TRUE(buffer.guards_intact());
  }
}

TEST(Arena, RunningOutIsDoesNotFitAndChangesNothing) {
  ArenaBuffer buffer(64);
  Arena arena(buffer.span());
  ASSERT_TRUE(arena.allocate_persistent(32).ok());
  ASSERT_TRUE(arena.allocate_scratch(16).ok());
  EXPECT_EQ(arena.allocate_persistent(17).status(), Error::kDoesNotFit);
  EXPECT_EQ(arena.allocate_scratch(17).status(), Error::kDoesNotFit);
  EXPECT_EQ(arena.allocate_scratch(static_cast<std::size_t>(-1)).status(), Error::kDoesNotFit);
  EXPECT_EQ(arena.used_bytes(), 48u);
  // The last 16 bytes are still there, for either end.
  EXPECT_TRUE(arena.allocate_scratch(16).ok());
  EXPECT_EQ(arena.allocate_persistent(1).status(), Error::kDoesNotFit);
  EXPECT_TRUE(buffer.guards_intact());
}

TEST(Arena, ResetScratchReleasesScratchOnly) {
  ArenaBuffer buffer(64);
  Arena arena(buffer.span());
  ASSERT_TRUE(arena.allocate_persistent(16).ok());
  ASSERT_TRUE(arena.allocate_scratch(48).ok());
  arena.reset_scratch();
  EXPECT_EQ(arena.used_bytes(), 16u);
  EXPECT_TRUE(arena.allocate_scratch(48).ok());
  arena.reset();
  EXPECT_EQ(arena.used_bytes(), 0u);
}

TEST(Arena, HighWaterMarkKeepsThePeakIncludingFrontPadding) {
  ArenaBuffer buffer(128, 5);  // 11 bytes of padding before the first aligned byte
  Arena arena(buffer.span());
  EXPECT_EQ(arena.capacity(), 112u);
  ASSERT_TRUE(arena.allocate_persistent(16).ok());
  ASSERT_TRUE(arena.allocate_scratch(40).ok());
  EXPECT_EQ(arena.high_water_mark(), 11u + 16u + 48u);
  arena.reset();
  ASSERT_TRUE(arena.allocate_scratch(16).ok());
  EXPECT_EQ(arena.high_water_mark(), 11u + 16u + 48u);
  EXPECT_LE(arena.high_water_mark(), buffer.span().size());
}

TEST(Arena, RequiredBytesIsExactlyEnough) {
  const std::size_t blocks = Arena::aligned_size(20) + Arena::aligned_size(9);
  for (std::size_t misalignment = 0; misalignment < Arena::kAlignment; ++misalignment) {
    SCOPED_TRACE(misalignment);
    ArenaBuffer probe(1, misalignment);
    const std::size_t required = Arena::required_bytes(probe.span().data(), blocks);
    {
      ArenaBuffer buffer(required, misalignment);
      Arena arena(buffer.span());
      EXPECT_TRUE(arena.allocate_persistent(20).ok());
      EXPECT_TRUE(arena.allocate_scratch(9).ok());
      EXPECT_EQ(arena.high_water_mark(), required);
    }
    {
      ArenaBuffer buffer(required - 1, misalignment);
      Arena arena(buffer.span());
      EXPECT_TRUE(arena.allocate_persistent(20).ok());
      EXPECT_EQ(arena.allocate_scratch(9).status(), Error::kDoesNotFit);
    }
  }
}

TEST(Arena, AnArenaOverNothingRefusesEverySizedBlock) {
  Arena arena;
  EXPECT_EQ(arena.capacity(), 0u);
  EXPECT_EQ(arena.allocate_persistent(1).status(), Error::kDoesNotFit);
  EXPECT_EQ(arena.allocate_scratch(1).status(), Error::kDoesNotFit);
  std::uint8_t tiny[7];
  Arena too_small(tiny);  // may not even reach an aligned byte
  EXPECT_EQ(too_small.allocate_scratch(1).status(), Error::kDoesNotFit);
}

TEST(Arena, TypedBlocksAreValueInitialised) {
  ArenaBuffer buffer(256);
  std::fill(buffer.span().begin(), buffer.span().end(), std::uint8_t{0xee});
  Arena arena(buffer.span());
  const auto values = arena.create_persistent_array<std::int32_t>(5);
  ASSERT_TRUE(values.ok());
  ASSERT_EQ(values->size(), 5u);
  for (const std::int32_t v : *values)
    EXPECT_EQ(v, 0);
  struct Pair {
    std::int32_t a;
    float b;
  };
  const auto pair = arena.create_persistent<Pair>();
  ASSERT_TRUE(pair.ok());
  EXPECT_EQ((*pair)->a, 0);
  EXPECT_EQ(arena.create_persistent_array<std::int32_t>(static_cast<std::size_t>(-1) / 2).status(),
            Error::kDoesNotFit);
}

TEST(Arena, AlignedSizeRoundsUpAndSaturates) {
  EXPECT_EQ(Arena::aligned_size(0), 0u);
  EXPECT_EQ(Arena::aligned_size(1), 16u);
  EXPECT_EQ(Arena::aligned_size(16), 16u);
  EXPECT_EQ(Arena::aligned_size(17), 32u);
  EXPECT_EQ(Arena::aligned_size(static_cast<std::size_t>(-1)) % Arena::kAlignment, 0u);
  EXPECT_GT(Arena::aligned_size(static_cast<std::size_t>(-1)), static_cast<std::size_t>(-1) / 2);
}

}  // namespace
}  // namespace spindle::inference
