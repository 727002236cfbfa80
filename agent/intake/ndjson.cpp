#include "intake/ndjson.hpp"

#include <array>
#include <cstring>

namespace sidelight::intake {

namespace ondemand = simdjson::ondemand;
namespace common = opentelemetry::proto::common::v1;
namespace trace = opentelemetry::proto::trace::v1;

namespace {

// A problem in the line, carried to decode() with the field it concerns.
struct bad_line {
  std::string message;
};

[[noreturn]] void fail(std::string message) {
  throw bad_line{std::move(message)};
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] + 32) : a[i];
    if (x != b[i]) return false;
  }
  return true;
}

void to_any(ondemand::value v, common::AnyValue& out, int depth, std::string_view key);

void to_kvlist(ondemand::object obj, common::KeyValueList& out, int depth) {
  for (auto field : obj) {
    std::string_view key = field.unescaped_key();
    auto* kv = out.add_values();
    kv->set_key(std::string(key));
    to_any(field.value(), *kv->mutable_value(), depth + 1, key);
  }
}

void to_any(ondemand::value v, common::AnyValue& out, int depth, std::string_view key) {
  if (depth > kMaxJsonDepth) {
    fail("'" + std::string(key) + "' nests deeper than " + std::to_string(kMaxJsonDepth) +
         " levels");
  }
  switch (v.type()) {
    case ondemand::json_type::string:
      out.set_string_value(std::string(v.get_string().value()));
      break;
    case ondemand::json_type::boolean:
      out.set_bool_value(v.get_bool());
      break;
    case ondemand::json_type::number: {
      auto n = v.get_number().value();
      if (n.is_int64()) {
        out.set_int_value(n.get_int64());
      } else if (n.is_uint64() && n.get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
        out.set_int_value(static_cast<std::int64_t>(n.get_uint64()));
      } else {
        out.set_double_value(n.as_double());
      }
      break;
    }
    case ondemand::json_type::object:
      to_kvlist(v.get_object(), *out.mutable_kvlist_value(), depth);
      break;
    case ondemand::json_type::array:
      for (auto element : v.get_array()) {
        to_any(element.value(), *out.mutable_array_value()->add_values(), depth + 1, key);
      }
      break;
    case ondemand::json_type::null:
      break;  // an empty AnyValue
  }
}

// A timestamp field: an RFC 3339 string or integer unix nanoseconds.
std::uint64_t timestamp(ondemand::value v, std::string_view key) {
  if (v.type() == ondemand::json_type::number) {
    std::int64_t ns = 0;
    if (v.get_int64().get(ns) || ns < 0) {
      fail("'" + std::string(key) + "': expected unix nanoseconds as a whole number");
    }
    return static_cast<std::uint64_t>(ns);
  }
  std::string_view text;
  if (v.get_string().get(text)) {
    fail("'" + std::string(key) + "': expected an RFC 3339 time or unix nanoseconds");
  }
  auto ns = parse_rfc3339(text);
  if (!ns || *ns < 0) {
    fail("'" + std::string(key) + "': '" + std::string(text) +
         "' is not an RFC 3339 time such as 2024-03-15T10:23:45.123Z");
  }
  return static_cast<std::uint64_t>(*ns);
}

std::string_view string_field(ondemand::value v, std::string_view key) {
  std::string_view s;
  if (v.get_string().get(s)) fail("'" + std::string(key) + "': expected a string");
  return s;
}

std::string id_field(ondemand::value v, std::string_view key, std::size_t bytes) {
  auto hex = string_field(v, key);
  auto id = decode_hex(hex, bytes);
  if (!id) {
    fail("'" + std::string(key) + "': expected " + std::to_string(bytes * 2) +
         " hex digits, got '" + std::string(hex.substr(0, 64)) + "'");
  }
  return *id;
}

