#include "pipeline/drop_oldest_queue.hpp"

#include <catch2/catch.hpp>

using sidelight::pipeline::chunk;
using sidelight::pipeline::drop_oldest_queue;
using sidelight::pipeline::kChunkOverhead;

namespace {

chunk make(char tag, std::size_t bytes, std::uint32_t items) {
  return chunk{std::make_shared<const sidelight::codec::payload>(bytes, tag), items, {}, {}};
}

}  // namespace

TEST_CASE("drop-oldest queue drops the oldest chunks first and counts them", "[queue]") {
  constexpr auto held = 40 + kChunkOverhead;
  drop_oldest_queue q(2 * held + 10, 0);
  CHECK(q.push(make('a', 40, 4)).items == 0);
  CHECK(q.push(make('b', 40, 5)).items == 0);
  auto d = q.push(make('c', 40, 6));  // three chunks do not fit: 'a' must go
  CHECK(d.items == 4);
  CHECK(d.bytes == held);
  CHECK(d.chunks == 1);
  CHECK(q.bytes() == 2 * held);
  CHECK(q.items() == 11);
  CHECK(q.front().bytes->front() == 'b');
}

TEST_CASE("drop-oldest queue honours an item bound as well as bytes", "[queue]") {
  drop_oldest_queue q(1 << 20, 10);
  q.push(make('a', 1, 6));
  auto d = q.push(make('b', 1, 6));
  CHECK(d.items == 6);
  CHECK(q.items() == 6);
  CHECK(q.front().bytes->front() == 'b');
}

TEST_CASE("a chunk bigger than the whole queue is itself dropped", "[queue]") {
  drop_oldest_queue q(100 + kChunkOverhead, 0);
  q.push(make('a', 10, 1));
  auto d = q.push(make('b', 200, 7));
  CHECK(d.items == 8);
  CHECK(q.empty());
  CHECK(q.bytes() == 0);
}

TEST_CASE("pop_batch stays within the item and byte limits but always takes one", "[queue]") {
  drop_oldest_queue q(1 << 20, 0);
  for (char c : {'a', 'b', 'c', 'd'})
    q.push(make(c, 100, 10));
  auto b = q.pop_batch(25, 1 << 20);
  REQUIRE(b.size() == 2);
  CHECK(b[0].bytes->front() == 'a');
  CHECK(b[1].bytes->front() == 'b');
  b = q.pop_batch(1000, 150);
  REQUIRE(b.size() == 1);
  CHECK(b[0].bytes->front() == 'c');
  b = q.pop_batch(1, 1);  // over both limits alone: still leaves
  REQUIRE(b.size() == 1);
  CHECK(q.empty());
  CHECK(q.items() == 0);
  CHECK(q.bytes() == 0);
}

TEST_CASE("drop-oldest queue honours a chunk bound as well", "[queue]") {
  drop_oldest_queue q(1000, 0, 3);
  for (char tag : {'a', 'b', 'c', 'd', 'e'}) {
    auto d = q.push(make(tag, 1, 1));
    CHECK(d.chunks == (tag >= 'd' ? 1u : 0u));
  }
  CHECK(q.items() == 3);
  CHECK(q.front().bytes->front() == 'c');
}

TEST_CASE("each chunk counts its bookkeeping against the byte bound", "[queue]") {
  // 10,000 one-byte chunks would be 10 KB of bytes but over 1 MB of memory: the bound sees that.
  drop_oldest_queue q(64 << 10, 0);
  std::uint64_t dropped = 0;
  for (int i = 0; i < 10000; ++i)
    dropped += q.push(make('x', 1, 1)).items;
  CHECK(q.items() == (64 << 10) / (1 + kChunkOverhead));
  CHECK(q.bytes() == q.items() * (1 + kChunkOverhead));
  CHECK(dropped + q.items() == 10000);
  auto b = q.pop_batch(1000000, 1 << 20);
  std::uint64_t encoded = 0;
  for (const auto& c : b)
    encoded += c.size();
  CHECK(encoded == b.size());  // a batch's byte bound is about a request's size: bytes only
  CHECK(q.bytes() == 0);
}
