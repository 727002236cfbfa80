#include "codec/payload.hpp"

#include <malloc.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <new>
#include <vector>

namespace sidelight::codec {

namespace {

// Below this a buffer is ordinary heap memory: small blocks fill the heap's gaps well, and a page
// mapping would round them up.
constexpr std::size_t kMapFrom = 64 * 1024;
// Freed mappings kept for reuse. A batch frees its requests' buffers together while new ones
// arrive one by one, so the pool must hold about a batch to save the page faults (with 4 MiB,
// throughput fell by a fifth, measured). Their pages stay resident, so a mapping left unused for
// a second is unmapped: under overload one buffer is freed for each one taken and the pool stays
// near empty, and an idle agent holds none.
constexpr std::size_t kCacheBytes = 16u << 20;
// Kept however full the holders are (payload_holder).
constexpr std::size_t kCacheAlways = 1u << 20;
constexpr std::size_t kCacheCount = 128;
constexpr auto kKeepUnused = std::chrono::seconds(1);
using clock = std::chrono::steady_clock;

// ASan checks heap blocks, not mappings; TSan does not follow mremap(), and a mapping moved onto
// addresses used before would inherit stale race records.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kUseHeap = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kUseHeap = true;
#else
constexpr bool kUseHeap = false;
#endif
#else
constexpr bool kUseHeap = false;
#endif

struct mapping {
  void* at;
  std::size_t length;
  clock::time_point freed{};
};

class pool {
 public:
  void* take(std::size_t length) {
    mapping m{};
    std::vector<mapping> stale;
    {
      std::lock_guard lock(mutex_);
      stale = take_stale(clock::now());
      // The closest in size needs the least resizing.
      std::size_t best = cache_.size();
      std::size_t best_gap = 0;
      for (std::size_t i = 0; i < cache_.size(); ++i) {
        auto have = cache_[i].length;
        auto gap = have > length ? have - length : length - have;
        if (best == cache_.size() || gap < best_gap) {
          best = i;
          best_gap = gap;
        }
      }
      if (best < cache_.size()) {
        m = cache_[best];
        cache_.erase(cache_.begin() + static_cast<std::ptrdiff_t>(best));  // keeps the age order
        cached_bytes_ -= m.length;
      }
      mapped_bytes_ += length;
    }
    unmap(stale);
    if (m.at != nullptr && m.length != length) {
      void* moved = ::mremap(m.at, m.length, length, MREMAP_MAYMOVE);
      if (moved == MAP_FAILED) {
        ::munmap(m.at, m.length);
        m.at = nullptr;
      } else {
        m.at = moved;
      }
    }
    if (m.at == nullptr) {
      m.at = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (m.at == MAP_FAILED) {
        std::lock_guard lock(mutex_);
        mapped_bytes_ -= length;
        throw std::bad_alloc();
      }
    }
    return m.at;
  }

  void give_back(void* at, std::size_t length) noexcept {
    {
      std::lock_guard lock(mutex_);
      mapped_bytes_ -= length;
      if (cache_.size() < kCacheCount && cached_bytes_ + length <= cache_limit()) {
        cache_.push_back({at, length, clock::now()});  // reserved at construction: no throw
        cached_bytes_ += length;
        return;
      }
    }
    ::munmap(at, length);
  }

  void release_unused(clock::time_point now) {
    std::vector<mapping> stale;
    {
      std::lock_guard lock(mutex_);
      stale = take_stale(now);
    }
    unmap(stale);
  }

  payload_pool_stats stats() {
    std::lock_guard lock(mutex_);
    return {mapped_bytes_, cached_bytes_, cache_.size()};
  }

  pool() { cache_.reserve(kCacheCount); }

  void add(const payload_holder* h) {
    std::lock_guard lock(mutex_);
    holders_.push_back(h);
  }
  void remove(const payload_holder* h) noexcept {
    std::lock_guard lock(mutex_);
    std::erase(holders_, h);
  }

 private:
  // Lock held.
  std::size_t cache_limit() const noexcept {
    std::size_t limit = kCacheBytes;
    for (const auto* h : holders_)
      limit = std::min(limit, std::max<std::size_t>(kCacheAlways, h->room()));
    return limit;
  }

