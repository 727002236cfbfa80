#include "intake/otlp_wire.hpp"

#include <google/protobuf/descriptor.h>

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <unordered_set>

#include "codec/payload.hpp"
#include "codec/utf8.hpp"
#include "intake/admission.hpp"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace sidelight::intake {

using codec::append_field1;
using codec::append_varint;

namespace {

namespace pb = google::protobuf;
namespace otlp = opentelemetry::proto;

enum class kind : std::uint8_t { unknown, varint, fixed64, fixed32, string, bytes, message };

struct message_rule;
struct field_rule {
  kind k = kind::unknown;
  bool repeated = false;
  const message_rule* nested = nullptr;
  std::string_view name;
};

// What the walker knows of one message type: its fields by number, and whether one occurrence of
// it is an item the pipeline counts (a span, a log record, a metric data point).
struct message_rule {
  std::string_view name;
  std::vector<field_rule> fields;  // indexed by field number
  bool is_item = false;
};

kind kind_of(const pb::FieldDescriptor& f) {
  switch (f.type()) {
    case pb::FieldDescriptor::TYPE_STRING:
      return kind::string;
    case pb::FieldDescriptor::TYPE_BYTES:
      return kind::bytes;
    case pb::FieldDescriptor::TYPE_MESSAGE:
      return kind::message;
    case pb::FieldDescriptor::TYPE_FIXED64:
    case pb::FieldDescriptor::TYPE_SFIXED64:
    case pb::FieldDescriptor::TYPE_DOUBLE:
      return kind::fixed64;
    case pb::FieldDescriptor::TYPE_FIXED32:
    case pb::FieldDescriptor::TYPE_SFIXED32:
    case pb::FieldDescriptor::TYPE_FLOAT:
      return kind::fixed32;
    case pb::FieldDescriptor::TYPE_GROUP:
      return kind::unknown;
    default:
      return kind::varint;
  }
}

// The OTLP schema as walker rules, built once from the compiled descriptors.
class schema {
 public:
  static const schema& get() {
    static const schema s;
    return s;
  }
  const message_rule& request(codec::signal s) const {
    return *requests_[static_cast<std::size_t>(s)];
  }
  // The rule of what a scope message holds in its field 2: Span, LogRecord or Metric.
  const message_rule& scope_item(codec::signal s) const {
    return *items_[static_cast<std::size_t>(s)];
  }

 private:
  schema() {
    const std::unordered_set<std::string> items = {
        "opentelemetry.proto.trace.v1.Span",
        "opentelemetry.proto.logs.v1.LogRecord",
        "opentelemetry.proto.metrics.v1.NumberDataPoint",
        "opentelemetry.proto.metrics.v1.HistogramDataPoint",
        "opentelemetry.proto.metrics.v1.ExponentialHistogramDataPoint",
        "opentelemetry.proto.metrics.v1.SummaryDataPoint",
    };
    requests_[static_cast<std::size_t>(codec::signal::traces)] =
        rule_for(otlp::collector::trace::v1::ExportTraceServiceRequest::descriptor(), items);
    requests_[static_cast<std::size_t>(codec::signal::metrics)] =
        rule_for(otlp::collector::metrics::v1::ExportMetricsServiceRequest::descriptor(), items);
    requests_[static_cast<std::size_t>(codec::signal::logs)] =
        rule_for(otlp::collector::logs::v1::ExportLogsServiceRequest::descriptor(), items);
    items_[static_cast<std::size_t>(codec::signal::traces)] =
        rule_for(otlp::trace::v1::Span::descriptor(), items);
    items_[static_cast<std::size_t>(codec::signal::metrics)] =
        rule_for(otlp::metrics::v1::Metric::descriptor(), items);
    items_[static_cast<std::size_t>(codec::signal::logs)] =
        rule_for(otlp::logs::v1::LogRecord::descriptor(), items);
  }

  const message_rule* rule_for(const pb::Descriptor* d,
                               const std::unordered_set<std::string>& items) {
    auto& slot = rules_[d];
    if (slot) return slot.get();
    slot = std::make_unique<message_rule>();
    auto* rule = slot.get();
    rule->name = d->full_name();
    rule->is_item = items.count(d->full_name()) > 0;
    int max_number = 0;
    for (int i = 0; i < d->field_count(); ++i)
      max_number = std::max(max_number, d->field(i)->number());
    rule->fields.resize(static_cast<std::size_t>(max_number) + 1);
    for (int i = 0; i < d->field_count(); ++i) {
      const auto* f = d->field(i);
      field_rule fr;
      fr.k = kind_of(*f);
      fr.repeated = f->is_repeated();
      fr.name = f->name();
      if (fr.k == kind::message) fr.nested = rule_for(f->message_type(), items);
      rule->fields[static_cast<std::size_t>(f->number())] = fr;
    }
    return rule;
  }

