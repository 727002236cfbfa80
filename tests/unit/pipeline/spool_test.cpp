// The on-disk spool: records come back in order after the process that wrote them is gone,
// released records do not, a torn last record is counted and skipped, and segments are deleted
// once nothing in them is wanted.
#include "pipeline/spool.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <thread>

using namespace sidelight::pipeline;

namespace {

struct scratch {
  std::filesystem::path dir;
  scratch() {
    dir = std::filesystem::temp_directory_path() /
          ("sidelight-spool-test." + std::to_string(::getpid()) + "." +
           std::to_string(reinterpret_cast<std::uintptr_t>(this)));
    std::filesystem::remove_all(dir);
  }
  ~scratch() { std::filesystem::remove_all(dir); }
  std::size_t segments() const {
    std::size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir))
      n += e.path().extension() == ".seg";
    return n;
  }
};

std::shared_ptr<spool> open_spool(const std::filesystem::path& dir, std::uint64_t segment_bytes) {
  spool::options o;
  o.dir = dir.string();
  o.segment_bytes = segment_bytes;
  std::string error;
  auto s = spool::open(o, error);
  INFO(error);
  REQUIRE(s);
  return s;
}

}  // namespace

TEST_CASE("spool: what a run left comes back in order at the next open", "[spool]") {
  scratch t;
  {
    auto s = open_spool(t.dir, 1 << 20);
    std::vector<std::shared_ptr<spool_record>> held;
    for (int i = 0; i < 5; ++i)
      held.push_back(s->append("payload-" + std::to_string(i), static_cast<std::uint32_t>(i + 1)));
    for (auto& r : held) {
      REQUIRE(r);
      r->keep();  // as at shutdown; a killed process releases nothing either
    }
    CHECK(held[3]->read() == "payload-3");
  }
  auto s = open_spool(t.dir, 1 << 20);
  auto back = s->take_recovered();
  REQUIRE(back.size() == 5);
  for (std::size_t i = 0; i < back.size(); ++i) {
    CHECK(back[i]->read() == "payload-" + std::to_string(i));
    CHECK(back[i]->items() == i + 1);
  }
  CHECK(s->torn_records() == 0);
}

TEST_CASE("spool: released records are gone, and so are segments with nothing left", "[spool]") {
  scratch t;
  {
    auto s = open_spool(t.dir, 64);  // a segment per record
    auto first = s->append(std::string(100, 'a'), 1);
    auto second = s->append(std::string(100, 'b'), 1);
    auto third = s->append(std::string(100, 'c'), 1);
    CHECK(t.segments() == 3);
    first.reset();  // delivered
    CHECK(t.segments() == 2);
    second->keep();
    third->keep();
  }
  auto s = open_spool(t.dir, 64);
  auto back = s->take_recovered();
  REQUIRE(back.size() == 2);
  CHECK(back[0]->read() == std::string(100, 'b'));
  CHECK(back[1]->read() == std::string(100, 'c'));
  back.clear();  // delivered after the restart
  CHECK(t.segments() == 0);
}

TEST_CASE("spool: delivered data never comes back, the segment being written included", "[spool]") {
  scratch t;
  {
    auto s = open_spool(t.dir, 1 << 20);
    for (int i = 0; i < 3; ++i)
      CHECK(s->append("delivered", 1));  // released at once, as when exported
    CHECK(t.segments() == 0);
    auto later = s->append("next", 1);  // a new segment, started when needed
    CHECK(t.segments() == 1);
  }
  auto s = open_spool(t.dir, 1 << 20);
  CHECK(s->take_recovered().empty());
  CHECK(t.segments() == 0);
}

TEST_CASE("spool: a record torn by a crash mid-write is counted and reading stops there",
          "[spool]") {
  scratch t;
  for (std::string torn : {std::string("SLR1\x10\x00", 6),                           // header cut
                           std::string("SLR1\x10\x00\x00\x00\x01\x00\x00\x00", 12),  // header cut
                           std::string("SLR1\x04\x00\x00\x00\x01\x00\x00\x00"
                                       "\x00\x00\x00\x00"
                                       "abcd",
                                       20)}) {  // whole, but its CRC-32 is wrong
    std::filesystem::remove_all(t.dir);
    {
      auto s = open_spool(t.dir, 1 << 20);
      s->append("whole", 1)->keep();
      s->append("also whole", 1)->keep();
    }
    std::string last;
    for (const auto& e : std::filesystem::directory_iterator(t.dir))
      if (e.path().extension() == ".seg") last = e.path().string();
    {
      std::ofstream out(last, std::ios::app | std::ios::binary);
      out.write(torn.data(), static_cast<std::streamsize>(torn.size()));
    }
    auto s = open_spool(t.dir, 1 << 20);
    auto back = s->take_recovered();
    REQUIRE(back.size() == 2);
    CHECK(back[1]->read() == "also whole");
    CHECK(s->torn_records() == 1);
    for (auto& r : back)
      r->keep();
  }
}

