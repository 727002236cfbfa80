// Any bytes as an OTLP/HTTP request: byte 0 picks the content type and encoding, the rest is the
// body. Answered with a status code, never a crash; gzip bombs stop at the size limit.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "intake/otlp_http_server.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static sidelight::intake::intake_policy policy;
  static sidelight::intake::intake_counters counters;
  static const sidelight::intake::otlp_http_handler handler(
      policy, [](sidelight::codec::signal, sidelight::pipeline::chunk) {},
      counters.of(sidelight::intake::protocol::otlp_http), 1 << 20);
  static const char* kPaths[] = {"/v1/traces", "/v1/logs", "/v1/metrics"};
  sidelight::intake::otlp_http_request req;
  req.method = "POST";
  req.target = kPaths[data[0] % 3];
  req.content_type = (data[0] & 4) ? "application/json" : "application/x-protobuf";
  req.content_encoding = (data[0] & 8) ? "gzip" : "";
  req.body = std::string_view(reinterpret_cast<const char*>(data + 1), size - 1);
  auto r = handler.handle(req);
  if (r.status != 200 && r.status != 400 && r.status != 413) std::abort();
  return 0;
}
