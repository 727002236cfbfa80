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

// Parses OTLP/JSON into `request`; unknown fields are ignored, as the specification asks. An error
// text naming what is wrong, or empty.
std::string from_otlp_json(std::string_view json, google::protobuf::Message& request);

}  // namespace sidelight::codec
