#include "pipeline/lane_store.hpp"

#include "pipeline/spool.hpp"

namespace sidelight::pipeline {

namespace {

class in_memory final : public lane_store {
 public:
  explicit in_memory(std::shared_ptr<memory_budget> budget) : budget_(std::move(budget)) {}

  bool store(chunk&) override { return true; }
  codec::payload_ptr load(chunk& c) override { return std::move(c.bytes); }
  std::vector<chunk> recover() override { return {}; }
  void hold(std::uint64_t bytes) override {
    if (budget_ && bytes > 0) budget_->add(bytes);
  }
  void release(std::uint64_t bytes) override {
    if (budget_ && bytes > 0) budget_->release(bytes);
  }
  std::uint64_t memory_bound(std::uint64_t queue_max_bytes) const override {
    return queue_max_bytes;
  }
  std::optional<std::string> durable_place() const override { return std::nullopt; }
  std::string store_failure() const override { return ""; }

 private:
  std::shared_ptr<memory_budget> budget_;
};

class on_disk final : public lane_store {
 public:
  explicit on_disk(std::shared_ptr<spool> s) : spool_(std::move(s)) {}

  bool store(chunk& c) override {
    if (!c.bytes || c.spooled) return true;
    auto record = spool_->append(*c.bytes, c.items);
    if (!record) return false;
    c.spooled = std::move(record);
    c.bytes.reset();
    return true;
  }
  codec::payload_ptr load(chunk& c) override {
    auto payload = c.spooled->read();
    if (payload.size() != c.spooled->length()) return nullptr;
    return std::make_shared<const codec::payload>(payload);
  }
  std::vector<chunk> recover() override {
    std::vector<chunk> out;
    for (auto& r : spool_->take_recovered()) {
      chunk c;
      c.items = r->items();
      c.spooled = std::move(r);
      out.push_back(std::move(c));
    }
    return out;
  }
  // The spool's budget bounds the lane; no memory is held for payloads.
  void hold(std::uint64_t) override {}
  void release(std::uint64_t) override {}
  std::uint64_t memory_bound(std::uint64_t) const override { return 0; }
  std::optional<std::string> durable_place() const override {
    return "the spool in " + spool_->dir();
  }
  std::string store_failure() const override {
    return "the spool in " + spool_->dir() + " cannot be written (" +
           std::to_string(spool_->append_errors()) + " failure(s) so far)";
  }

 private:
  std::shared_ptr<spool> spool_;
};

}  // namespace

std::unique_ptr<lane_store> memory_store(std::shared_ptr<memory_budget> budget) {
  return std::make_unique<in_memory>(std::move(budget));
}

std::unique_ptr<lane_store> spool_store(std::shared_ptr<spool> s) {
  return std::make_unique<on_disk>(std::move(s));
}

}  // namespace sidelight::pipeline
