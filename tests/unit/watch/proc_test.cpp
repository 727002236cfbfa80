#include "watch/proc.hpp"

#include <unistd.h>

#include <catch2/catch.hpp>

using namespace sidelight::watch;

TEST_CASE("/proc/PID/stat parses, comm with spaces and parentheses included", "[proc]") {
  auto st =
      parse_stat(42,
                 "42 (my (odd) name) S 1 42 42 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 3 0 123456 "
                 "10485760 512 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0");
  REQUIRE(st);
  CHECK(st->pid == 42);
  CHECK(st->comm == "my (odd) name");
  CHECK(st->state == 'S');
  CHECK(st->ppid == 1);
  CHECK(st->utime_ticks == 250);
  CHECK(st->stime_ticks == 75);
  CHECK(st->threads == 3);
  CHECK(st->start_ticks == 123456);
  CHECK(st->vsize_bytes == 10485760);
  CHECK(st->rss_pages == 512);
  CHECK_FALSE(st->zombie());
}

TEST_CASE("truncated or garbled stat lines are refused", "[proc]") {
  CHECK_FALSE(parse_stat(1, ""));
  CHECK_FALSE(parse_stat(1, "1 (init"));
  CHECK_FALSE(parse_stat(1, "1 (init) S 0"));
  CHECK_FALSE(parse_stat(1, "1 (init) S x y z"));
}

TEST_CASE("zombies are recognised", "[proc]") {
  auto st = parse_stat(7,
                       "7 (z) Z 1 7 7 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 99 0 0 0 0 0 0 0 0 0 0 0 "
                       "0 0 0 0 17 0 0 0 0 0 0");
  REQUIRE(st);
  CHECK(st->zombie());
}

TEST_CASE("this process is read from /proc and is running", "[proc]") {
  auto st = read_stat(::getpid());
  REQUIRE(st);
  CHECK(is_running(st->identity()));
  CHECK_FALSE(is_running({::getpid(), st->start_ticks + 1}));
  auto start = ticks_to_unix_ns(st->start_ticks);
  CHECK(start <= now_unix_ns());
  CHECK(start > now_unix_ns() - std::int64_t(3600) * 1'000'000'000);
}

TEST_CASE("a process's open descriptors are counted", "[proc]") {
  auto before = count_open_fds(::getpid());
  REQUIRE(before);
  int pipes[5][2];
  for (auto& p : pipes)
    REQUIRE(::pipe(p) == 0);
  auto after = count_open_fds(::getpid());
  for (auto& p : pipes) {
    ::close(p[0]);
    ::close(p[1]);
  }
  REQUIRE(after);
  CHECK(*after == *before + 10);
  CHECK(count_open_fds(::getpid()) == before);
  CHECK_FALSE(count_open_fds(0));  // no such process
}
