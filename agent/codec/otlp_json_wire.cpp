// OTLP/JSON straight to protobuf wire bytes. The JSON is walked once with simdjson's On Demand
// API (no document tree) and each field is written as the schema (the generated descriptors)
// says, so no message object is ever built: a body of a million empty objects costs what its
// text and its wire form cost, not a million messages.
#include <google/protobuf/descriptor.h>
#include <simdjson.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <optional>

#include "codec/otlp_json.hpp"

namespace sidelight::codec {

namespace {

namespace pb = google::protobuf;
namespace ondemand = simdjson::ondemand;
using FD = pb::FieldDescriptor;

// As deep as protobuf's own parser goes; AnyValue nests kvlists and arrays without end.
constexpr int kMaxDepth = 100;
// Bodies above this size are parsed with a parser of their own, freed right after: the
// thread's parser keeps the capacity of the largest document it saw.
constexpr std::size_t kKeptParserBytes = 1u << 20;

struct bad_json {
  std::string message;
};

[[noreturn]] void fail(std::string message) {
  throw bad_json{std::move(message)};
}

// Each message type's fields by JSON name and by proto name, built once for every message the
// three requests can reach.
class field_index {
 public:
  static const field_index& get() {
    static const field_index index;
    return index;
  }
  const FD* find(const pb::Descriptor* d, std::string_view name) const {
    auto m = fields_.find(d);
    if (m == fields_.end()) return nullptr;
    auto f = m->second.find(name);
    return f == m->second.end() ? nullptr : f->second;
  }

 private:
  field_index() {
    for (auto s : {signal::traces, signal::metrics, signal::logs})
      add(new_request(s)->GetDescriptor());
  }
  void add(const pb::Descriptor* d) {
    if (!fields_.emplace(d, std::map<std::string, const FD*, std::less<>>{}).second) return;
    auto& names = fields_[d];
    for (int i = 0; i < d->field_count(); ++i) {
      const FD* f = d->field(i);
      names.emplace(f->json_name(), f);
      names.emplace(f->name(), f);
      if (f->type() == FD::TYPE_MESSAGE) add(f->message_type());
    }
  }
  std::map<const pb::Descriptor*, std::map<std::string, const FD*, std::less<>>> fields_;
};

void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

template <typename T>
void put_fixed(std::string& out, T v) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &v, sizeof(T));  // little-endian on every target sidelight builds for
  out.append(bytes, sizeof(T));
}

void put_tag(std::string& out, const FD& f, int wire_type) {
  put_varint(out, (static_cast<std::uint64_t>(f.number()) << 3) | wire_type);
}

int wire_type_of(const FD& f) {
  switch (f.type()) {
    case FD::TYPE_DOUBLE:
    case FD::TYPE_FIXED64:
    case FD::TYPE_SFIXED64:
      return 1;
    case FD::TYPE_FLOAT:
    case FD::TYPE_FIXED32:
    case FD::TYPE_SFIXED32:
      return 5;
    case FD::TYPE_STRING:
    case FD::TYPE_BYTES:
    case FD::TYPE_MESSAGE:
      return 2;
    default:
      return 0;
  }
}

