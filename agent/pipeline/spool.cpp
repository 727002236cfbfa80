#include "pipeline/spool.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace sidelight::pipeline {

namespace {

constexpr std::uint32_t kMagic = 0x31524c53;  // "SLR1"
constexpr std::size_t kHeader = 16;           // magic, length, items, crc32

std::uint32_t crc_of(const char* data, std::size_t size) {
  return static_cast<std::uint32_t>(
      ::crc32(0, reinterpret_cast<const Bytef*>(data), static_cast<uInt>(size)));
}

bool write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    auto n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

bool read_at(int fd, char* data, std::size_t size, std::uint64_t offset) {
  while (size > 0) {
    auto n = ::pread(fd, data, size, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
    offset += static_cast<std::uint64_t>(n);
  }
  return true;
}

}  // namespace

spool_record::spool_record(std::shared_ptr<spool> owner, std::uint64_t segment,
                           std::uint64_t offset, std::uint32_t length, std::uint32_t items)
    : owner_(std::move(owner)),
      segment_(segment),
      offset_(offset),
      length_(length),
      items_(items) {}

spool_record::~spool_record() {
  if (!kept_) owner_->release(segment_);
}

std::string spool_record::read() const {
  return owner_->read(segment_, offset_, length_);
}

std::shared_ptr<spool> spool::open(const options& o, std::string& error) {
  // One spool per directory in the process: a reload that replaces an exporter hands its
  // directory to the new lanes, which must not read back what the old ones still hold.
  static std::mutex registry_mutex;
  static std::map<std::string, std::weak_ptr<spool>> registry;
  std::lock_guard registry_lock(registry_mutex);
  std::error_code ec;
  auto key = std::filesystem::weakly_canonical(o.dir, ec).string();
  if (ec) key = o.dir;
  if (auto live = registry[key].lock()) return live;
  auto made = open_new(o, error);
  if (made) registry[key] = made;
  return made;
}

std::shared_ptr<spool> spool::open_new(const options& o, std::string& error) {
  std::error_code ec;
  std::filesystem::create_directories(o.dir, ec);
  if (ec) {
    error = "cannot create " + o.dir + ": " + ec.message();
    return nullptr;
  }
  std::shared_ptr<spool> s(new spool(o));
  s->lock_fd_ = ::open((o.dir + "/lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (s->lock_fd_ < 0) {
    error = "cannot write in " + o.dir + ": " + std::strerror(errno);
    return nullptr;
  }
  if (::flock(s->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    error = o.dir + " is in use by another sidelight process";
    return nullptr;
  }
  s->recover();
  return s;
}

spool::~spool() {
  if (fd_ >= 0) {
    ::close(fd_);
    auto it = segments_.find(current_);
    if (it != segments_.end() && it->second.live == 0) ::unlink(path_of(current_).c_str());
  }
  if (lock_fd_ >= 0) ::close(lock_fd_);  // and the lock with it
}

std::string spool::path_of(std::uint64_t segment) const {
  char name[32];
  std::snprintf(name, sizeof name, "%016llx.seg", static_cast<unsigned long long>(segment));
  return opts_.dir + "/" + name;
}

void spool::recover() {
  std::vector<std::uint64_t> found;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(opts_.dir, ec)) {
    auto name = entry.path().filename().string();
    if (name.size() != 20 || !name.ends_with(".seg")) continue;
    std::uint64_t id = 0;
    auto [p, err] = std::from_chars(name.data(), name.data() + 16, id, 16);
    if (err == std::errc() && p == name.data() + 16) found.push_back(id);
  }
  std::sort(found.begin(), found.end());
  auto self = shared_from_this();
  for (auto id : found) {
    current_ = std::max(current_, id);
    int fd = ::open(path_of(id).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    struct stat st {};
    ::fstat(fd, &st);
    auto size = static_cast<std::uint64_t>(st.st_size);
    std::uint64_t offset = 0;
    std::vector<std::shared_ptr<spool_record>> records;
    while (offset < size) {
      std::uint32_t header[4];
      std::string payload;
      bool ok = offset + kHeader <= size &&
                read_at(fd, reinterpret_cast<char*>(header), kHeader, offset) &&
                header[0] == kMagic && offset + kHeader + header[1] <= size;
      if (ok) {
        payload.resize(header[1]);
        ok = read_at(fd, payload.data(), payload.size(), offset + kHeader) &&
             crc_of(payload.data(), payload.size()) == header[3];
      }
      if (!ok) {
        ++torn_;
        spdlog::warn(
            "spool {}: {} ends in a record cut short or damaged at byte {}; reading "
            "stops there",
            opts_.dir, path_of(id), offset);
        break;
      }
      segments_[id].live++;
      records.push_back(
          std::make_shared<spool_record>(self, id, offset + kHeader, header[1], header[2]));
      offset += kHeader + header[1];
    }
    ::close(fd);
    segments_[id].bytes = size;
    for (auto& r : records)
      recovered_.push_back(std::move(r));
    if (segments_[id].live == 0) {
      ::unlink(path_of(id).c_str());
      segments_.erase(id);
    }
  }
}

std::vector<std::shared_ptr<spool_record>> spool::take_recovered() {
  std::lock_guard lock(mutex_);
  return std::move(recovered_);
}

// A record on its way to disk. Its appender waits until `done`; the writer fills in the rest.
struct spool::pending {
  std::string_view payload;
  std::uint32_t header[4] = {};
  std::uint64_t segment = 0;
  std::uint64_t offset = 0;  // of its header in the segment
  bool new_segment = false;  // the first record of a segment file the writer opens
  bool done = false;
  bool ok = false;
};

// Group commit: each appender queues its record; one that finds no writer at work becomes the
// writer, takes every record queued so far, and writes them with one flush while the others wait.
// Nobody holds mutex_ while the disk works, so a slow disk makes appenders wait for their turn at
// the disk, never for a lock that intake or the exporter needs for anything else.
std::shared_ptr<spool_record> spool::append(std::string_view payload, std::uint32_t items) {
  pending p;
  p.payload = payload;
  p.header[0] = kMagic;
  p.header[1] = static_cast<std::uint32_t>(payload.size());
  p.header[2] = items;
  p.header[3] = crc_of(payload.data(), payload.size());
  std::unique_lock lock(mutex_);
  queue_.push_back(&p);
  while (!p.done) {
    if (writing_) {
      ++waiting_;
      written_.wait(lock);
      --waiting_;
    } else {
      write_queued(lock);
    }
  }
  if (!p.ok) return nullptr;
  lock.unlock();
  return std::make_shared<spool_record>(shared_from_this(), p.segment, p.offset + kHeader,
                                        p.header[1], items);
}

// Called with the lock held, and returns with it held; releases it while the disk works.
void spool::write_queued(std::unique_lock<std::mutex>& lock) {
  writing_ = true;
  std::vector<pending*> batch;
  batch.swap(queue_);
  queue_.swap(spare_);  // the other's storage, kept: no allocation a batch
  // Where each record goes, decided under the lock: a new segment when there is none open, the
  // current one is full, or a failed write left a partial record at its end.
  bool open = fd_ >= 0 && !rotate_;
  for (auto* p : batch) {
    auto size = kHeader + p->payload.size();
    if (!open ||
        (segments_[current_].bytes > 0 && segments_[current_].bytes + size > opts_.segment_bytes)) {
      ++current_;
      p->new_segment = true;
      open = true;
    }
    auto& seg = segments_[current_];
    p->segment = current_;
    p->offset = seg.bytes;
    seg.bytes += size;
    ++seg.writing;
  }
  rotate_ = false;
  int fd = fd_;
  lock.unlock();
  std::vector<int> closed;
  fd = write_batch(batch, fd, closed);
  lock.lock();
  fd_ = fd;
  std::vector<std::uint64_t> gone;
  for (auto* p : batch) {
    auto& seg = segments_[p->segment];
    --seg.writing;
    if (p->ok) {
      ++seg.live;
    } else {
      ++append_errors_;
      rotate_ = true;  // a partial record ends a segment's reading: the next goes to a new one
    }
    p->done = true;
  }
  writing_ = false;
  for (auto* p : batch)
    if (unused(p->segment)) gone.push_back(p->segment);
  if (waiting_ > 0) written_.notify_all();
  batch.clear();
  if (spare_.capacity() < batch.capacity()) spare_.swap(batch);
  if (gone.empty() && closed.empty() && retired_fds_.empty()) return;
  closed.insert(closed.end(), retired_fds_.begin(), retired_fds_.end());
  retired_fds_.clear();
  lock.unlock();
  remove_segments(gone, closed);
  lock.lock();
}

// Writes the records in order, opening each new segment file as it comes, and flushes once per
// file when `fsync` is set. A record that cannot be written fails, and so does every record after
// it in the same file. Returns the descriptor of the file written last (-1 if none is open).
int spool::write_batch(const std::vector<pending*>& batch, int fd, std::vector<int>& closed) {
  bool failed = false;  // in the file being written
  std::size_t first_in_file = 0;
  auto flush = [&](std::size_t end) {
    if (fd < 0 || failed || !opts_.fsync || first_in_file == end) return;
    if (::fdatasync(fd) != 0) {
      for (auto i = first_in_file; i < end; ++i)
        batch[i]->ok = false;
    }
  };
  for (std::size_t i = 0; i < batch.size(); ++i) {
    auto* p = batch[i];
    if (p->new_segment) {
      flush(i);
      if (fd >= 0) closed.push_back(fd);
      fd = open_segment(p->segment);
      failed = fd < 0;
      first_in_file = i;
    }
    p->ok = !failed && write_all(fd, reinterpret_cast<const char*>(p->header), kHeader) &&
            write_all(fd, p->payload.data(), p->payload.size());
    failed = !p->ok;
  }
  flush(batch.size());
  return fd;
}

int spool::open_segment(std::uint64_t id) const {
  int fd = ::open(path_of(id).c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd >= 0 && opts_.fsync) {
    // The new file's name must reach the disk too, or its records would vanish with it.
    int dir = ::open(opts_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
      ::fsync(dir);
      ::close(dir);
    }
  }
  return fd;
}

// True, and forgotten, when nothing in the segment is wanted or being written: its file goes
// (delivered data must not come back at the next start), and if it is the one being appended to,
// the next append starts a new one. Lock held; not while a writer is at work on the current one.
bool spool::unused(std::uint64_t id) {
  auto it = segments_.find(id);
  if (it == segments_.end() || it->second.live > 0 || it->second.writing > 0) return false;
  if (id == current_) {
    if (writing_) return false;  // the writer looks again when it is done
    rotate_ = true;
    if (fd_ >= 0) retired_fds_.push_back(fd_);
    fd_ = -1;
  }
  segments_.erase(it);
  return true;
}

// Outside the lock: closes descriptors and deletes files of segments no longer wanted.
void spool::remove_segments(const std::vector<std::uint64_t>& ids, const std::vector<int>& fds) {
  for (int fd : fds)
    ::close(fd);
  for (auto id : ids)
    ::unlink(path_of(id).c_str());
}

std::uint64_t spool::append_errors() const {
  std::lock_guard lock(mutex_);
  return append_errors_;
}

std::uint64_t spool::disk_bytes() const {
  std::lock_guard lock(mutex_);
  std::uint64_t n = 0;
  for (const auto& [id, s] : segments_)
    n += s.bytes;
  return n;
}

void spool::release(std::uint64_t segment_id) {
  std::vector<std::uint64_t> gone;
  std::vector<int> fds;
  {
    std::lock_guard lock(mutex_);
    auto it = segments_.find(segment_id);
    if (it == segments_.end() || it->second.live == 0) return;
    if (--it->second.live > 0) return;
    if (unused(segment_id)) gone.push_back(segment_id);
    fds.swap(retired_fds_);
  }
  remove_segments(gone, fds);
}

std::string spool::read(std::uint64_t segment_id, std::uint64_t offset,
                        std::uint32_t length) const {
  // The header too: a payload the disk changed since it was written is not sent.
  std::uint32_t header[4];
  std::string out(length, '\0');
  int fd = ::open(path_of(segment_id).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {};
  bool ok = read_at(fd, reinterpret_cast<char*>(header), kHeader, offset - kHeader) &&
            read_at(fd, out.data(), out.size(), offset);
  ::close(fd);
  if (!ok || header[0] != kMagic || header[1] != length ||
      crc_of(out.data(), out.size()) != header[3]) {
    return {};
  }
  return out;
}

}  // namespace sidelight::pipeline