  std::map<const pb::Descriptor*, std::unique_ptr<message_rule>> rules_;
  const message_rule* requests_[3] = {};
  const message_rule* items_[3] = {};
};

struct reader {
  const std::uint8_t* p;
  const std::uint8_t* end;

  bool varint(std::uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p == end) return false;
      auto b = *p++;
      v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;
  }
  // A tag or a length. Protobuf reads these in at most 5 bytes and refuses a longer encoding
  // (a non-minimal one included), so a request accepted here must not have one: it would make
  // the upstream refuse the whole batch. 1: read, 0: truncated, -1: too long.
  int varint32(std::uint64_t& v) {
    if (p != end && *p < 0x80) {  // nearly every tag and most lengths: one byte
      v = *p++;
      return 1;
    }
    v = 0;
    for (int i = 0; i < 5; ++i) {
      if (p == end) return 0;
      auto b = *p++;
      v |= static_cast<std::uint64_t>(b & 0x7f) << (7 * i);
      if ((b & 0x80) == 0) return v <= 0xffffffff ? 1 : -1;
    }
    return -1;
  }
  bool skip(std::size_t n) {
    if (static_cast<std::size_t>(end - p) < n) return false;
    p += n;
    return true;
  }
};

struct resource_span {
  const std::uint8_t* body;
  std::size_t len;
  std::uint64_t items;
};

class walker {
 public:
  std::uint64_t items = 0;
  std::string error;
  // When set: called with each Resource* found at the top, once it is valid; false stops the walk
  // (the callback has said why).
  std::function<bool(const resource_span&)> on_resource;

  bool walk(const std::uint8_t* p, const std::uint8_t* end, const message_rule& m, int depth) {
    if (depth > kMaxProtoDepth) {
      return fail(m, nullptr, 0, "nested more than " + std::to_string(kMaxProtoDepth) + " deep");
    }
    if (m.is_item) ++items;
    reader r{p, end};
    while (r.p < r.end) {
      std::uint64_t tag = 0;
      if (int got = r.varint32(tag); got != 1) {
        return fail(m, nullptr, 0, got == 0 ? "truncated field tag" : "field tag over 5 bytes");
      }
      auto number = tag >> 3;
      auto wire = static_cast<int>(tag & 7);
      if (number == 0 || number > 536870911) {
        return fail(m, nullptr, 0, "invalid field number " + std::to_string(number));
      }
      const field_rule* f = number < m.fields.size() ? &m.fields[number] : nullptr;
      if (f && f->k == kind::unknown) f = nullptr;
      if (!field(r, m, f, number, wire, depth)) return false;
    }
    return true;
  }

 private:
  // The failure paths are out of line: their strings would otherwise widen the stack frame of
  // every nested walk (a span's attributes are two levels each).
  [[gnu::cold, gnu::noinline]] bool fail(const message_rule& m, const field_rule* f,
                                         std::uint64_t number, std::string what) {
    if (error.empty()) {
      error = std::string(m.name);
      if (f) {
        error += "." + std::string(f->name);
      } else if (number) {
        error += " field " + std::to_string(number);
      }
      error += ": " + what;
    }
    return false;
  }
  [[gnu::cold, gnu::noinline]] bool fail(const message_rule& m, const field_rule* f,
                                         std::uint64_t number, const char* what) {
    return fail(m, f, number, std::string(what));
  }
  [[gnu::cold, gnu::noinline]] bool wrong_type(const message_rule& m, const field_rule* f,
                                               std::uint64_t number, int wire) {
    static constexpr const char* kWireNames[] = {"varint", "64-bit",    "length-delimited",
                                                 "group",  "group end", "32-bit"};
    return fail(
        m, f, number,
        std::string("wrong wire type: ") + kWireNames[wire] + ", expected " + expected_name(f->k));
  }
  [[gnu::cold, gnu::noinline]] bool unsupported(const message_rule& m, const field_rule* f,
                                                std::uint64_t number, int wire) {
    return fail(m, f, number, "unsupported wire type " + std::to_string(wire));
  }
  [[gnu::cold, gnu::noinline]] bool past_end(const message_rule& m, const field_rule* f,
                                             std::uint64_t number, std::uint64_t len) {
    return fail(m, f, number,
                "length " + std::to_string(len) + " runs past the end of the message");
  }