// A length-delimited field written in place: its body goes straight into `out` after room for
// the longest length prefix, and moves back once its length is known. Nothing is copied into a
// buffer of its own, so nesting costs no memory, however deep.
class delimited {
 public:
  delimited(std::string& out, const FD& f) : out_(out) {
    put_tag(out, f, 2);
    at_ = out.size();
    out.append(kRoom, '\0');
  }
  std::size_t body_size() const { return out_.size() - at_ - kRoom; }
  // Writes the length; `keep_empty` false takes the whole field back when its body is empty.
  void close(bool keep_empty, std::size_t tag_size) {
    std::size_t n = body_size();
    if (n == 0 && !keep_empty) {
      out_.resize(at_ - tag_size);
      return;
    }
    char prefix[kRoom];
    std::size_t len = 0;
    for (std::uint64_t v = n;; v >>= 7) {
      prefix[len++] = static_cast<char>((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
      if (v < 0x80) break;
    }
    if (len < kRoom) std::memmove(&out_[at_ + len], &out_[at_ + kRoom], n);
    std::memcpy(&out_[at_], prefix, len);
    out_.resize(at_ + len + n);
  }

 private:
  static constexpr std::size_t kRoom = 5;  // a length below 2^35
  std::string& out_;
  std::size_t at_;
};

std::size_t tag_size(const FD& f) {
  std::size_t n = 1;
  for (std::uint64_t v = static_cast<std::uint64_t>(f.number()) << 3; v >= 0x80; v >>= 7)
    ++n;
  return n;
}

bool is_id_field(const FD& f) {
  return f.type() == FD::TYPE_BYTES &&
         (f.name() == "trace_id" || f.name() == "span_id" || f.name() == "parent_span_id");
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string id_bytes(const FD& f, std::string_view hex) {
  std::size_t want = f.name() == "trace_id" ? 16 : 8;
  if (hex.size() != want * 2) {
    fail(f.full_name() + ": expected " + std::to_string(want * 2) + " hex digits");
  }
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int hi = hex_digit(hex[i]), lo = hex_digit(hex[i + 1]);
    if (hi < 0 || lo < 0) fail(f.full_name() + ": expected a hex trace or span id");
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

// Standard or URL-safe base64, padded or not, as protobuf's JSON parser takes it.
std::string base64_bytes(const FD& f, std::string_view text) {
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+' || c == '-')
      v = 62;
    else if (c == '/' || c == '_')
      v = 63;
    else if (c == '=')
      break;
    else
      fail(f.full_name() + ": not base64");
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

template <typename T>
T parse_integer(const FD& f, ondemand::value v) {
  if (v.type() == ondemand::json_type::string) {
    std::string_view text = v.get_string();
    T n{};
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || p != text.data() + text.size() || text.empty()) {
      fail(f.full_name() + ": expected an integer, got \"" + std::string(text.substr(0, 40)) +
           "\"");
    }
    return n;
  }
  if constexpr (std::is_signed_v<T>) {
    std::int64_t n = v.get_int64();
    if (n < std::numeric_limits<T>::min() || n > std::numeric_limits<T>::max()) {
      fail(f.full_name() + ": out of range");
    }
    return static_cast<T>(n);
  } else {
    std::uint64_t n = v.get_uint64();
    if (n > std::numeric_limits<T>::max()) fail(f.full_name() + ": out of range");
    return static_cast<T>(n);
  }
}

double parse_double(const FD& f, ondemand::value v) {
  if (v.type() == ondemand::json_type::string) {
    std::string_view text = v.get_string();
    if (text == "NaN") return std::numeric_limits<double>::quiet_NaN();
    if (text == "Infinity") return std::numeric_limits<double>::infinity();
    if (text == "-Infinity") return -std::numeric_limits<double>::infinity();
    double d = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
    if (ec != std::errc() || p != text.data() + text.size() || text.empty()) {
      fail(f.full_name() + ": expected a number");
    }
    return d;
  }
  // From the number's own text, correctly rounded as protobuf's parser does it: simdjson 3.0's
  // get_double() can differ in the last bit on a mantissa of many digits (found by fuzzing).
  std::string_view raw = v.raw_json_token();
  while (!raw.empty() &&
         (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\r' || raw.back() == '\t'))
    raw.remove_suffix(1);
  double d = 0;
  auto [p, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), d);
  if (ec != std::errc() || p != raw.data() + raw.size())
    fail(f.full_name() + ": expected a number");
  return d;
}

class transcoder {
 public:
  void message(const pb::Descriptor* d, ondemand::object obj, std::string& out, int depth) {
    if (depth > kMaxDepth) fail("nested deeper than " + std::to_string(kMaxDepth) + " levels");
    for (auto field : obj) {
      std::string_view key = field.unescaped_key();
      const FD* f = field_index::get().find(d, key);
      ondemand::value v = field.value();
      if (f == nullptr || v.is_null()) continue;  // unknown fields are ignored, as OTLP asks
      if (f->is_repeated()) {
        repeated(*f, v.get_array(), out, depth);
      } else {
        single(*f, v, out, depth);
      }
    }
  }

 private:
  void repeated(const FD& f, ondemand::array items, std::string& out, int depth) {
    if (f.is_packed()) {
      delimited packed(out, f);
      for (ondemand::value item : items)
        scalar(f, item, out);
      packed.close(false, tag_size(f));
      return;
    }
    for (ondemand::value item : items) {
      if (item.is_null()) fail(f.full_name() + ": null in a list");
      put_value(f, item, out, depth, true);
    }
  }

  void single(const FD& f, ondemand::value v, std::string& out, int depth) {
    put_value(f, v, out, depth, f.has_presence());
  }

  // Writes one value of `f` with its tag; a proto3 default without presence is left out, as
  // protobuf's serializer does.
  void put_value(const FD& f, ondemand::value v, std::string& out, int depth, bool keep_default) {
    if (f.type() == FD::TYPE_MESSAGE) {
      delimited body(out, f);
      message(f.message_type(), v.get_object(), out, depth + 1);
      body.close(true, tag_size(f));
      return;
    }
    if (f.type() == FD::TYPE_STRING || f.type() == FD::TYPE_BYTES) {
      std::string_view text = v.get_string();
      std::string bytes;
      if (f.type() == FD::TYPE_BYTES) {
        bytes = is_id_field(f) ? (text.empty() ? "" : id_bytes(f, text)) : base64_bytes(f, text);
        text = bytes;
      }
      if (text.empty() && !keep_default) return;
      put_tag(out, f, 2);
      put_varint(out, text.size());
      out.append(text);
      return;
    }
    auto start = out.size();
    put_tag(out, f, wire_type_of(f));
    auto value_at = out.size();
    scalar(f, v, out);
    bool none = out.size() == value_at;  // an enum name this schema does not know: ignored
    bool zero = out.find_first_not_of('\0', value_at) == std::string::npos;
    if (none || (zero && !keep_default)) out.resize(start);
  }

  // A numeric, boolean or enum value, without its tag.
  void scalar(const FD& f, ondemand::value v, std::string& out) {
    switch (f.type()) {
      case FD::TYPE_DOUBLE:
        return put_fixed(out, parse_double(f, v));
      case FD::TYPE_FLOAT:
        return put_fixed(out, static_cast<float>(parse_double(f, v)));
      case FD::TYPE_INT64:
        return put_varint(out, static_cast<std::uint64_t>(parse_integer<std::int64_t>(f, v)));
      case FD::TYPE_UINT64:
        return put_varint(out, parse_integer<std::uint64_t>(f, v));
      case FD::TYPE_INT32:
        return put_varint(out, static_cast<std::uint64_t>(
                                   static_cast<std::int64_t>(parse_integer<std::int32_t>(f, v))));
      case FD::TYPE_UINT32:
        return put_varint(out, parse_integer<std::uint32_t>(f, v));
      case FD::TYPE_SINT32: {
        auto n = parse_integer<std::int32_t>(f, v);
        return put_varint(
            out, (static_cast<std::uint32_t>(n) << 1) ^ static_cast<std::uint32_t>(n >> 31));
      }
      case FD::TYPE_SINT64: {
        auto n = parse_integer<std::int64_t>(f, v);
        return put_varint(
            out, (static_cast<std::uint64_t>(n) << 1) ^ static_cast<std::uint64_t>(n >> 63));
      }
      case FD::TYPE_FIXED64:
        return put_fixed(out, parse_integer<std::uint64_t>(f, v));
      case FD::TYPE_SFIXED64:
        return put_fixed(out, parse_integer<std::int64_t>(f, v));
      case FD::TYPE_FIXED32:
        return put_fixed(out, parse_integer<std::uint32_t>(f, v));
      case FD::TYPE_SFIXED32:
        return put_fixed(out, parse_integer<std::int32_t>(f, v));
      case FD::TYPE_BOOL:
        return put_varint(out, v.get_bool() ? 1 : 0);
      case FD::TYPE_ENUM: {
        if (v.type() == ondemand::json_type::string) {
          std::string_view name = v.get_string();
          const auto* e = f.enum_type()->FindValueByName(std::string(name));
          if (e == nullptr) return;
          return put_varint(out,
                            static_cast<std::uint64_t>(static_cast<std::int64_t>(e->number())));
        }
        return put_varint(out, static_cast<std::uint64_t>(
                                   static_cast<std::int64_t>(parse_integer<std::int32_t>(f, v))));
      }
      default:
        fail(f.full_name() + ": unexpected type");
    }
  }
};

}  // namespace

std::string otlp_json_to_wire(signal s, std::string_view json, std::size_t max_out,
                              std::string& out) {
  static thread_local ondemand::parser kept;
  std::optional<ondemand::parser> own;
  ondemand::parser& parser = json.size() > kKeptParserBytes ? own.emplace() : kept;
  simdjson::padded_string text(json);
  out.clear();
  try {
    ondemand::document doc = parser.iterate(text);
    transcoder().message(new_request(s)->GetDescriptor(), doc.get_object(), out, 0);
    // Past the root object, the document is out of bounds unless more text follows it.
    if (!doc.current_location().error()) fail("text after the JSON object");
    if (out.size() > max_out) {
      fail("the request is " + std::to_string(out.size()) + " bytes once encoded, more than " +
           std::to_string(max_out));
    }
  } catch (const bad_json& e) {
    out.clear();
    return e.message;
  } catch (const simdjson::simdjson_error& e) {
    out.clear();
    return std::string("not JSON of the expected shape: ") + e.what();
  }
  return "";
}

}  // namespace sidelight::codec
