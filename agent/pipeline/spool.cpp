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

bool spool::start_segment() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
    auto it = segments_.find(current_);
    if (it != segments_.end() && it->second.live == 0) {
      ::unlink(path_of(current_).c_str());
      segments_.erase(it);
    }
  }
  ++current_;
  fd_ = ::open(path_of(current_).c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd_ < 0) return false;
  segments_[current_] = segment{};
  if (opts_.fsync) {
    // The new file's name must reach the disk too, or its records would vanish with it.
    int dir = ::open(opts_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
      ::fsync(dir);
      ::close(dir);
    }
  }
  return true;
}

std::shared_ptr<spool_record> spool::append(std::string_view payload, std::uint32_t items) {
  std::unique_lock lock(mutex_);
  bool full = fd_ >= 0 && segments_[current_].bytes > 0 &&
              segments_[current_].bytes + kHeader + payload.size() > opts_.segment_bytes;
  if ((fd_ < 0 || full) && !start_segment()) {
    ++append_errors_;
    return nullptr;
  }
  std::uint32_t header[4] = {kMagic, static_cast<std::uint32_t>(payload.size()), items,
                             crc_of(payload.data(), payload.size())};
  auto offset = segments_[current_].bytes;
  bool ok = write_all(fd_, reinterpret_cast<const char*>(header), kHeader) &&
            write_all(fd_, payload.data(), payload.size()) &&
            (!opts_.fsync || ::fdatasync(fd_) == 0);
  if (!ok) {
    ++append_errors_;
    // What was written of this record (all of it, when only the flush failed) is not counted: a
    // partial record ends the next start's reading of this segment, so the next record goes to
    // a new one.
    if (segments_[current_].live == 0) {
      ::close(fd_);
      fd_ = -1;
      ::unlink(path_of(current_).c_str());
      segments_.erase(current_);
    } else {
      start_segment();
    }
    return nullptr;
  }
  auto& cur = segments_[current_];
  cur.bytes += kHeader + payload.size();
  ++cur.live;
  auto id = current_;
  lock.unlock();
  return std::make_shared<spool_record>(shared_from_this(), id, offset + kHeader,
                                        static_cast<std::uint32_t>(payload.size()), items);
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
  std::lock_guard lock(mutex_);
  auto it = segments_.find(segment_id);
  if (it == segments_.end() || it->second.live == 0) return;
  if (--it->second.live > 0) return;
  // Nothing in it is wanted: delivered data must not come back at the next start. The segment
  // being written goes too; the next append starts a new one.
  if (segment_id == current_ && fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  ::unlink(path_of(segment_id).c_str());
  segments_.erase(it);
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
