// An on-disk spool for one lane: every chunk the lane accepts is appended to a segment file before
// intake answers the client, and stays there until it was delivered or dropped. What a lane still
// held when sidelight stopped, or was killed, is read back at the next start.
//
// Files: `<dir>/<16 hex digits>.seg`, appended to in order, a new one every `segment_bytes`. A
// record is a header (magic, payload length, item count, CRC-32 of the payload) and the payload, a
// framed Resource* chunk. A segment is deleted once none of its records is still wanted. Reading
// back stops at the first record that is cut short or fails its CRC (a write torn by a power loss)
// and counts it.
//
// Durability: a record is written with write(2) before the client is answered, so it survives the
// process being killed (the kernel has it). With `fsync`, it is also fdatasync(2)ed before, so it
// survives a power loss too. Appends made at the same time share one write turn and one flush
// (group commit), and no lock is held while the disk works.
//
// Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace sidelight::pipeline {

class spool;

// One record in the spool. When the last reference goes, the record is released (no longer
// wanted), unless it was kept for the next start (keep()).
class spool_record {
 public:
  spool_record(std::shared_ptr<spool> owner, std::uint64_t segment, std::uint64_t offset,
               std::uint32_t length, std::uint32_t items);
  ~spool_record();
  spool_record(const spool_record&) = delete;
  spool_record& operator=(const spool_record&) = delete;

  // What is left at shutdown (or when a lane is replaced) stays on disk for the next start.
  void keep() { kept_ = true; }
  std::uint32_t length() const { return length_; }
  std::uint32_t items() const { return items_; }
  // The payload, read back from its segment; empty when it cannot be read.
  std::string read() const;

 private:
  friend class spool;
  std::shared_ptr<spool> owner_;
  std::uint64_t segment_;
  std::uint64_t offset_;
  std::uint32_t length_;
  std::uint32_t items_;
  bool kept_ = false;
};

class spool : public std::enable_shared_from_this<spool> {
 public:
  struct options {
    std::string dir;
    std::uint64_t segment_bytes = 4ull << 20;
    bool fsync = false;
  };

  // Opens (creating) the directory and reads back what an earlier run left, in order. Returns
  // null with `error` set when the directory cannot be used or another process has it open.
  // While a spool for the directory is open in this process, open() returns that one (with
  // nothing more to recover).
  static std::shared_ptr<spool> open(const options& o, std::string& error);
  ~spool();

  // What was found at open(): records an earlier run did not finish, oldest first.
  std::vector<std::shared_ptr<spool_record>> take_recovered();
  std::uint64_t torn_records() const { return torn_; }

  // Appends a payload; null (and a logged, counted error) when it cannot be written.
  std::shared_ptr<spool_record> append(std::string_view payload, std::uint32_t items);
  std::uint64_t append_errors() const;

  std::uint64_t disk_bytes() const;  // in segment files now
  const std::string& dir() const { return opts_.dir; }

 private:
  friend class spool_record;
  explicit spool(options o) : opts_(std::move(o)) {}
  static std::shared_ptr<spool> open_new(const options& o, std::string& error);
  struct pending;
  void release(std::uint64_t segment);
  std::string read(std::uint64_t segment, std::uint64_t offset, std::uint32_t length) const;
  std::string path_of(std::uint64_t segment) const;
  void write_queued(std::unique_lock<std::mutex>& lock);
  int write_batch(const std::vector<pending*>& batch, int fd, std::vector<int>& closed);
  int open_segment(std::uint64_t id) const;
  bool unused(std::uint64_t id);  // lock held
  void remove_segments(const std::vector<std::uint64_t>& ids, const std::vector<int>& fds);
  void recover();

  struct segment {
    std::uint64_t live = 0;     // records still wanted
    std::uint64_t writing = 0;  // records the writer is writing into it now
    std::uint64_t bytes = 0;    // file size, with what is being written
  };

  options opts_;
  mutable std::mutex mutex_;
  std::map<std::uint64_t, segment> segments_;
  std::uint64_t current_ = 0;    // the segment appended to
  int fd_ = -1;                  // its descriptor; the writer's while writing_
  bool rotate_ = false;          // the next record starts a new segment
  bool writing_ = false;         // an appender is writing the queue out
  std::vector<pending*> queue_;  // records waiting for the writer, in order
  std::vector<pending*> spare_;  // a batch's storage, for the next
  int waiting_ = 0;              // appenders waiting for the writer
  std::condition_variable written_;
  std::vector<int> retired_fds_;  // closed outside the lock
  int lock_fd_ = -1;              // flock()ed: one process per directory
  std::uint64_t torn_ = 0;
  std::uint64_t append_errors_ = 0;
  std::vector<std::shared_ptr<spool_record>> recovered_;
};

}  // namespace sidelight::pipeline