TEST_CASE("spool: one spool per directory, however it is spelled, and one process", "[spool]") {
  scratch t;
  auto a = open_spool(t.dir, 1 << 20);
  auto b = open_spool(t.dir.string() + "/", 1 << 20);
  CHECK(a == b);
  a.reset();
  b.reset();
  // Another process holding the directory: flock() locks belong to an open file, so a second
  // open of the lock file here plays that process.
  int fd = ::open((t.dir / "lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  REQUIRE(::flock(fd, LOCK_EX | LOCK_NB) == 0);
  spool::options o;
  o.dir = t.dir.string();
  std::string error;
  CHECK_FALSE(spool::open(o, error));
  CHECK_THAT(error, Catch::Contains("is in use by another sidelight process"));
  ::close(fd);
  CHECK(spool::open(o, error));
}

TEST_CASE("spool: a directory that cannot be made is a clear error", "[spool]") {
  spool::options o;
  o.dir = "/proc/sidelight-cannot-be-here";
  std::string error;
  CHECK_FALSE(spool::open(o, error));
  CHECK_THAT(error, Catch::Contains("cannot create /proc/sidelight-cannot-be-here"));
}

TEST_CASE("spool: a payload changed on disk after it was written is not read back", "[spool]") {
  scratch t;
  auto s = open_spool(t.dir, 1 << 20);
  auto r = s->append("original payload", 1);
  REQUIRE(r);
  std::string seg;
  for (const auto& e : std::filesystem::directory_iterator(t.dir))
    if (e.path().extension() == ".seg") seg = e.path().string();
  {
    std::fstream f(seg, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(16 + 3);
    f.put('X');
  }
  CHECK(r->read().empty());
}

TEST_CASE("spool: appends from many threads at once each land whole, with fsync, across segments",
          "[spool]") {
  scratch t;
  constexpr int kThreads = 8;
  constexpr int kEach = 200;
  {
    spool::options o;
    o.dir = t.dir.string();
    o.segment_bytes = 16 << 10;  // many segments: records cross from one to the next
    o.fsync = true;
    std::string error;
    auto s = spool::open(o, error);
    REQUIRE(s);
    std::vector<std::vector<std::shared_ptr<spool_record>>> held(kThreads);
    std::vector<std::thread> writers;
    for (int w = 0; w < kThreads; ++w) {
      writers.emplace_back([&, w] {
        for (int i = 0; i < kEach; ++i) {
          auto payload = "w" + std::to_string(w) + "-" + std::to_string(i) + std::string(200, 'p');
          held[w].push_back(s->append(payload, 1));
        }
      });
    }
    for (auto& th : writers)
      th.join();
    CHECK(s->append_errors() == 0);
    for (int w = 0; w < kThreads; ++w) {
      REQUIRE(held[w].size() == kEach);
      for (int i = 0; i < kEach; ++i) {
        REQUIRE(held[w][i]);
        CHECK(held[w][i]->read().starts_with("w" + std::to_string(w) + "-" + std::to_string(i) +
                                             "p"));
      }
    }
    for (auto& records : held)
      for (auto& r : records)
        r->keep();
  }
  // Everything comes back, each writer's records in the order it wrote them.
  auto s = open_spool(t.dir, 16 << 10);
  auto back = s->take_recovered();
  CHECK(back.size() == kThreads * kEach);
  CHECK(s->torn_records() == 0);
  std::vector<int> next(kThreads, 0);
  for (auto& r : back) {
    auto text = r->read();
    auto dash = text.find('-');
    REQUIRE(dash != std::string::npos);
    int w = std::stoi(text.substr(1, dash - 1));
    CHECK(text.starts_with("w" + std::to_string(w) + "-" + std::to_string(next[w]) + "p"));
    ++next[w];
  }
}
