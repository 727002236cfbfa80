// Configuration keys declared once, in tables beside the structs they fill, in the manner of
// Fluent Bit's config_map: each key has a name, a type, a default (the struct's own initializer),
// a range, help text and the field it binds to. A table reads its section of the YAML (unknown
// keys, then each given key's type, range, check and binding, then the section's validate() for
// what spans several keys) and describes itself for the generated reference in
// docs/CONFIGURATION.md and config/sidelight.yaml. A key exists only by being declared in a table
// with a binding, so what is documented is what is read.
#pragma once

#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "config/walk.hpp"

namespace sidelight::config::schema {

// What the reference says about one key.
struct key_doc {
  enum class shape { value, section, list };
  std::string name = {};
  std::string type = {};      // "duration", "size", "one of grpc, http/protobuf", "HOST:PORT"…
  std::string range = {};     // "at least 1s", "1 to 1024"; empty when the type says it all
  std::string fallback = {};  // the default, as YAML writes it; empty when there is none
  std::string help = {};
  shape form = shape::value;
  std::vector<key_doc> children = {};  // a section's keys, or each list item's
};

// What a custom key tells the reference; its name and help come with the key.
struct doc_info {
  std::string type;
  std::string range = {};
  std::string fallback = {};
  std::function<std::vector<key_doc>()> children = {};  // set: the key is a section
};

// One key given in a mapping, as its reader sees it.
class field {
 public:
  field(const map_view& in, std::string_view name) : in_(in), name_(name) {}
  YAML::Node node() const { return in_.get(name_); }
  std::string path() const { return in_.join(name_); }
  position where() const { return ctx().where(node()); }
  parse_context& ctx() const { return in_.ctx(); }
  const map_view& parent() const { return in_; }
  void error(const std::string& message) const { in_.error(name_, message); }
  // The value's text, `${env:…}` expanded; "expected <expected>, got a list" when not a scalar.
  std::optional<std::string> scalar(std::string_view expected) const {
    return ctx().scalar(node(), path(), expected);
  }

 private:
  const map_view& in_;
  std::string_view name_;
};

template <class S>
struct key {
  std::string_view name;
  std::function<void(const field&, S&)> read;  // the key is given: read, check and bind it
  std::function<key_doc(const S&)> doc;        // from an S that holds the defaults
};

// The keys of one section. validate() runs once the given keys are read, for checks that span
// keys (and defaults that depend on another key); it reports through the map_view.
template <class S>
class table {
 public:
  using validator = std::function<void(const map_view&, S&)>;

  explicit table(std::vector<key<S>> keys, validator validate = {})
      : keys_(std::move(keys)), validate_(std::move(validate)) {
    for (const auto& k : keys_)
      names_.push_back(k.name);
  }

  // Reads `node` (a mapping, or nothing) into `out`, which already holds the defaults. Keys are
  // read in the table's order, whatever the file's, so a reader may rely on the keys above it.
  void read(parse_context& ctx, const YAML::Node& node, const std::string& path, S& out) const {
    map_view m(ctx, node, path, names_);
    if (!m.valid()) return;
    for (const auto& k : keys_) {
      if (m.has(k.name)) k.read(field(m, k.name), out);
    }
    if (validate_) validate_(m, out);
  }

  std::vector<key_doc> describe(const S& defaults) const {
    std::vector<key_doc> out;
    for (const auto& k : keys_)
      out.push_back(k.doc(defaults));
    return out;
  }

  const std::vector<std::string_view>& names() const { return names_; }