void add_attributes(ondemand::value v, google::protobuf::RepeatedPtrField<common::KeyValue>& out,
                    std::string_view key) {
  ondemand::object obj;
  if (v.get_object().get(obj)) fail("'" + std::string(key) + "': expected an object");
  for (auto field : obj) {
    auto* kv = out.Add();
    std::string_view k = field.unescaped_key();
    kv->set_key(std::string(k));
    to_any(field.value(), *kv->mutable_value(), 2, k);
  }
}

void decode_log(ondemand::object obj, ndjson_line& out) {
  auto& log = out.log;
  for (auto field : obj) {
    std::string_view key = field.unescaped_key();
    ondemand::value v = field.value();
    if (key == "timestamp" || key == "time" || key == "ts") {
      log.set_time_unix_nano(timestamp(v, key));
    } else if (key == "level" || key == "severity") {
      if (v.type() == ondemand::json_type::number) {
        std::int64_t n = 0;
        if (v.get_int64().get(n) || n < 1 || n > 24) {
          fail("'" + std::string(key) + "': expected a level name or a severity number 1..24");
        }
        log.set_severity_number(static_cast<opentelemetry::proto::logs::v1::SeverityNumber>(n));
      } else {
        auto text = string_field(v, key);
        log.set_severity_text(std::string(text));
        log.set_severity_number(
            static_cast<opentelemetry::proto::logs::v1::SeverityNumber>(severity_number(text)));
      }
    } else if (key == "message" || key == "msg") {
      to_any(v, *log.mutable_body(), 1, key);
    } else if (key == "trace_id" || key == "traceId") {
      log.set_trace_id(id_field(v, key, 16));
    } else if (key == "span_id" || key == "spanId") {
      log.set_span_id(id_field(v, key, 8));
    } else if (key == "service") {
      out.service = std::string(string_field(v, key));
    } else {
      auto* kv = log.add_attributes();
      kv->set_key(std::string(key));
      to_any(v, *kv->mutable_value(), 1, key);
    }
  }
}

// Calls `each` for every object of a list field ("events", "links").
template <typename Fn>
void for_each_object(ondemand::value v, std::string_view key, Fn each) {
  ondemand::array list;
  if (v.get_array().get(list)) fail("'" + std::string(key) + "': expected a list");
  for (auto element : list) {
    ondemand::object obj;
    if (element.get_object().get(obj)) fail("'" + std::string(key) + "': expected objects");
    each(obj);
  }
}

trace::Span::SpanKind span_kind(std::string_view text) {
  static constexpr std::array<std::pair<std::string_view, trace::Span::SpanKind>, 5> kinds{{
      {"internal", trace::Span::SPAN_KIND_INTERNAL},
      {"server", trace::Span::SPAN_KIND_SERVER},
      {"client", trace::Span::SPAN_KIND_CLIENT},
      {"producer", trace::Span::SPAN_KIND_PRODUCER},
      {"consumer", trace::Span::SPAN_KIND_CONSUMER},
  }};
  for (const auto& [name, kind] : kinds)
    if (iequals(text, name)) return kind;
  fail("'kind': expected internal, server, client, producer or consumer, got '" +
       std::string(text.substr(0, 64)) + "'");
}