  bool field(reader& r, const message_rule& m, const field_rule* f, std::uint64_t number, int wire,
             int depth) {
    std::uint64_t len = 0;
    switch (wire) {
      case 0: {
        std::uint64_t v = 0;
        if (f && f->k != kind::varint) return wrong_type(m, f, number, wire);
        if (!r.varint(v)) return fail(m, f, number, "truncated varint");
        return true;
      }
      case 1:
        if (f && f->k != kind::fixed64) return wrong_type(m, f, number, wire);
        return r.skip(8) || fail(m, f, number, "truncated 64-bit value");
      case 5:
        if (f && f->k != kind::fixed32) return wrong_type(m, f, number, wire);
        return r.skip(4) || fail(m, f, number, "truncated 32-bit value");
      case 2:
        break;
      default:
        return unsupported(m, f, number, wire);
    }
    if (int got = r.varint32(len); got != 1) {
      return fail(m, f, number, got == 0 ? "truncated length" : "length over 5 bytes");
    }
    if (len > static_cast<std::uint64_t>(r.end - r.p)) return past_end(m, f, number, len);
    const auto* body = r.p;
    r.p += len;
    if (!f) return true;
    switch (f->k) {
      case kind::string:
        if (!codec::is_valid_utf8({reinterpret_cast<const char*>(body), len})) {
          return fail(m, f, number, "invalid UTF-8");
        }
        return true;
      case kind::bytes:
        return true;
      case kind::message: {
        auto before = items;
        if (!walk(body, body + len, *f->nested, depth + 1)) return false;
        if (depth == 0 && number == 1 && on_resource) {
          return on_resource({body, static_cast<std::size_t>(len), items - before});
        }
        return true;
      }
      case kind::varint:
      case kind::fixed64:
      case kind::fixed32:
        return packed(m, f, number, body, len);
      case kind::unknown:
        return true;
    }
    return true;
  }

  // A packed repeated scalar (a histogram's bucket counts): rare enough to stay out of line.
  [[gnu::noinline]] bool packed(const message_rule& m, const field_rule* f, std::uint64_t number,
                                const std::uint8_t* body, std::uint64_t len) {
    if (!f->repeated) return wrong_type(m, f, number, 2);
    if (f->k == kind::fixed64 && len % 8 != 0) return fail(m, f, number, "packed length");
    if (f->k == kind::fixed32 && len % 4 != 0) return fail(m, f, number, "packed length");
    if (f->k == kind::varint) {
      reader in{body, body + len};
      std::uint64_t v = 0;
      while (in.p < in.end) {
        if (!in.varint(v)) return fail(m, f, number, "truncated packed varint");
      }
    }
    return true;
  }

  static const char* expected_name(kind k) {
    switch (k) {
      case kind::varint:
        return "varint";
      case kind::fixed64:
        return "64-bit";
      case kind::fixed32:
        return "32-bit";
      default:
        return "length-delimited";
    }
  }
};

const std::uint8_t* bytes_of(std::string_view s) {
  return reinterpret_cast<const std::uint8_t*>(s.data());
}

}  // namespace

void fill_missing(otlp::resource::v1::Resource& resource,
                  const otlp::resource::v1::Resource& additions) {
  auto original = resource.attributes_size();
  for (const auto& kv : additions.attributes()) {
    bool present = false;
    for (int i = 0; i < original && !present; ++i) {
      auto& have = *resource.mutable_attributes(i);
      if (have.key() != kv.key()) continue;
      present = true;
      // An SDK that was not told its service's name says "unknown_service": not the client's
      // word, so the watched target's (or OTEL_SERVICE_NAME's) name fills it in.
      if (kv.key() == "service.name" && have.value().has_string_value() &&
          is_default_service_name(have.value().string_value())) {
        *have.mutable_value() = kv.value();
      }
    }
    if (!present) *resource.add_attributes() = kv;
  }
}

std::string validate_request(codec::signal s, std::string_view request, std::uint64_t& items) {
  walker w;
  w.walk(bytes_of(request), bytes_of(request) + request.size(), schema::get().request(s), 0);
  items = w.items;
  return w.error;
}

