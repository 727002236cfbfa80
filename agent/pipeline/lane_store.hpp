// Where a signal lane keeps the payloads of what it holds: in memory, or in a spool on disk with
// only an index entry in memory. The lane's queue, batches, retries and books work the same way
// either way; everything that differs between the two is here, as in the Collector's memory and
// persistent queues.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "codec/payload.hpp"
#include "pipeline/drop_oldest_queue.hpp"
#include "pipeline/memory_budget.hpp"

namespace sidelight::pipeline {

class lane_store {
 public:
  virtual ~lane_store() = default;

  // Takes `c` before the lane queues it (not under the lane's lock): a spool writes it to disk
  // and frees its bytes in memory. False when it cannot (a full or failing disk): the lane then
  // drops it, counted, rather than holding it without a bound.
  virtual bool store(chunk& c) = 0;
  // The chunk's payload, taken from it (held by the request from now on); null when it cannot be
  // read back.
  virtual codec::payload_ptr load(chunk& c) = 0;
  // What an earlier run left, oldest first.
  virtual std::vector<chunk> recover() = 0;
  // Memory the lane holds for payloads now enters (or leaves) the shared budget.
  virtual void hold(std::uint64_t bytes) = 0;
  virtual void release(std::uint64_t bytes) = 0;
  // The bound on what the lane holds in memory for payloads: the payload pool leaves room for it.
  virtual std::uint64_t memory_bound(std::uint64_t queue_max_bytes) const = 0;
  // Where data is kept, for log lines, when it outlives the process ("the spool in DIR").
  virtual std::optional<std::string> durable_place() const = 0;
  // Why store() fails, for the log line that says so.
  virtual std::string store_failure() const = 0;
};

// Payloads stay in the chunks themselves; `budget` (may be null) counts them.
std::unique_ptr<lane_store> memory_store(std::shared_ptr<memory_budget> budget);

class spool;
std::unique_ptr<lane_store> spool_store(std::shared_ptr<spool> s);

}  // namespace sidelight::pipeline
