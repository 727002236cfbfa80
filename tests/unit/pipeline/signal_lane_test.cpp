#include "pipeline/signal_lane.hpp"

#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <filesystem>

#include "held_exporter.hpp"

using namespace std::chrono_literals;
namespace pipeline = sidelight::pipeline;
namespace exporting = sidelight::exporting;
namespace codec = sidelight::codec;

namespace {

using sidelight::test::held_exporter;
using sidelight::test::run_until;

pipeline::chunk make(char tag, std::size_t bytes, std::uint32_t items) {
  return pipeline::chunk{std::make_shared<const codec::payload>(bytes, tag), items, {}, {}};
}

pipeline::lane_settings settings() {
  pipeline::lane_settings s;
  s.queue_max_bytes = 10 * (100 + pipeline::kChunkOverhead);  // ten chunks of 100 bytes
  s.batch_max_items = 10;
  s.batch_max_bytes = 1 << 20;
  s.batch_timeout = 20ms;
  s.retry.initial_interval = 5ms;
  s.retry.max_interval = 10ms;
  s.retry.max_elapsed_time = 0s;
  s.max_in_flight = 2;
  return s;
}

}  // namespace

TEST_CASE("a lane sends a full batch at once, joined at the byte level", "[lane]") {
  boost::asio::io_context io;
  auto exp = std::make_shared<held_exporter>();
  auto lane = std::make_shared<pipeline::signal_lane>(io, exp, codec::signal::traces, settings());
  lane->offer(make('a', 3, 4));
  lane->offer(make('b', 2, 6));  // 10 items: the item trigger
  run_until(
      io, [&] { return exp->calls.size() == 1; }, 15ms);
  CHECK(*exp->calls.front().request == "aaabb");
  auto st = lane->stats();
  CHECK(st.in_flight_items == 10);
  CHECK(st.balanced());
  exp->answer(exporting::export_outcome::kind::ok);
  run_until(io, [&] { return lane->stats().exported_items == 10; });
  CHECK(lane->stats().balanced());
}

TEST_CASE("a lane hands an exporter that sends parts the queued payloads themselves", "[lane]") {
  boost::asio::io_context io;
  auto exp = std::make_shared<held_exporter>();
  exp->takes_parts = true;
  auto lane = std::make_shared<pipeline::signal_lane>(io, exp, codec::signal::traces, settings());
  auto a = make('a', 3, 4);
  auto b = make('b', 2, 6);
  const auto* a_bytes = a.bytes.get();
  const auto* b_bytes = b.bytes.get();
  lane->offer(std::move(a));
  lane->offer(std::move(b));
  run_until(
      io, [&] { return exp->calls.size() == 1; }, 15ms);
  // Not a copy: the very buffers intake queued, in order.
  REQUIRE(exp->calls.front().parts.size() == 2);
  CHECK(exp->calls.front().parts[0].get() == a_bytes);
  CHECK(exp->calls.front().parts[1].get() == b_bytes);
  CHECK(*exp->calls.front().request == "aaabb");
  exp->answer(exporting::export_outcome::kind::ok);
  run_until(io, [&] { return lane->stats().exported_items == 10; });
  CHECK(lane->stats().balanced());
}

TEST_CASE("a lane sends a partial batch when the batch timeout passes", "[lane]") {
  boost::asio::io_context io;
  auto exp = std::make_shared<held_exporter>();
  auto lane = std::make_shared<pipeline::signal_lane>(io, exp, codec::signal::logs, settings());
  lane->offer(make('a', 3, 1));
  run_until(io, [&] { return exp->calls.size() == 1; });
  CHECK(*exp->calls.front().request == "aaa");
  exp->calls.clear();  // the unanswered call holds the lane
}

TEST_CASE("a lane retries a retryable failure and pauses new batches meanwhile", "[lane]") {
  boost::asio::io_context io;
  auto exp = std::make_shared<held_exporter>();
  auto lane = std::make_shared<pipeline::signal_lane>(io, exp, codec::signal::traces, settings());
  lane->offer(make('a', 10, 10));
  run_until(io, [&] { return exp->calls.size() == 1; });
  exp->answer(exporting::export_outcome::kind::retryable);
  lane->offer(make('b', 10, 10));
  run_until(io, [&] { return exp->calls.size() == 1; });
  CHECK(exp->calls.front().request->front() == 'a');  // the probe is the failed batch
  auto st = lane->stats();
  CHECK_FALSE(st.upstream_ok);
  CHECK(st.retries == 1);
  CHECK(st.queued_items == 10);
  CHECK(st.balanced());
  exp->answer(exporting::export_outcome::kind::ok);
  run_until(io, [&] { return exp->calls.size() == 1; });
  CHECK(exp->calls.front().request->front() == 'b');
  exp->answer(exporting::export_outcome::kind::ok);
  run_until(io, [&] { return lane->stats().exported_items == 20; });
  CHECK(lane->stats().upstream_ok);
  CHECK(lane->stats().balanced());
}