bool trace_sampled(std::string_view trace_id, double ratio) {
  if (trace_id.size() != 16 || ratio >= 1.0) return true;
  if (ratio <= 0.0) return false;
  std::uint64_t low = 0;
  for (std::size_t i = 8; i < 16; ++i)
    low = (low << 8) | static_cast<unsigned char>(trace_id[i]);
  auto bound = static_cast<std::uint64_t>(ratio * 18446744073709551616.0);
  return low < bound;
}

namespace {

// Reads one field; the message is known to be valid. `value` is the payload of a
// length-delimited field, `number` and `wire` its tag.
struct field_view {
  std::uint64_t number = 0;
  int wire = 0;
  std::uint64_t varint = 0;
  std::string_view value;
  std::string_view whole;  // tag included
};

bool next_field(reader& r, field_view& f) {
  if (r.p >= r.end) return false;
  const auto* start = r.p;
  std::uint64_t tag = 0;
  r.varint(tag);
  f.number = tag >> 3;
  f.wire = static_cast<int>(tag & 7);
  f.value = {};
  switch (f.wire) {
    case 0:
      r.varint(f.varint);
      break;
    case 1:
      r.skip(8);
      break;
    case 5:
      r.skip(4);
      break;
    default: {
      std::uint64_t len = 0;
      r.varint(len);
      f.value = std::string_view(reinterpret_cast<const char*>(r.p), static_cast<std::size_t>(len));
      r.p += len;
    }
  }
  f.whole =
      std::string_view(reinterpret_cast<const char*>(start), static_cast<std::size_t>(r.p - start));
  return true;
}

void append_field(std::string& out, std::uint64_t number, std::string_view payload) {
  append_varint(out, (number << 3) | 2);
  append_varint(out, payload.size());
  out.append(payload);
}

// Span: trace_id is field 1, status field 15 with its code in field 3 (2 = ERROR).
bool keep_span(std::string_view span, double ratio) {
  reader r{bytes_of(span), bytes_of(span) + span.size()};
  field_view f;
  std::string_view trace_id;
  bool error = false;
  while (next_field(r, f)) {
    if (f.number == 1 && f.wire == 2) trace_id = f.value;
    if (f.number == 15 && f.wire == 2) {
      reader sr{bytes_of(f.value), bytes_of(f.value) + f.value.size()};
      field_view sf;
      while (next_field(sr, sf))
        if (sf.number == 3 && sf.wire == 0) error = sf.varint == 2;
    }
  }
  return error || trace_sampled(trace_id, ratio);
}

// LogRecord: severity_number is field 2, trace_id field 9.
bool keep_log(std::string_view record, double ratio) {
  reader r{bytes_of(record), bytes_of(record) + record.size()};
  field_view f;
  std::string_view trace_id;
  std::uint64_t severity = 0;
  while (next_field(r, f)) {
    if (f.number == 2 && f.wire == 0) severity = f.varint;
    if (f.number == 9 && f.wire == 2) trace_id = f.value;
  }
  return trace_id.empty() || severity >= 17 || trace_sampled(trace_id, ratio);
}

// Rewrites a ResourceSpans / ResourceLogs keeping the items (field 2 of the scope message, which
// is field 2 of the resource message) that `keep` accepts. Returns how many it left out.
template <typename Keep>
std::uint64_t filter_items(std::string_view resource, std::string& out, const Keep& keep) {
  std::uint64_t dropped = 0;
  reader r{bytes_of(resource), bytes_of(resource) + resource.size()};
  field_view f;
  while (next_field(r, f)) {
    if (f.number != 2 || f.wire != 2) {
      out.append(f.whole);
      continue;
    }
    std::string scope;
    std::uint64_t kept = 0;
    std::uint64_t seen = 0;
    reader sr{bytes_of(f.value), bytes_of(f.value) + f.value.size()};
    field_view sf;
    while (next_field(sr, sf)) {
      if (sf.number == 2 && sf.wire == 2) {
        ++seen;
        if (!keep(sf.value)) {
          ++dropped;
          continue;
        }
        ++kept;
      }
      scope.append(sf.whole);
    }
    if (seen > 0 && kept == 0) continue;  // nothing left in this scope
    append_field(out, 2, scope);
  }
  return dropped;
}

// Frames a Resource* message as a chunk: field 1 of the request.
pipeline::chunk make_chunk(std::string_view message, std::uint64_t items) {
  auto framed = std::make_shared<codec::payload>();
  framed->reserve(message.size() + 12);
  append_field1(*framed, message);
  pipeline::chunk c;
  c.bytes = std::move(framed);
  c.items = static_cast<std::uint32_t>(items);
  return c;
}

// Splits a Resource* (its resource field framed as `resource_field`, its other fields in
// `rest`) into chunks framed at most `limit` bytes where whole items allow: every piece repeats
// the resource and the Resource*'s other fields, and each scope's header, and carries the next
// items in order. An item larger than `limit` goes alone.
void split_resource(codec::signal s, const std::string& resource_field,
                    const std::vector<std::string_view>& rest, std::uint64_t limit,
                    std::vector<pipeline::chunk>& out) {
  constexpr std::size_t kFraming = 2 * 10;  // a tag and a length, twice (scope and chunk)
  std::string head = resource_field;
  std::vector<std::string_view> scopes;
  for (auto run : rest) {
    reader r{bytes_of(run), bytes_of(run) + run.size()};
    field_view f;
    while (next_field(r, f)) {
      if (f.number == 2 && f.wire == 2) {
        scopes.push_back(f.value);
      } else {
        head.append(f.whole);
      }
    }
  }
  const auto& item_rule = schema::get().scope_item(s);
  std::string piece = head;
  std::uint64_t piece_items = 0;
  bool piece_empty = true;
  for (auto scope : scopes) {
    std::string scope_head;
    std::vector<field_view> items;
    reader r{bytes_of(scope), bytes_of(scope) + scope.size()};
    field_view f;
    while (next_field(r, f)) {
      if (f.number == 2 && f.wire == 2) {
        items.push_back(f);
      } else {
        scope_head.append(f.whole);
      }
    }
    std::string body = scope_head;
    std::uint64_t body_items = 0;
    bool body_empty = true;
    auto close_scope = [&] {
      if (body_empty) return;
      append_field(piece, 2, body);
      piece_items += body_items;
      piece_empty = false;
      body = scope_head;
      body_items = 0;
      body_empty = true;
    };
    for (const auto& item : items) {
      bool fits = piece.size() + body.size() + item.whole.size() + kFraming <= limit;
      if (!fits && !(piece_empty && body_empty)) {
        close_scope();
        out.push_back(make_chunk(piece, piece_items));
        piece = head;
        piece_items = 0;
        piece_empty = true;
      }
      walker w;
      w.walk(bytes_of(item.value), bytes_of(item.value) + item.value.size(), item_rule, 1);
      body.append(item.whole);
      body_items += w.items;
      body_empty = false;
    }
    close_scope();
  }
  if (!piece_empty) out.push_back(make_chunk(piece, piece_items));
}

}  // namespace