void decode_span(ondemand::value value, ndjson_line& out) {
  ondemand::object obj;
  if (value.get_object().get(obj)) fail("'span': expected an object");
  auto& span = out.span;
  for (auto field : obj) {
    std::string_view key = field.unescaped_key();
    ondemand::value v = field.value();
    if (key == "name") {
      span.set_name(std::string(string_field(v, key)));
    } else if (key == "trace_id" || key == "traceId") {
      span.set_trace_id(id_field(v, key, 16));
    } else if (key == "span_id" || key == "spanId") {
      span.set_span_id(id_field(v, key, 8));
    } else if (key == "parent_span_id" || key == "parentSpanId") {
      span.set_parent_span_id(id_field(v, key, 8));
    } else if (key == "kind") {
      span.set_kind(span_kind(string_field(v, key)));
    } else if (key == "start") {
      span.set_start_time_unix_nano(timestamp(v, key));
    } else if (key == "end") {
      span.set_end_time_unix_nano(timestamp(v, key));
    } else if (key == "status") {
      ondemand::object st;
      if (v.get_object().get(st)) fail("'status': expected an object");
      for (auto sf : st) {
        std::string_view sk = sf.unescaped_key();
        auto text = string_field(sf.value(), sk);
        if (sk == "code") {
          if (iequals(text, "unset")) {
            span.mutable_status()->set_code(trace::Status::STATUS_CODE_UNSET);
          } else if (iequals(text, "ok")) {
            span.mutable_status()->set_code(trace::Status::STATUS_CODE_OK);
          } else if (iequals(text, "error")) {
            span.mutable_status()->set_code(trace::Status::STATUS_CODE_ERROR);
          } else {
            fail("'status.code': expected unset, ok or error, got '" +
                 std::string(text.substr(0, 64)) + "'");
          }
        } else if (sk == "message") {
          span.mutable_status()->set_message(std::string(text));
        }
      }
    } else if (key == "attributes") {
      add_attributes(v, *span.mutable_attributes(), key);
    } else if (key == "events") {
      for_each_object(v, key, [&](ondemand::object e) {
        auto* ev = span.add_events();
        for (auto ef : e) {
          std::string_view ek = ef.unescaped_key();
          if (ek == "name") {
            ev->set_name(std::string(string_field(ef.value(), ek)));
          } else if (ek == "time") {
            ev->set_time_unix_nano(timestamp(ef.value(), ek));
          } else if (ek == "attributes") {
            add_attributes(ef.value(), *ev->mutable_attributes(), ek);
          }
        }
      });
    } else if (key == "links") {
      for_each_object(v, key, [&](ondemand::object l) {
        auto* link = span.add_links();
        for (auto lf : l) {
          std::string_view lk = lf.unescaped_key();
          if (lk == "trace_id" || lk == "traceId") {
            link->set_trace_id(id_field(lf.value(), lk, 16));
          } else if (lk == "span_id" || lk == "spanId") {
            link->set_span_id(id_field(lf.value(), lk, 8));
          } else if (lk == "attributes") {
            add_attributes(lf.value(), *link->mutable_attributes(), lk);
          }
        }
      });
    } else {
      // Unknown span keys become attributes, as for logs.
      auto* kv = span.add_attributes();
      kv->set_key(std::string(key));
      to_any(v, *kv->mutable_value(), 1, key);
    }
  }
  if (span.trace_id().empty()) fail("'span': missing trace_id");
  if (span.span_id().empty()) fail("'span': missing span_id");
  if (span.name().empty()) fail("'span': missing name");
}

}  // namespace

