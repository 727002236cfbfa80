#include "codec/signal.hpp"

namespace sidelight::codec {

std::string_view to_string(signal s) {
  switch (s) {
    case signal::traces:
      return "traces";
    case signal::metrics:
      return "metrics";
    case signal::logs:
      return "logs";
  }
  return "?";
}

}  // namespace sidelight::codec