  // Lock held. Cheap when nothing is stale: the oldest entries are at the front.
  std::vector<mapping> take_stale(clock::time_point now) {
    std::vector<mapping> stale;
    std::size_t n = 0;
    while (n < cache_.size() && now - cache_[n].freed >= kKeepUnused)
      ++n;
    if (n == 0) return stale;
    stale.assign(cache_.begin(), cache_.begin() + static_cast<std::ptrdiff_t>(n));
    cache_.erase(cache_.begin(), cache_.begin() + static_cast<std::ptrdiff_t>(n));
    for (const auto& m : stale)
      cached_bytes_ -= m.length;
    return stale;
  }

  static void unmap(const std::vector<mapping>& mappings) {
    for (const auto& m : mappings)
      ::munmap(m.at, m.length);
  }

  std::mutex mutex_;
  std::vector<mapping> cache_;
  std::vector<const payload_holder*> holders_;
  std::size_t cached_bytes_ = 0;
  std::size_t mapped_bytes_ = 0;
};

// Never destroyed: buffers may be freed by static destructors after main() returns.
pool& the_pool() {
  static auto* p = new pool;
  return *p;
}

std::size_t page_rounded(std::size_t n) {
  static const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  return (n + page - 1) / page * page;
}

}  // namespace

void* allocate_payload(std::size_t n) {
  if (kUseHeap || n < kMapFrom) return ::operator new(n);
  return the_pool().take(page_rounded(n));
}

void deallocate_payload(void* p, std::size_t n) noexcept {
  if (kUseHeap || n < kMapFrom) {
    ::operator delete(p);  // unsized: clang does not enable sized deallocation by default
    return;
  }
  the_pool().give_back(p, page_rounded(n));
}

payload_holder::payload_holder(std::uint64_t limit) : limit_(limit) {
  the_pool().add(this);
}

payload_holder::~payload_holder() {
  the_pool().remove(this);
}

std::uint64_t payload_holder::room() const noexcept {
  if (limit_ == 0) return UINT64_MAX;
  auto held = held_.load(std::memory_order_relaxed);
  return held < limit_ ? limit_ - held : 0;
}

payload_pool_stats payload_pool() {
  return the_pool().stats();
}

void release_unused_payloads(clock::time_point now) {
  the_pool().release_unused(now);
  // One caller trims; the others go on. The trim walks the heap's free blocks: about a
  // millisecond for a heap of a few hundred MiB.
  static std::atomic<std::int64_t> last_trim{0};
  constexpr std::int64_t kTrimEvery = std::chrono::nanoseconds(std::chrono::seconds(10)).count();
  auto at = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  auto last = last_trim.load(std::memory_order_relaxed);
  if (at - last < kTrimEvery) return;
  if (!last_trim.compare_exchange_strong(last, at, std::memory_order_relaxed)) return;
  ::malloc_trim(0);
}

bool payloads_are_mapped() {
  return !kUseHeap;
}

namespace {

template <class String>
void append_varint_to(String& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

template <class String>
void append_field1_to(String& out, std::string_view message) {
  out.push_back(0x0a);
  append_varint_to(out, message.size());
  out.append(message);
}

}  // namespace

void append_varint(std::string& out, std::uint64_t v) {
  append_varint_to(out, v);
}
void append_varint(payload& out, std::uint64_t v) {
  append_varint_to(out, v);
}
void append_field1(std::string& out, std::string_view message) {
  append_field1_to(out, message);
}
void append_field1(payload& out, std::string_view message) {
  append_field1_to(out, message);
}

payload_ptr join(std::vector<payload_ptr>& parts) {
  if (parts.size() == 1) return std::move(parts.front());
  std::size_t size = 0;
  for (const auto& p : parts)
    size += p->size();
  payload out;
  out.reserve(size);
  for (auto& p : parts) {
    out.append(*p);
    p.reset();
  }
  return std::make_shared<const payload>(std::move(out));
}

}  // namespace sidelight::codec
