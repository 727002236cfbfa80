// What the lane tests share: an exporter that holds every request until the test answers it, and
// a bounded wait that runs the lane's event loop until a condition holds.
#pragma once

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "export/exporter.hpp"

namespace sidelight::test {

class held_exporter final : public exporting::exporter {
 public:
  struct held {
    codec::payload_ptr request;             // as send() got it, or the parts joined
    std::vector<codec::payload_ptr> parts;  // as send_parts() got them
    done_fn done;
  };
  const std::string& name() const override { return name_; }
  void send(codec::signal, codec::payload_ptr request, done_fn done) override {
    calls.push_back({std::move(request), {}, std::move(done)});
  }
  bool sends_parts() const override { return takes_parts; }
  void send_parts(codec::signal, std::vector<codec::payload_ptr> parts, done_fn done) override {
    auto copy = parts;
    calls.push_back({codec::join(copy), std::move(parts), std::move(done)});
  }
  void shutdown() override {}
  // Answers the oldest request held; `rejected` as an upstream's partial success says.
  // `retry_after` as an upstream's RetryInfo or Retry-After.
  void answer(exporting::export_outcome::kind k, std::int64_t rejected = 0,
              std::optional<std::chrono::milliseconds> retry_after = std::nullopt) {
    REQUIRE(!calls.empty());
    auto c = std::move(calls.front());
    calls.pop_front();
    exporting::export_outcome o;
    o.result = k;
    o.rejected = rejected;
    o.retry_after = retry_after;
    if (k != exporting::export_outcome::kind::ok) o.message = "test failure";
    c.done(o);
  }
  std::deque<held> calls;
  bool takes_parts = false;  // like the gRPC exporter: pieces written one after another

 private:
  std::string name_ = "held";
};

// Runs `io` until `done` holds, at most `limit`; fails the test if it never does.
inline void run_until(boost::asio::io_context& io, const std::function<bool()>& done,
                      std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done() && std::chrono::steady_clock::now() < deadline) {
    io.restart();
    io.run_for(std::chrono::milliseconds(5));
  }
  REQUIRE(done());
}

}  // namespace sidelight::test
