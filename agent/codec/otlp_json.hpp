// OTLP/JSON as the OTLP specification defines it, on top of protobuf's JSON mapping: trace and
// span ids are hex strings (protobuf would use base64), enums are integers, names lowerCamelCase.
#pragma once

#include <google/protobuf/message.h>

#include <memory>
#include <string>
#include <string_view>

#include "codec/signal.hpp"

namespace sidelight::codec {

// An empty Export{Traces,Metrics,Logs}ServiceRequest of the signal.
std::unique_ptr<google::protobuf::Message> new_request(signal s);

// The OTLP/JSON text of a request message.
std::string to_otlp_json(google::protobuf::Message& request);

// An OTLP/JSON request of signal `s` as protobuf wire bytes, in `out`, without building any
// message: the memory it takes is a few times the text's, whatever the text's shape (a body of
// a million empty objects included). The bytes are what protobuf would serialize from the same
// request. Unknown fields are ignored, as the specification asks. An error text naming what is
// wrong (the wire form above `max_out` bytes is one), or empty.
std::string otlp_json_to_wire(signal s, std::string_view json, std::size_t max_out,
                              std::string& out);

// Parses OTLP/JSON into `request` through protobuf's JSON parser (tests and fuzzing compare
// otlp_json_to_wire with it); unknown fields are ignored, as the specification asks. An error
// text naming what is wrong, or empty.
std::string from_otlp_json(std::string_view json, google::protobuf::Message& request);

}  // namespace sidelight::codec
