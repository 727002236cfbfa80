#include "codec/payload.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <vector>

#include "pipeline/drop_oldest_queue.hpp"

namespace codec = sidelight::codec;
using sidelight::codec::payload;
using sidelight::codec::payload_pool;
using sidelight::codec::payloads_are_mapped;
using sidelight::codec::release_unused_payloads;

namespace {

std::size_t pages(std::size_t n) {  // the mapping for n bytes and the NUL
  static const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return (n + 1 + page - 1) / page * page;
}

// Empties the pool's reuse list, so each test starts from nothing cached.
void drain() {
  release_unused_payloads(std::chrono::steady_clock::now() + std::chrono::hours(1));
}

}  // namespace

TEST_CASE("A small payload is heap memory, a large one a mapping of its own", "[payload]") {
  drain();
  auto before = payload_pool();
  {
    payload small(1000, 'a');
    CHECK(payload_pool().mapped_bytes == before.mapped_bytes);
    payload large(200 * 1024, 'b');
    if (payloads_are_mapped()) {
      CHECK(payload_pool().mapped_bytes == before.mapped_bytes + pages(200 * 1024));
    }
    CHECK(large[0] == 'b');
    CHECK(large[large.size() - 1] == 'b');
  }
  auto after = payload_pool();
  CHECK(after.mapped_bytes == before.mapped_bytes);
  if (payloads_are_mapped()) {
    CHECK(after.cached == 1);  // kept for the next one
    CHECK(after.cached_bytes == pages(200 * 1024));
  }
  drain();
  CHECK(payload_pool().cached == 0);
}

TEST_CASE("A kept mapping is reused for a payload of another size, contents intact", "[payload]") {
  drain();
  { payload first(300 * 1024, 'x'); }
  for (std::size_t size : {100u * 1024, 700u * 1024, 64u * 1024}) {
    payload p;
    p.reserve(size);
    for (std::size_t i = 0; i < size; ++i)
      p.push_back(static_cast<char>('a' + i % 26));
    bool intact = true;
    for (std::size_t i = 0; i < size; ++i)
      intact = intact && p[i] == static_cast<char>('a' + i % 26);
    CHECK(intact);
    if (payloads_are_mapped()) {
      CHECK(payload_pool().cached == 0);  // the one kept mapping was taken and resized
    }
  }
  drain();
}

TEST_CASE("Mappings unused for a second are unmapped, newer ones stay", "[payload]") {
  drain();
  auto now = std::chrono::steady_clock::now();
  { payload p(128 * 1024, 'o'); }
  release_unused_payloads(now);  // not a second old yet
  if (payloads_are_mapped()) CHECK(payload_pool().cached == 1);
  release_unused_payloads(now + std::chrono::seconds(2));
  CHECK(payload_pool().cached == 0);
  CHECK(payload_pool().cached_bytes == 0);
}

TEST_CASE("A queue turned over many times holds mappings for what it holds, no more", "[payload]") {
  drain();
  auto before = payload_pool().mapped_bytes;
  constexpr std::uint64_t kBound = 4u << 20;
  constexpr std::size_t kChunk = 171 * 1024;
  {
    sidelight::pipeline::drop_oldest_queue q(kBound, 0);
    for (int i = 0; i < 500; ++i) {
      auto bytes = std::make_shared<payload>(kChunk, static_cast<char>('a' + i % 26));
      q.push(sidelight::pipeline::chunk{std::move(bytes), 1, {}, {}});
      auto mapped = payload_pool().mapped_bytes - before;
      REQUIRE(mapped <= q.items() * pages(kChunk));
    }
    constexpr auto held = kChunk + sidelight::pipeline::kChunkOverhead;
    CHECK(q.bytes() == kBound / held * held);
  }
  CHECK(payload_pool().mapped_bytes == before);
  auto cached = payload_pool();
  CHECK(cached.cached_bytes <= 16u << 20);
  drain();
}

TEST_CASE("Freed mappings are kept only within the room the fullest holder has left", "[payload]") {
  if (!payloads_are_mapped()) return;  // heap blocks: nothing is kept
  // 24 mappings freed at once, 6 MiB and their NULs' pages.
  auto free_many = [] {
    std::vector<payload> v;
    for (int i = 0; i < 24; ++i)
      v.emplace_back(std::size_t{256 * 1024}, 'q');
  };
  drain();
  {
    sidelight::codec::payload_holder roomy(64u << 20);
    sidelight::codec::payload_holder holder(8u << 20);
    free_many();
    CHECK(payload_pool().cached == 24);  // empty holders: the whole batch is kept
    drain();

    holder.set_held((8u << 20) - (2u << 20));
    free_many();
    CHECK(payload_pool().cached_bytes <= 2u << 20);
    CHECK(payload_pool().cached_bytes > 1u << 20);
    drain();

    holder.set_held(9u << 20);  // over its bound
    free_many();
    CHECK(payload_pool().cached_bytes <= 1u << 20);
    CHECK(payload_pool().cached > 0);  // enough to swap one buffer for another
    drain();
  }
  free_many();  // both holders gone
  CHECK(payload_pool().cached == 24);
  drain();
}

TEST_CASE("Pieces joined are one request in order, each released as it is copied", "[payload]") {
  std::vector<codec::payload_ptr> parts;
  parts.push_back(std::make_shared<const codec::payload>("ab"));
  parts.push_back(std::make_shared<const codec::payload>(""));
  parts.push_back(std::make_shared<const codec::payload>("cde"));
  auto kept = parts[2];
  auto joined = codec::join(parts);
  CHECK(*joined == "abcde");
  CHECK(parts[0] == nullptr);
  CHECK(kept.use_count() == 1);  // the join let go of its piece
  // One piece is passed on as it is, not copied.
  std::vector<codec::payload_ptr> one{kept};
  CHECK(codec::join(one).get() == kept.get());
}
