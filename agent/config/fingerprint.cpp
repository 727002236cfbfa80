#include <sstream>

#include "config/config.hpp"

namespace sidelight::config {

std::string watch_fingerprint(const target& t) {
  std::ostringstream out;
  out << t.name << '\x1f' << static_cast<int>(t.identity) << '\x1f';
  // The watcher decides the target's status with these, so a change makes a new watcher.
  out << t.min_instances << '\x1f' << t.crash_loop.restarts << '\x1f' << t.crash_loop.window.count()
      << '\x1f';
  const auto& h = t.http;
  out << h.url << '\x1f' << h.expect_status << '\x1f' << h.timeout.count() << '\x1f'
      << (h.interval ? h.interval->count() : 0) << '\x1f';
  switch (t.identity) {
    case target::kind::pid:
      out << t.pid;
      break;
    case target::kind::pidfile:
      out << t.pidfile;
      break;
    case target::kind::process: {
      const auto& p = t.process;
      out << p.comm.value_or("\x1e") << '\x1f' << p.exe.value_or("\x1e") << '\x1f'
          << p.cmdline.value_or("\x1e") << '\x1f' << (p.uid ? std::to_string(*p.uid) : "-");
      break;
    }
    case target::kind::systemd_unit:
      out << t.systemd_unit;
      break;
    case target::kind::socket: {
      const auto& s = t.socket;
      out << static_cast<int>(s.kind) << '\x1f' << s.host << '\x1f' << s.port << '\x1f' << s.path
          << '\x1f' << static_cast<int>(s.check) << '\x1f' << s.timeout.count() << '\x1f'
          << s.probe_interval.count() << '\x1f' << s.send << '\x1e' << s.expect;
      break;
    }
  }
  return out.str();
}

std::string exporter_fingerprint(const otlp_exporter& e) {
  std::ostringstream out;
  out << e.name << '\x1f' << static_cast<int>(e.balance);
  for (const auto& t : e.targets)
    out << '\x1f' << t.text;
  out << '\x1f' << static_cast<int>(e.wire) << '\x1f' << static_cast<int>(e.codec) << '\x1f'
      << e.timeout.count() << '\x1f' << e.tls.insecure << '\x1f' << e.tls.ca_file << '\x1f'
      << e.tls.cert_file << '\x1f' << e.tls.key_file << '\x1f' << e.tls.server_name << '\x1f'
      << e.retry.enabled << '\x1f' << e.retry.initial_interval.count() << '\x1f'
      << e.retry.max_interval.count() << '\x1f' << e.retry.multiplier << '\x1f'
      << e.keepalive_time.count() << '\x1f' << e.keepalive_timeout.count() << '\x1f' << e.spool.dir
      << '\x1f' << e.spool.max_bytes << '\x1f' << e.spool.fsync;
  for (const auto& [k, v] : e.headers)
    out << '\x1f' << k << '=' << v;
  return out.str();
}

std::string intake_fingerprint(const intake_settings& in) {
  std::ostringstream out;
  for (const auto* l : {&in.otlp_grpc, &in.otlp_http, &in.ndjson}) {
    out << l->unix_path << '\x1f' << l->unix_datagram << '\x1f' << l->tcp << '\x1f' << l->mode
        << '\x1f' << l->group << '\x1f' << l->max_message_size << '\x1f' << l->max_connections
        << '\x1f' << l->idle_timeout.count() << '\x1e';
  }
  return out.str();
}

std::string pipeline_fingerprint(const config& c) {
  std::ostringstream out;
  out << c.queue.max_bytes << '\x1f' << c.queue.max_items << '\x1f'
      << static_cast<int>(c.queue.full) << '\x1f' << c.batch.max_items << '\x1f'
      << c.batch.max_bytes << '\x1f' << c.batch.timeout.count();
  return out.str();
}

}  // namespace sidelight::config