std::string ndjson_decoder::decode(std::string_view line, ndjson_line& out) {
  // Cleared in place: the messages keep their strings and repeated fields' elements for the next
  // line instead of allocating them again.
  out.what = ndjson_line::kind::log;
  out.log.Clear();
  out.span.Clear();
  out.service.clear();
  while (!line.empty() && (line.back() == '\r' || line.back() == ' '))
    line.remove_suffix(1);
  if (line.empty()) return "empty line";
  if (buffer_.size() < line.size()) buffer_ = simdjson::padded_string(line.size() * 2);
  std::memcpy(buffer_.data(), line.data(), line.size());
  try {
    ondemand::document doc =
        parser_.iterate(buffer_.data(), line.size(), buffer_.size() + simdjson::SIMDJSON_PADDING);
    ondemand::object obj;
    if (auto error = doc.get_object().get(obj); error != simdjson::SUCCESS) {
      if (error == simdjson::INCORRECT_TYPE) return "expected one JSON object per line";
      if (error == simdjson::TRAILING_CONTENT) return "text after the JSON object";
      return std::string("not valid JSON: ") + simdjson::error_message(error);
    }
    // A span line is {"span": {...}}, optionally with "service" beside it; any object without a
    // "span" key is a log.
    // This first pass compares raw keys: unescaping a key writes it into the parser's string
    // buffer, which holds each string of a document once; unescaping every key again in the
    // second pass overflowed it (found by fuzz_ndjson_stream).
    bool has_span = false;
    std::string other_key;
    for (auto field : obj) {
      ondemand::raw_json_string key = field.key();
      if (key.is_equal("span")) {
        has_span = true;
      } else if (!key.is_equal("service") && other_key.empty()) {
        const char* raw = key.raw();
        std::size_t n = 0;
        while (n < 64 && raw[n] != '"' && raw[n] != '\\')
          ++n;
        other_key.assign(raw, n);
        if (other_key.empty()) other_key = "?";
      }
    }
    if (has_span && !other_key.empty()) {
      return "a span line holds only {\"span\": {...}} and \"service\"; found '" + other_key +
             "' too";
    }
    obj.reset();
    if (has_span) {
      out.what = ndjson_line::kind::span;
      for (auto field : obj) {
        std::string_view key = field.unescaped_key();
        if (key == "span") {
          decode_span(field.value(), out);
        } else {
          out.service = std::string(string_field(field.value(), key));
        }
      }
    } else {
      decode_log(obj, out);
    }
    // Fully consumed, the document has no current location left; any is trailing text.
    if (const char* rest = nullptr; doc.current_location().get(rest) == simdjson::SUCCESS) {
      return "text after the JSON object";
    }
  } catch (const bad_line& e) {
    return e.message;
  } catch (const simdjson::simdjson_error& e) {
    if (e.error() == simdjson::TRAILING_CONTENT) return "text after the JSON object";
    return std::string("not valid JSON: ") + simdjson::error_message(e.error());
  }
  return "";
}

std::optional<std::int64_t> parse_rfc3339(std::string_view s) {
  auto digits = [&](std::size_t pos, std::size_t n, int& v) {
    if (pos + n > s.size()) return false;
    v = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      v = v * 10 + (s[i] - '0');
    }
    return true;
  };
  int year, month, day, hour, minute, second;
  if (!digits(0, 4, year) || s.size() < 20 || s[4] != '-' || !digits(5, 2, month) || s[7] != '-' ||
      !digits(8, 2, day) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
      !digits(11, 2, hour) || s[13] != ':' || !digits(14, 2, minute) || s[16] != ':' ||
      !digits(17, 2, second)) {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  std::size_t pos = 19;
  std::int64_t nanos = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::size_t start = pos;
    std::int64_t scale = 100'000'000;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (scale > 0) nanos += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return std::nullopt;
  }
  std::int64_t offset = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!digits(pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !digits(pos + 4, 2, om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset = (s[pos] == '+' ? 1 : -1) * (oh * 3600 + om * 60);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  // Days from the civil date (proleptic Gregorian), after H. Hinnant's algorithm.
  int y = year - (month <= 2 ? 1 : 0);
  int era = (y >= 0 ? y : y - 399) / 400;
  int yoe = y - era * 400;
  int doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  std::int64_t days = static_cast<std::int64_t>(era) * 146097 + doe - 719468;
  std::int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - offset;
  // OTLP times are unsigned 64-bit nanoseconds: 1970 up to the year 2262.
  if (secs < 0 || secs > 9'223'372'035) return std::nullopt;
  return secs * 1'000'000'000 + nanos;
}

int severity_number(std::string_view level) {
  static constexpr std::array<std::pair<std::string_view, int>, 7> levels{{{"trace", 1},
                                                                           {"debug", 5},
                                                                           {"info", 9},
                                                                           {"warn", 13},
                                                                           {"warning", 13},
                                                                           {"error", 17},
                                                                           {"fatal", 21}}};
  for (const auto& [name, number] : levels)
    if (iequals(level, name)) return number;
  return 0;
}

std::optional<std::string> decode_hex(std::string_view hex, std::size_t bytes) {
  if (hex.size() != bytes * 2) return std::nullopt;
  std::string out(bytes, '\0');
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < bytes; ++i) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out[i] = static_cast<char>(hi * 16 + lo);
  }
  return out;
}

}  // namespace sidelight::intake