namespace {

// Frames each Resource* the walker hands over into chunks as it is found, so that what a request
// costs is its output, never an entry per Resource* first. A request refused later in the walk
// takes its chunks back.
class resource_framer {
 public:
  resource_framer(codec::signal s, std::uint64_t request_size,
                  const otlp::resource::v1::Resource& additions, std::optional<double> ratio,
                  std::uint64_t max_chunk_bytes, split_request_result& out)
      : s_(s),
        additions_(additions),
        ratio_(ratio),
        max_chunk_bytes_(max_chunk_bytes),
        shared_limit_(max_chunk_bytes > 0 ? max_chunk_bytes : kMaxSharedChunk),
        max_total_(2 * request_size + (1u << 20)),
        out_(out) {}

  bool take(resource_span rs) {
    std::string filtered;
    if (ratio_) {
      std::string_view in(reinterpret_cast<const char*>(rs.body), rs.len);
      auto dropped = s_ == codec::signal::traces
                         ? filter_items(in, filtered,
                                        [&](std::string_view x) { return keep_span(x, *ratio_); })
                         : filter_items(in, filtered,
                                        [&](std::string_view x) { return keep_log(x, *ratio_); });
      out_.sampled_out += dropped;
      rs.items -= dropped;
      rs.body = bytes_of(filtered);
      rs.len = filtered.size();
    }
    ++resources_;
    // Nothing to carry (everything sampled out, or sent empty): a Resource* without items would
    // cost its enriched resource, and is worth nothing upstream.
    if (rs.items == 0) return true;
    std::vector<std::string_view> rest;
    std::size_t rest_size = 0;
    auto resource_field = enriched_resource(rs, rest, rest_size);
    auto framed_size = resource_field.size() + rest_size + 12;
    // Each Resource* gets the missing resource attributes: many tiny ones in one request would
    // each grow by all of them. What a request may grow to is bounded while it is built.
    total_ += framed_size;
    if (total_ > max_total_) {
      out_.error = "the request's resources (" + std::to_string(resources_) +
                   " so far) grow it to more than " + std::to_string(max_total_) +
                   " bytes with the resource attributes sidelight adds; send fewer, larger "
                   "resources per request";
      return false;
    }
    if (max_chunk_bytes_ > 0 && framed_size > max_chunk_bytes_) {
      split_resource(s_, resource_field, rest, max_chunk_bytes_, out_.chunks);
      open_.reset();
      return true;
    }
    // Resource*s that fit together share a chunk: a chunk's own cost (its allocation, its queue
    // entry) is paid once per request, not once per Resource*, whatever the client sends.
    if (!open_ || open_->size() + framed_size > shared_limit_) {
      open_ = std::make_shared<codec::payload>();
      open_->reserve(framed_size);
      pipeline::chunk c;
      c.bytes = open_;
      out_.chunks.push_back(std::move(c));
    }
    // The re-framed Resource*: its new resource field, then everything else, copied once.
    open_->push_back(0x0a);
    append_varint(*open_, resource_field.size() + rest_size);
    open_->append(resource_field);
    for (auto part : rest)
      open_->append(part);
    out_.chunks.back().items += static_cast<std::uint32_t>(rs.items);
    return true;
  }