TEST_CASE("a probe waiting out a long backoff goes sooner once the full queue drops data",
          "[lane]") {
  boost::asio::io_context io;
  auto exp = std::make_shared<held_exporter>();
  auto s = settings();
  s.retry.initial_interval = 60s;  // the probe would wait a minute
  s.retry.max_interval = 60s;
  auto lane = std::make_shared<pipeline::signal_lane>(io, exp, codec::signal::traces, s);
  lane->offer(make('a', 100, 10));
  run_until(io, [&] { return exp->calls.size() == 1; });
  exp->answer(exporting::export_outcome::kind::retryable);
  run_until(io, [&] { return !lane->stats().upstream_ok; });
  // The queue fills and drops its oldest: the upstream may be back, and data is being lost.
  for (int i = 0; i < 12; ++i)
    lane->offer(make('b', 100, 1));
  REQUIRE(lane->stats().dropped_items[static_cast<int>(pipeline::drop_reason::queue_full)] > 0);
  run_until(
      io, [&] { return exp->calls.size() == 1; }, 5s);
  CHECK(exp->calls.front().request->front() == 'a');  // the waiting batch is the probe
  exp->answer(exporting::export_outcome::kind::ok);
  run_until(io, [&] { return lane->stats().upstream_ok; });
  exp->calls.clear();
}

TEST_CASE("a probe hurried by drops still waits for the upstream's own hint", "[lane]") {
  boost::asio::io_context io;
  auto exp = std::make_shared<held_exporter>();
  auto s = settings();
  s.retry.initial_interval = 60s;
  s.retry.max_interval = 60s;
  auto lane = std::make_shared<pipeline::signal_lane>(io, exp, codec::signal::traces, s);
  lane->offer(make('a', 100, 10));
  run_until(io, [&] { return exp->calls.size() == 1; });
  exp->answer(exporting::export_outcome::kind::retryable, 0, 1500ms);  // "not before 1.5 s"
  auto refused = std::chrono::steady_clock::now();
  run_until(io, [&] { return !lane->stats().upstream_ok; });
  for (int i = 0; i < 12; ++i)
    lane->offer(make('b', 100, 1));
  run_until(
      io, [&] { return exp->calls.size() == 1; }, 5s);
  CHECK(std::chrono::steady_clock::now() - refused >= 1500ms);
  exp->calls.clear();
}

TEST_CASE("a lane counts permanent failures and partial success as rejected", "[lane]") {
  boost::asio::io_context io;
  auto exp = std::make_shared<held_exporter>();
  auto lane = std::make_shared<pipeline::signal_lane>(io, exp, codec::signal::traces, settings());
  lane->offer(make('a', 10, 10));
  run_until(io, [&] { return exp->calls.size() == 1; });
  exp->answer(exporting::export_outcome::kind::permanent);
  lane->offer(make('b', 10, 10));
  run_until(io, [&] { return exp->calls.size() == 1; });
  exp->answer(exporting::export_outcome::kind::ok, 3);
  run_until(io, [&] { return lane->stats().in_flight_items == 0; });
  auto st = lane->stats();
  CHECK(st.exported_items == 7);
  CHECK(st.dropped_items[static_cast<std::size_t>(pipeline::drop_reason::rejected_by_upstream)] ==
        13);
  CHECK(st.balanced());
}

TEST_CASE("a full lane drops the oldest and the books still balance", "[lane]") {
  boost::asio::io_context io;
  auto exp = std::make_shared<held_exporter>();
  auto s = settings();
  s.batch_max_items = 1000;
  s.batch_timeout = 1h;
  auto lane = std::make_shared<pipeline::signal_lane>(io, exp, codec::signal::logs, s);
  for (int i = 0; i < 30; ++i)
    lane->offer(make(static_cast<char>('a' + i % 26), 100, 2));
  auto st = lane->stats();
  CHECK(st.received_items == 60);
  CHECK(st.queued_items == 20);
  CHECK(st.dropped_items[static_cast<std::size_t>(pipeline::drop_reason::queue_full)] == 40);
  CHECK(st.balanced());
}

