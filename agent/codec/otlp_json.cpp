#include "codec/otlp_json.hpp"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>

#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"

namespace sidelight::codec {

namespace {

namespace pb = google::protobuf;
namespace otlp = opentelemetry::proto;

// Protobuf's JSON mapping writes bytes as base64, OTLP/JSON wants hex. Every hex digit is also a
// base64 digit and the id lengths (32 and 16) are multiples of 4, so an id's hex text read as
// base64 gives bytes that protobuf writes back as exactly that text: converting the id between
// its raw bytes and those "base64 of hex" bytes is enough, in either direction.
bool is_id_field(const pb::FieldDescriptor& f) {
  return f.type() == pb::FieldDescriptor::TYPE_BYTES &&
         (f.name() == "trace_id" || f.name() == "span_id" || f.name() == "parent_span_id");
}

constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_decode(std::string_view text) {
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    const char* p = std::strchr(kBase64, c);
    if (!p || c == '\0') continue;
    acc = (acc << 6) | static_cast<std::uint32_t>(p - kBase64);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

std::string base64_encode(std::string_view bytes) {
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kBase64[(acc >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(kBase64[(acc << (6 - bits)) & 0x3f]);
  while (out.size() % 4)
    out.push_back('=');
  return out;
}

std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

bool from_hex(std::string_view hex, std::string& out) {
  if (hex.size() % 2) return false;
  out.clear();
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int hi = digit(hex[i]);
    int lo = digit(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return true;
}

// Applies `fix` to every id field in the message tree; stops at the first error it returns.
template <typename Fix>
std::string visit_ids(pb::Message& m, const Fix& fix) {
  const auto* d = m.GetDescriptor();
  const auto* r = m.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const auto* f = d->field(i);
    if (is_id_field(*f) && !f->is_repeated()) {
      if (!r->HasField(m, f)) continue;
      std::string value = r->GetString(m, f);
      if (auto err = fix(*f, value); !err.empty()) return err;
      r->SetString(&m, f, std::move(value));
    } else if (f->type() == pb::FieldDescriptor::TYPE_MESSAGE) {
      if (f->is_repeated()) {
        for (int j = 0; j < r->FieldSize(m, f); ++j) {
          if (auto err = visit_ids(*r->MutableRepeatedMessage(&m, f, j), fix); !err.empty()) {
            return err;
          }
        }
      } else if (r->HasField(m, f)) {
        if (auto err = visit_ids(*r->MutableMessage(&m, f), fix); !err.empty()) return err;
      }
    }
  }
  return "";
}

}  // namespace

std::unique_ptr<pb::Message> new_request(signal s) {
  switch (s) {
    case signal::traces:
      return std::make_unique<otlp::collector::trace::v1::ExportTraceServiceRequest>();
    case signal::metrics:
      return std::make_unique<otlp::collector::metrics::v1::ExportMetricsServiceRequest>();
    case signal::logs:
      return std::make_unique<otlp::collector::logs::v1::ExportLogsServiceRequest>();
  }
  return nullptr;
}

std::string to_otlp_json(pb::Message& request) {
  visit_ids(request, [](const pb::FieldDescriptor&, std::string& value) {
    // Only ids of the proper sizes have a hex form that survives the base64 round trip.
    if (value.size() == 8 || value.size() == 16) value = base64_decode(to_hex(value));
    return std::string();
  });
  std::string text;
  pb::util::JsonPrintOptions options;
  options.always_print_enums_as_ints = true;
  (void)pb::util::MessageToJsonString(request, &text, options);
  return text;
}

std::string from_otlp_json(std::string_view json, pb::Message& request) {
  pb::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  auto status = pb::util::JsonStringToMessage(
      pb::StringPiece(json.data(), static_cast<int>(json.size())), &request, options);
  if (!status.ok()) return std::string(status.message());
  return visit_ids(request, [](const pb::FieldDescriptor& f, std::string& value) -> std::string {
    std::string raw;
    if (!from_hex(base64_encode(value), raw) || (raw.size() != 16 && raw.size() != 8)) {
      return f.full_name() + ": expected a hex trace or span id";
    }
    if ((f.name() == "trace_id" && raw.size() != 16) ||
        (f.name() != "trace_id" && raw.size() != 8)) {
      return f.full_name() + ": expected " + (f.name() == "trace_id" ? "32" : "16") + " hex digits";
    }
    value = std::move(raw);
    return std::string();
  });
}

}  // namespace sidelight::codec