 private:
  // The Resource* `rs`'s resource with `additions` filled in, framed as its field 1; its other
  // fields go to `rest`. Validated: every length below is known to be in bounds. The Resource
  // fields (number 1) merge, as protobuf would; every other field is kept as it is.
  std::string enriched_resource(const resource_span& rs, std::vector<std::string_view>& rest,
                                std::size_t& rest_size) {
    otlp::resource::v1::Resource resource;
    reader inner{rs.body, rs.body + rs.len};
    while (inner.p < inner.end) {
      const auto* field_start = inner.p;
      std::uint64_t tag = 0;
      std::uint64_t len = 0;
      inner.varint(tag);
      switch (tag & 7) {
        case 0:
          inner.varint(len);
          break;
        case 1:
          inner.skip(8);
          break;
        case 5:
          inner.skip(4);
          break;
        default:
          inner.varint(len);
          if (tag >> 3 == 1) {
            otlp::resource::v1::Resource part;
            part.ParseFromArray(inner.p, static_cast<int>(len));
            resource.MergeFrom(part);
            inner.p += len;
            continue;
          }
          inner.p += len;
      }
      std::string_view field(reinterpret_cast<const char*>(field_start),
                             static_cast<std::size_t>(inner.p - field_start));
      // Neighbouring fields are copied as one run.
      if (!rest.empty() && rest.back().data() + rest.back().size() == field.data()) {
        rest.back() = std::string_view(rest.back().data(), rest.back().size() + field.size());
      } else {
        rest.push_back(field);
      }
      rest_size += field.size();
    }
    fill_missing(resource, additions_);
    std::string resource_field;
    append_field1(resource_field, resource.SerializeAsString());
    return resource_field;
  }

  codec::signal s_;
  const otlp::resource::v1::Resource& additions_;
  std::optional<double> ratio_;
  std::uint64_t max_chunk_bytes_;
  std::uint64_t shared_limit_;
  std::uint64_t max_total_;
  split_request_result& out_;
  std::shared_ptr<codec::payload> open_;  // the chunk Resource*s are being added to
  std::uint64_t total_ = 0;
  std::uint64_t resources_ = 0;
};

}  // namespace

split_request_result split_request(codec::signal s, std::string_view request,
                                   const otlp::resource::v1::Resource& additions,
                                   const config::sampling_settings* sampling,
                                   std::uint64_t max_chunk_bytes) {
  split_request_result out;
  std::optional<double> ratio;
  if (sampling)
    ratio = s == codec::signal::traces ? sampling->traces
            : s == codec::signal::logs ? sampling->logs
                                       : std::nullopt;
  resource_framer framer(s, request.size(), additions, ratio, max_chunk_bytes, out);
  walker w;
  w.on_resource = [&](const resource_span& rs) { return framer.take(rs); };
  w.walk(bytes_of(request), bytes_of(request) + request.size(), schema::get().request(s), 0);
  out.items = w.items;
  if (out.error.empty()) out.error = std::move(w.error);
  if (!out.error.empty()) out.chunks.clear();
  return out;
}

}  // namespace sidelight::intake
