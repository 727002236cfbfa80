#include "pipeline/drop_oldest_queue.hpp"

namespace sidelight::pipeline {

drop_oldest_queue::dropped drop_oldest_queue::push(chunk c, std::uint64_t reserved) {
  bytes_ += c.held();
  items_ += c.items;
  chunks_.push_back(std::move(c));
  dropped d;
  while (!chunks_.empty() && over(reserved))
    pop_front(d);
  return d;
}

void drop_oldest_queue::pop_front(dropped& d) {
  auto& c = chunks_.front();
  d.items += c.items;
  d.bytes += c.held();
  ++d.chunks;
  bytes_ -= c.held();
  items_ -= c.items;
  chunks_.pop_front();
}

std::vector<chunk> drop_oldest_queue::pop_batch(std::uint64_t max_items, std::uint64_t max_bytes) {
  std::vector<chunk> out;
  std::uint64_t items = 0;
  std::uint64_t bytes = 0;
  while (!chunks_.empty()) {
    auto& c = chunks_.front();
    if (!out.empty() && (items + c.items > max_items || bytes + c.size() > max_bytes)) break;
    items += c.items;
    bytes += c.size();
    bytes_ -= c.held();
    items_ -= c.items;
    out.push_back(std::move(c));
    chunks_.pop_front();
  }
  return out;
}

drop_oldest_queue::dropped drop_oldest_queue::clear() {
  dropped d;
  while (!chunks_.empty())
    pop_front(d);
  return d;
}

}  // namespace sidelight::pipeline
