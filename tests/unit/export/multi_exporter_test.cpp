// Several endpoints behind one exporter: which one a request goes to, failing over at once on a
// retryable failure, never on a permanent one, and every request answered exactly once.
#include "export/multi_exporter.hpp"

#include <catch2/catch.hpp>
#include <deque>

using namespace sidelight::exporting;
using namespace std::chrono_literals;
using balancing = sidelight::config::otlp_exporter::balancing;

namespace {

// An upstream that answers at once with the outcomes it is given (ok when it has none left),
// recording how many requests it saw.
class scripted : public exporter {
 public:
  explicit scripted(std::string n) : name_(std::move(n)) {}
  const std::string& name() const override { return name_; }
  void send(signal, sidelight::codec::payload_ptr, done_fn done) override {
    ++seen;
    if (defer) {
      deferred.push_back(std::move(done));
      return;
    }
    export_outcome out;
    if (!script.empty()) {
      out = script.front();
      script.pop_front();
    }
    done(out);
  }
  void shutdown() override { stopped = true; }

  std::deque<export_outcome> script;
  bool defer = false;  // keep the answers in `deferred`, as requests in flight
  std::vector<done_fn> deferred;
  int seen = 0;
  bool stopped = false;

 private:
  std::string name_;
};

export_outcome failure(export_outcome::kind k, std::string message = "down") {
  export_outcome o;
  o.result = k;
  o.message = std::move(message);
  return o;
}

struct fixture {
  std::shared_ptr<scripted> a = std::make_shared<scripted>("a");
  std::shared_ptr<scripted> b = std::make_shared<scripted>("b");
  std::shared_ptr<scripted> c = std::make_shared<scripted>("c");

  multi_exporter make(balancing how, std::chrono::milliseconds cooldown) {
    return multi_exporter("otlp", {{a, "a:4317"}, {b, "b:4317"}, {c, "c:4317"}}, how, cooldown);
  }
};

// Sends one request and returns its outcome, checking it is answered exactly once.
export_outcome send(multi_exporter& m) {
  int answers = 0;
  export_outcome got;
  m.send(signal::traces, std::make_shared<const sidelight::codec::payload>("x"),
         [&](export_outcome o) {
           ++answers;
           got = std::move(o);
         });
  REQUIRE(answers == 1);
  return got;
}

}  // namespace

TEST_CASE("failover sends to the first endpoint while it works", "[multi]") {
  fixture f;
  auto m = f.make(balancing::failover, 1h);
  for (int i = 0; i < 5; ++i)
    CHECK(send(m).result == export_outcome::kind::ok);
  CHECK(f.a->seen == 5);
  CHECK(f.b->seen == 0);
  CHECK(f.c->seen == 0);
}

TEST_CASE("failover moves a request to the next endpoint at once when one is down", "[multi]") {
  fixture f;
  auto m = f.make(balancing::failover, 1h);
  f.a->script.push_back(failure(export_outcome::kind::retryable));
  CHECK(send(m).result == export_outcome::kind::ok);
  CHECK(f.a->seen == 1);
  CHECK(f.b->seen == 1);
  // The failed endpoint cools down: the next requests go straight to the second.
  CHECK(send(m).result == export_outcome::kind::ok);
  CHECK(f.a->seen == 1);
  CHECK(f.b->seen == 2);
}

TEST_CASE("a request's latency is that of every endpoint it tried", "[multi]") {
  fixture f;
  auto m = f.make(balancing::failover, 1h);
  auto slow = [](export_outcome o, std::chrono::milliseconds took) {
    o.latency = took;
    return o;
  };
  f.a->script.push_back(slow(failure(export_outcome::kind::retryable, "timed out"), 300ms));
  f.b->script.push_back(slow(failure(export_outcome::kind::retryable, "refused"), 20ms));
  f.c->script.push_back(slow(export_outcome{}, 5ms));
  auto out = send(m);
  CHECK(out.result == export_outcome::kind::ok);
  CHECK(out.latency == 325ms);
  // Alone, it is the latency of the one endpoint.
  f.c->script.push_back(slow(export_outcome{}, 7ms));
  CHECK(send(m).latency == 7ms);
}