 private:
  std::vector<key<S>> keys_;
  std::vector<std::string_view> names_;
  validator validate_;
};

// Value types: how a scalar's text becomes a value, and how the reference writes one.
struct text_type {
  using value = std::string;
  static constexpr std::string_view name = "string";
  static constexpr std::string_view expected = "a string";
  static std::optional<value> parse(const std::string& text) { return text; }
  static std::string show(const value& v) { return v; }
};
struct path_type : text_type {
  static constexpr std::string_view name = "path";
};
struct flag_type {
  using value = bool;
  static constexpr std::string_view name = "bool";
  static constexpr std::string_view expected = "true or false";
  static std::optional<value> parse(const std::string& text);
  static std::string show(value v) { return v ? "true" : "false"; }
};
struct duration_type {
  using value = duration;
  static constexpr std::string_view name = "duration";
  static constexpr std::string_view expected = "a duration like 250ms, 15s or 2m";
  static std::optional<value> parse(const std::string& text);
  static std::string show(value v);
};
struct size_type {
  using value = std::uint64_t;
  static constexpr std::string_view name = "size";
  static constexpr std::string_view expected = "a size like 512KiB, 64MiB or 1GB";
  static std::optional<value> parse(const std::string& text);
  static std::string show(value v);
};
struct count_type {
  using value = std::uint64_t;
  static constexpr std::string_view name = "count";
  static constexpr std::string_view expected = "a whole number";
  static std::optional<value> parse(const std::string& text);
  static std::string show(value v) { return std::to_string(v); }
};
struct number_type {
  using value = double;
  static constexpr std::string_view name = "number";
  static constexpr std::string_view expected = "a number";
  static std::optional<value> parse(const std::string& text);
  static std::string show(value v);
};
struct mode_type {
  using value = std::uint32_t;
  static constexpr std::string_view name = "file mode";
  static constexpr std::string_view expected = "an octal file mode such as \"0660\"";
  static std::optional<value> parse(const std::string& text);
  static std::string show(value v);
};

// A range, written once for every type: [min, max], and above zero when `positive`.
template <class T>
struct limits {
  std::optional<T> min = {};
  std::optional<T> max = {};
  bool positive = false;
};

// What a scalar key may hold beyond its type.
template <class T>
struct rule {
  limits<T> range = {};
  // A problem with a well-typed value (the whole message), or "" when it is fine.
  std::function<std::string(const T&)> check = {};
  // For the reference, when the struct's initializer is not the whole story ("5s for connect");
  // "" when there is no default to speak of.
  std::optional<std::string> fallback = {};
};

using text_check = std::function<std::string(const std::string&)>;
// "expected an absolute <what>, got '…'" unless the text starts with '/'.
text_check absolute(std::string_view what);
// An absolute socket path short enough for sockaddr_un.
text_check socket_path();
text_check not_empty();

template <class M>
using choices = std::vector<std::pair<std::string_view, M>>;

namespace detail {

template <class T>
struct optional_of {
  using type = T;
};
template <class T>
struct optional_of<std::optional<T>> {
  using type = T;
};

// The field a binding names in `s`: a member pointer, or a callable taking the struct (a generic
// lambda, so that the reference can call it on a const default).
template <class S, class Bind>
decltype(auto) project(const Bind& bind, S& s) {
  if constexpr (std::is_member_object_pointer_v<Bind>) {
    return (s.*bind);
  } else {
    return bind(s);
  }
}

template <class V, class M>
void assign(M& slot, const V& v) {
  slot = static_cast<typename optional_of<M>::type>(v);
}

template <class V, class M>
std::optional<V> current(const M& slot) {
  if constexpr (std::is_same_v<typename optional_of<M>::type, M>) {
    return static_cast<V>(slot);
  } else {
    if (!slot) return std::nullopt;
    return static_cast<V>(*slot);
  }
}

// "must be between 1 and 1024, got 0", or "" when `v` is within `r`.
template <class Type>
std::string range_problem(const typename Type::value& v, const limits<typename Type::value>& r) {
  using V = typename Type::value;
  if (r.positive && !(V{} < v))
    return "must be above " + Type::show(V{}) + ", got " + Type::show(v);
  if (!(r.min && v < *r.min) && !(r.max && *r.max < v)) return "";
  std::string want = r.min && r.max ? "between " + Type::show(*r.min) + " and " + Type::show(*r.max)
                     : r.min        ? "at least " + Type::show(*r.min)
                                    : "at most " + Type::show(*r.max);
  return "must be " + want + ", got " + Type::show(v);
}

template <class Type>
std::string range_text(const limits<typename Type::value>& r) {
  using V = typename Type::value;
  if (r.positive) return "above " + Type::show(V{});
  if (r.min && r.max) return Type::show(*r.min) + " to " + Type::show(*r.max);
  if (r.min) return "at least " + Type::show(*r.min);
  if (r.max) return "at most " + Type::show(*r.max);
  return "";
}

// A count bound to a narrower integer than it is read as must fit in it.
template <class V, class M>
std::string fits(const V& v) {
  using held = typename optional_of<M>::type;
  if constexpr (std::is_integral_v<held> && std::is_integral_v<V>) {
    constexpr auto most = static_cast<std::uint64_t>(std::numeric_limits<held>::max());
    if (static_cast<std::uint64_t>(v) > most) {
      return "must be at most " + std::to_string(most) + ", got " + std::to_string(v);
    }
  }
  return "";
}

// The value's text parsed by its type; reports "expected <what>, got '<text>'".
template <class Type>
std::optional<typename Type::value> read_value(const field& f) {
  auto text = f.scalar(Type::expected);
  if (!text) return std::nullopt;
  auto v = Type::parse(*text);
  if (!v) f.error("expected " + std::string(Type::expected) + ", got '" + *text + "'");
  return v;
}

}  // namespace detail

// A scalar of `Type` bound to a field, with its range and check.
template <class Type, class S, class Bind>
key<S> scalar_key(std::string_view name, Bind bind, std::string_view help,
                  rule<typename Type::value> r) {
  using V = typename Type::value;
  using M = std::remove_cvref_t<decltype(detail::project(bind, std::declval<S&>()))>;
  auto read = [bind, r](const field& f, S& out) {
    auto v = detail::read_value<Type>(f);
    if (!v) return;
    auto why = detail::range_problem<Type>(*v, r.range);
    if (why.empty()) why = detail::fits<V, M>(*v);
    if (why.empty() && r.check) why = r.check(*v);
    if (!why.empty()) return f.error(why);
    detail::assign<V>(detail::project(bind, out), *v);
  };
  auto doc = [name, help, bind, r](const S& defaults) {
    auto fallback = r.fallback.value_or("");
    if (!r.fallback) {
      if (auto v = detail::current<V>(detail::project(bind, defaults))) fallback = Type::show(*v);
    }
    return key_doc{.name = std::string(name),
                   .type = std::string(Type::name),
                   .range = detail::range_text<Type>(r.range),
                   .fallback = fallback,
                   .help = std::string(help)};
  };
  return {name, read, doc};
}

template <class S, class M>
key<S> text_key(std::string_view name, M S::*member, std::string_view help,
                rule<std::string> r = {}) {
  return scalar_key<text_type, S>(name, member, help, std::move(r));
}
// A path, checked by `check` (absolute(), socket_path()).
template <class S, class M>
key<S> path_key(std::string_view name, M S::*member, std::string_view help, text_check check) {
  return scalar_key<path_type, S>(name, member, help, {.check = std::move(check)});
}
template <class S, class M>
key<S> flag_key(std::string_view name, M S::*member, std::string_view help, rule<bool> r = {}) {
  return scalar_key<flag_type, S>(name, member, help, std::move(r));
}
template <class S, class M>
key<S> duration_key(std::string_view name, M S::*member, std::string_view help,
                    rule<duration> r = {}) {
  return scalar_key<duration_type, S>(name, member, help, std::move(r));
}
template <class S, class M>
key<S> size_key(std::string_view name, M S::*member, std::string_view help,
                rule<std::uint64_t> r = {}) {
  return scalar_key<size_type, S>(name, member, help, std::move(r));
}
template <class S, class M>
key<S> count_key(std::string_view name, M S::*member, std::string_view help,
                 rule<std::uint64_t> r = {}) {
  return scalar_key<count_type, S>(name, member, help, std::move(r));
}
template <class S, class M>
key<S> number_key(std::string_view name, M S::*member, std::string_view help, rule<double> r = {}) {
  return scalar_key<number_type, S>(name, member, help, std::move(r));
}
template <class S, class M>
key<S> mode_key(std::string_view name, M S::*member, std::string_view help) {
  return scalar_key<mode_type, S>(name, member, help, {});
}

// One of a few words, each standing for a value of the field.
template <class S, class M>
key<S> choice_key(std::string_view name, M S::*member, choices<M> options, std::string_view help) {
  std::vector<std::string_view> words;
  for (const auto& [word, value] : options)
    words.push_back(word);
  auto read = [member, options, words](const field& f, S& out) {
    auto text = f.scalar("one of " + join_words(words));
    if (!text) return;
    for (const auto& [word, value] : options) {
      if (*text == word) {
        out.*member = value;
        return;
      }
    }
    auto hint = did_you_mean(*text, words);
    f.error("expected one of " + join_words(words) + ", got '" + *text + "'" +
            (hint ? "; did you mean '" + *hint + "'?" : std::string()));
  };
  auto doc = [name, help, member, options, words](const S& defaults) {
    std::string fallback;
    for (const auto& [word, value] : options) {
      if (defaults.*member == value) fallback = std::string(word);
    }
    return key_doc{.name = std::string(name),
                   .type = "one of " + join_words(words),
                   .fallback = fallback,
                   .help = std::string(help)};
  };
  return {name, read, doc};
}

// A choice kept as the word itself.
template <class S>
key<S> word_key(std::string_view name, std::string S::*member,
                const std::vector<std::string_view>& words, std::string_view help) {
  choices<std::string> options;
  for (auto w : words)
    options.emplace_back(w, std::string(w));
  return choice_key(name, member, std::move(options), help);
}

// A nested section read by its own table, into what `project` returns for the struct (a generic
// lambda: `[](auto& e) -> auto& { return e; }` reads the section's keys into the struct itself).
template <class S, class T, class Project>
key<S> section_via(std::string_view name, Project bind, const table<T>& t, std::string_view help) {
  auto read = [bind, &t](const field& f, S& out) {
    t.read(f.ctx(), f.node(), f.path(), detail::project(bind, out));
  };
  auto doc = [name, help, bind, &t](const S& defaults) {
    return key_doc{.name = std::string(name),
                   .type = "section",
                   .help = std::string(help),
                   .form = key_doc::shape::section,
                   .children = t.describe(detail::project(bind, defaults))};
  };
  return {name, read, doc};
}
// A nested section read by its own table into a member.
template <class S, class T>
key<S> section_key(std::string_view name, T S::*member, const table<T>& t, std::string_view help) {
  return section_via<S>(name, member, t, help);
}

// A list of sections, each item read by `items` into a new T. `finish` checks the list as a whole.
template <class S, class T>
key<S> list_key(
    std::string_view name, std::vector<T> S::*member, const table<T>& items, std::string_view type,
    std::string_view help,
    std::type_identity_t<std::function<void(const field&, std::vector<T>&)>> finish = {}) {
  auto read = [member, &items, type, finish](const field& f, S& out) {
    auto node = f.node();
    if (node.IsNull()) return;
    if (!node.IsSequence()) {
      return f.error("expected a " + std::string(type) + ", got " + parse_context::describe(node));
    }
    auto& list = out.*member;
    std::size_t i = 0;
    for (auto it = node.begin(); it != node.end(); ++it, ++i) {
      T item;
      items.read(f.ctx(), *it, f.path() + "[" + std::to_string(i) + "]", item);
      list.push_back(std::move(item));
    }
    if (finish) finish(f, list);
  };
  auto doc = [name, type, help, &items](const S&) {
    return key_doc{.name = std::string(name),
                   .type = std::string(type),
                   .help = std::string(help),
                   .form = key_doc::shape::list,
                   .children = items.describe(T{})};
  };
  return {name, read, doc};
}

// A key read by its own function: the irregular ones (identities, endpoints, addresses).
template <class S>
key<S> custom_key(std::string_view name, doc_info info, std::string_view help,
                  std::function<void(const field&, S&)> read) {
  auto doc = [name, help, info](const S&) {
    key_doc d{.name = std::string(name),
              .type = info.type,
              .range = info.range,
              .fallback = info.fallback,
              .help = std::string(help)};
    if (info.children) {
      d.form = key_doc::shape::section;
      d.children = info.children();
    }
    return d;
  };
  return {name, std::move(read), doc};
}

// Free-form maps: OTLP attributes (unquoted scalars keep their YAML type), and string pairs. A
// key given again replaces the earlier value (one from the environment, say) in place.
void read_attributes(const field& f, attributes& out);
void read_string_map(const field& f, std::vector<std::pair<std::string, std::string>>& out);

template <class S>
key<S> attributes_key(std::string_view name, attributes S::*member, std::string_view help) {
  return custom_key<S>(name, {.type = "map of attributes"}, help,
                       [member](const field& f, S& out) { read_attributes(f, out.*member); });
}
template <class S>
key<S> string_map_key(std::string_view name,
                      std::vector<std::pair<std::string, std::string>> S::*member,
                      std::string_view help) {
  return custom_key<S>(name, {.type = "map of strings"}, help,
                       [member](const field& f, S& out) { read_string_map(f, out.*member); });
}

}  // namespace sidelight::config::schema
