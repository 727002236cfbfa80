#include "config/yaml_budget.hpp"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <sstream>
#include <vector>

namespace sidelight::config {
namespace {

// Counts nodes as yaml-cpp reports them; an alias adds the size of what it names.
class node_counter final : public YAML::EventHandler {
 public:
  explicit node_counter(std::size_t max_nodes) : max_(max_nodes) {}

  struct exceeded {
    YAML::Mark mark;
  };

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override { leaf(mark, anchor); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    add(mark, anchor < sizes_.size() ? sizes_[anchor] : 1);
  }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                const std::string&) override {
    leaf(mark, anchor);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(mark, anchor);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(mark, anchor);
  }
  void OnMapEnd() override { close(); }

 private:
  void add(const YAML::Mark& mark, std::size_t n) {
    count_ += n;
    if (count_ > max_) throw exceeded{mark};
  }
  void remember(YAML::anchor_t anchor, std::size_t size) {
    if (anchor == YAML::NullAnchor) return;
    if (sizes_.size() <= anchor) sizes_.resize(anchor + 1, 1);
    sizes_[anchor] = size;
  }
  void leaf(const YAML::Mark& mark, YAML::anchor_t anchor) {
    add(mark, 1);
    remember(anchor, 1);
  }
  void open(const YAML::Mark& mark, YAML::anchor_t anchor) {
    add(mark, 1);
    open_.push_back({anchor, count_ - 1});
  }
  void close() {
    if (open_.empty()) return;
    auto [anchor, start] = open_.back();
    open_.pop_back();
    remember(anchor, count_ - start);
  }

  std::size_t max_;
  std::size_t count_ = 0;
  std::vector<std::size_t> sizes_;  // by anchor: the nodes an alias to it stands for
  std::vector<std::pair<YAML::anchor_t, std::size_t>> open_;
};

}  // namespace

std::optional<yaml_overrun> check_yaml_budget(std::string_view yaml, const std::string& source,
                                              std::size_t max_nodes) {
  std::istringstream in{std::string(yaml)};
  node_counter counter(max_nodes);
  try {
    YAML::Parser parser(in);
    parser.HandleNextDocument(counter);  // YAML::Load, too, takes the first document only
  } catch (const node_counter::exceeded& e) {
    return yaml_overrun{{source, e.mark.line + 1, e.mark.column + 1},
                        "the configuration has more than " + std::to_string(max_nodes) +
                            " YAML nodes (aliases counted as what they stand for); refusing it"};
  } catch (const YAML::Exception&) {
    // Not valid YAML: YAML::Load reports it with its position.
  }
  return std::nullopt;
}

}  // namespace sidelight::config
