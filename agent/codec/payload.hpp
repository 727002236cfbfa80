// The bytes of encoded telemetry that wait in queues and go upstream: a std::basic_string whose
// large buffers are page mappings of their own instead of heap memory.
//
// Under overload every queue turns over constantly: each new request's bytes arrive while the
// oldest are dropped. In the heap that churn of large, unequal blocks leaves free gaps the
// allocator keeps resident (about 8 MiB over a 64 MiB queue, measured). A buffer that is its own
// mapping goes back to the kernel whole when it is freed, so resident memory follows what the
// queues hold. A few freed mappings are kept for reuse, resized in place by mremap(), because
// mapping fresh pages costs a page fault and a zeroed page each time; one unused for a second is
// unmapped at the pool's next use, or at the next heartbeat when there is no traffic.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sidelight::codec {

void* allocate_payload(std::size_t n);
void deallocate_payload(void* p, std::size_t n) noexcept;

template <class T>
struct payload_allocator {
  using value_type = T;
  payload_allocator() = default;
  template <class U>
  payload_allocator(const payload_allocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return static_cast<T*>(allocate_payload(n * sizeof(T))); }
  void deallocate(T* p, std::size_t n) noexcept { deallocate_payload(p, n * sizeof(T)); }
  template <class U>
  friend bool operator==(const payload_allocator&, const payload_allocator<U>&) noexcept {
    return true;
  }
};

using payload = std::basic_string<char, std::char_traits<char>, payload_allocator<char>>;
using payload_ptr = std::shared_ptr<const payload>;

// Requests are built from encoded pieces, never decoded and encoded again: a protobuf varint, and
// a whole message framed as field 1 of an Export*ServiceRequest (tag, length, bytes).
void append_varint(std::string& out, std::uint64_t v);
void append_varint(payload& out, std::uint64_t v);
void append_field1(std::string& out, std::string_view message);
void append_field1(payload& out, std::string_view message);

// One request from its pieces, in order, each released as soon as it is copied.
payload_ptr join(std::vector<payload_ptr>& parts);

// False in ASan and TSan builds, where every buffer is a heap block the sanitizer follows.
bool payloads_are_mapped();

// Something that holds payloads up to a bound in bytes: a signal lane, with its queue and what it
// has in flight. Freed mappings are kept for reuse only within the room the fullest holder has
// left (and always up to 1 MiB, enough for a full queue that drops one buffer for each it takes).
// A queue that drains after an outage frees buffers faster than intake takes them; kept without
// this, they would sit on top of a queue that is still nearly full.
class payload_holder {
 public:
  explicit payload_holder(std::uint64_t limit);  // 0: no bound, nothing to leave room for
  ~payload_holder();
  payload_holder(const payload_holder&) = delete;
  payload_holder& operator=(const payload_holder&) = delete;

  void set_held(std::uint64_t bytes) noexcept { held_.store(bytes, std::memory_order_relaxed); }
  std::uint64_t room() const noexcept;

 private:
  const std::uint64_t limit_;
  std::atomic<std::uint64_t> held_{0};
};

// What the mapping pool holds now, for tests.
struct payload_pool_stats {
  std::size_t mapped_bytes = 0;  // in buffers that are their own mapping, in use
  std::size_t cached_bytes = 0;  // freed mappings kept for reuse
  std::size_t cached = 0;
};
payload_pool_stats payload_pool();

// Unmaps the freed mappings kept for reuse that went unused for a second. The pool does this
// whenever it is used; an agent with no traffic calls it on its heartbeat. At most every 10 s it
// also gives the heap's free pages back (malloc_trim): gRPC buffers each client's messages in
// heap memory of its own, which glibc otherwise keeps resident after they are freed (532 MiB
// after 256 clients of 2 MiB messages had left, measured before this).
void release_unused_payloads(
    std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());

}  // namespace sidelight::codec