TEST_CASE("failover returns to the first endpoint once its cooldown is over", "[multi]") {
  fixture f;
  auto m = f.make(balancing::failover, 0ms);
  f.a->script.push_back(failure(export_outcome::kind::retryable));
  CHECK(send(m).result == export_outcome::kind::ok);
  CHECK(send(m).result == export_outcome::kind::ok);
  CHECK(f.a->seen == 2);
  CHECK(f.b->seen == 1);
}

TEST_CASE("a permanent refusal is final and not tried elsewhere", "[multi]") {
  fixture f;
  auto m = f.make(balancing::failover, 1h);
  f.a->script.push_back(failure(export_outcome::kind::permanent, "HTTP 400"));
  auto out = send(m);
  CHECK(out.result == export_outcome::kind::permanent);
  CHECK(out.message == "a:4317: HTTP 400");
  CHECK(f.b->seen == 0);
}

TEST_CASE("when every endpoint fails the pipeline sees one retryable failure", "[multi]") {
  fixture f;
  auto m = f.make(balancing::failover, 1h);
  for (auto* s : {f.a.get(), f.b.get(), f.c.get()})
    s->script.push_back(failure(export_outcome::kind::retryable, "refused"));
  auto out = send(m);
  CHECK(out.result == export_outcome::kind::retryable);
  CHECK(out.message == "c:4317: refused");
  CHECK(f.a->seen + f.b->seen + f.c->seen == 3);
  // All cooling down: the next request still goes out, to the one that cools down first.
  CHECK(send(m).result == export_outcome::kind::ok);
  CHECK(f.a->seen == 2);
}

TEST_CASE("round_robin takes turns and skips an endpoint that is down", "[multi]") {
  fixture f;
  auto m = f.make(balancing::round_robin, 1h);
  for (int i = 0; i < 6; ++i)
    CHECK(send(m).result == export_outcome::kind::ok);
  CHECK(f.a->seen == 2);
  CHECK(f.b->seen == 2);
  CHECK(f.c->seen == 2);
  f.b->script.push_back(failure(export_outcome::kind::retryable));
  for (int i = 0; i < 6; ++i)
    CHECK(send(m).result == export_outcome::kind::ok);
  CHECK(f.b->seen == 3);  // one failure, then skipped
  CHECK(f.a->seen + f.c->seen == 4 + 6);
}

TEST_CASE("a Retry-After longer than the cooldown keeps the endpoint aside for as long",
          "[multi]") {
  fixture f;
  auto m = f.make(balancing::failover, 0ms);
  auto busy = failure(export_outcome::kind::retryable, "HTTP 429");
  busy.retry_after = 1h;
  f.a->script.push_back(busy);
  CHECK(send(m).result == export_outcome::kind::ok);
  CHECK(send(m).result == export_outcome::kind::ok);
  CHECK(f.a->seen == 1);
  CHECK(f.b->seen == 2);
}

TEST_CASE("shutdown reaches every endpoint", "[multi]") {
  fixture f;
  auto m = f.make(balancing::failover, 1h);
  m.shutdown();
  CHECK(f.a->stopped);
  CHECK(f.b->stopped);
  CHECK(f.c->stopped);
}

TEST_CASE("after its time aside, one request probes an endpoint while the others go on",
          "[multi]") {
  fixture f;
  auto m = f.make(balancing::failover, 0ms);
  f.a->script.push_back(failure(export_outcome::kind::retryable));
  CHECK(send(m).result == export_outcome::kind::ok);  // a failed, b took it
  // a's time aside (0 ms) is over: the next request probes it, and stays in flight there.
  f.a->defer = true;
  int answered = 0;
  m.send(signal::traces, std::make_shared<const sidelight::codec::payload>("x"),
         [&](export_outcome) { ++answered; });
  CHECK(f.a->seen == 2);
  // Meanwhile, requests go to b, not to a swallowing them.
  CHECK(send(m).result == export_outcome::kind::ok);
  CHECK(send(m).result == export_outcome::kind::ok);
  CHECK(f.a->seen == 2);
  CHECK(f.b->seen == 3);
  // The probe succeeds: a is first again.
  REQUIRE(f.a->deferred.size() == 1);
  f.a->deferred[0](export_outcome{});
  CHECK(answered == 1);
  f.a->defer = false;
  CHECK(send(m).result == export_outcome::kind::ok);
  CHECK(f.a->seen == 3);
}