TEST_CASE("a full lane leaves the payload pool little to keep for reuse", "[lane]") {
  if (!codec::payloads_are_mapped()) return;  // heap blocks: nothing is kept
  codec::release_unused_payloads(std::chrono::steady_clock::now() + 1h);
  boost::asio::io_context io;
  auto exp = std::make_shared<held_exporter>();
  auto s = settings();
  s.queue_max_bytes = 8u << 20;
  s.batch_max_items = 1000000;
  s.batch_max_bytes = 64u << 20;
  s.batch_timeout = 1h;
  auto lane = std::make_shared<pipeline::signal_lane>(io, exp, codec::signal::traces, s);
  constexpr std::size_t kChunk = 256 * 1024 - pipeline::kChunkOverhead;  // 32 fill the queue
  for (int i = 0; i < 40; ++i)
    lane->offer(make('f', kChunk, 1));
  CHECK(lane->stats().queued_bytes == 8u << 20);
  {
    std::vector<codec::payload> freed;
    for (int i = 0; i < 24; ++i)
      freed.emplace_back(kChunk, 'g');
  }
  CHECK(codec::payload_pool().cached_bytes <= 1u << 20);
  CHECK(codec::payload_pool().cached > 0);
  lane->stop();
  codec::release_unused_payloads(std::chrono::steady_clock::now() + 1h);
}

TEST_CASE("flush sends at once and counts what the deadline leaves as shutdown drops", "[lane]") {
  boost::asio::io_context io;
  auto exp = std::make_shared<held_exporter>();
  auto s = settings();
  s.batch_timeout = 1h;
  auto lane = std::make_shared<pipeline::signal_lane>(io, exp, codec::signal::traces, s);
  lane->offer(make('a', 10, 5));
  std::optional<std::uint64_t> left;
  lane->flush(std::chrono::steady_clock::now() + 50ms, [&](std::uint64_t n) { left = n; });
  run_until(io, [&] { return exp->calls.size() == 1; });
  exp->answer(exporting::export_outcome::kind::retryable);  // upstream down: nothing gets out
  run_until(io, [&] { return left.has_value(); });
  lane->stop();
  while (!exp->calls.empty())
    exp->answer(exporting::export_outcome::kind::retryable);
  run_until(io, [&] { return lane->stats().in_flight_items == 0; });
  auto st = lane->stats();
  CHECK(st.dropped_total() == 5);
  CHECK(st.balanced());
}

TEST_CASE("a lane waiting for the upstream does not spin on its batch timer", "[lane]") {
  boost::asio::io_context io;
  auto exp = std::make_shared<held_exporter>();
  auto s = settings();
  s.batch_timeout = 1ms;
  s.retry.initial_interval = 1h;  // the probe never comes during the test
  s.retry.max_interval = 1h;
  auto lane = std::make_shared<pipeline::signal_lane>(io, exp, codec::signal::traces, s);
  lane->offer(make('a', 10, 10));
  run_until(io, [&] { return exp->calls.size() == 1; });
  exp->answer(exporting::export_outcome::kind::retryable);
  for (int i = 0; i < 5; ++i)
    lane->offer(make('b', 10, 1));  // due almost at once, but sending is paused
  io.restart();
  auto handlers = io.run_for(100ms);
  INFO("handlers run in 100 ms: " << handlers);
  CHECK(handlers < 50);
  CHECK(lane->stats().queued_items == 5);
  lane->stop();
  exp->calls.clear();
}

TEST_CASE(
    "a spooled lane bounds its in-memory entries, dropping the oldest when tiny chunks pile up",
    "[lane][spool]") {
  auto dir = std::filesystem::temp_directory_path() /
             ("sidelight-lane-spool." + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  {
    pipeline::spool::options o;
    o.dir = dir.string();
    std::string error;
    auto spool = pipeline::spool::open(o, error);
    REQUIRE(spool);
    boost::asio::io_context io;
    auto exp = std::make_shared<held_exporter>();
    auto s = settings();
    s.store = pipeline::spool_store(spool);
    s.queue_max_bytes = 1 << 20;  // the spool's budget: far from full
    s.queue_max_chunks = 3;
    s.batch_max_items = 100;
    s.batch_timeout = std::chrono::hours(1);  // nothing leaves: the queue only fills
    auto lane = std::make_shared<pipeline::signal_lane>(io, exp, codec::signal::logs, s);
    for (char tag : {'a', 'b', 'c', 'd', 'e', 'f', 'g'})
      lane->offer(make(tag, 5, 2));
    auto st = lane->stats();
    CHECK(st.received_items == 14);
    CHECK(st.queued_items == 6);
    CHECK(st.dropped_items[static_cast<std::size_t>(pipeline::drop_reason::queue_full)] == 8);
    CHECK(st.balanced());
    CHECK(exp->calls.empty());
    lane->stop();
  }
  std::filesystem::remove_all(dir);
}
