// NDJSON intake lines: one JSON object per line. A log is a flat object as structured loggers
// write it; a span is wrapped in {"span": {...}}. See README "Send logs and spans as JSON lines".
// Decoding uses simdjson's on-demand parser; nothing is allocated per line beyond the output.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "opentelemetry/proto/logs/v1/logs.pb.h"
#include "opentelemetry/proto/trace/v1/trace.pb.h"

namespace sidelight::intake {

// Objects and arrays nest at most this deep; deeper input is refused, not recursed into. Each
// JSON level is three protobuf levels (AnyValue, KeyValueList, KeyValue), and a line becomes an
// OTLP request that admission checks against kMaxProtoDepth (64) like any other: 20 levels fit.
constexpr int kMaxJsonDepth = 20;

struct ndjson_line {
  enum class kind { log, span };
  kind what = kind::log;
  opentelemetry::proto::logs::v1::LogRecord log;
  opentelemetry::proto::trace::v1::Span span;
  std::string service;  // the line's "service", a hint for service.name
};

class ndjson_decoder {
 public:
  // Decodes one line (without its newline). An error text saying what is wrong, or empty.
  std::string decode(std::string_view line, ndjson_line& out);

 private:
  simdjson::ondemand::parser parser_;
  simdjson::padded_string buffer_;
};

// RFC 3339 ("2024-03-15T10:23:45.123Z", "…+02:00") to unix nanoseconds.
std::optional<std::int64_t> parse_rfc3339(std::string_view text);
// "trace", "debug", "info", "warn"/"warning", "error", "fatal" (any case) to the OTLP severity
// numbers 1, 5, 9, 13, 17, 21; 0 when unknown.
int severity_number(std::string_view level);
// Lower-case hex to bytes; nullopt unless exactly 2 * bytes hex digits.
std::optional<std::string> decode_hex(std::string_view hex, std::size_t bytes);

}  // namespace sidelight::intake
