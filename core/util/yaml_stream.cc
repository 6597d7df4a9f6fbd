#include "core/util/yaml_stream.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>

#include <sstream>

namespace promptintern {
namespace {

// Sees one document's events; remembers whether its root was a null node.
class RootKind : public YAML::EventHandler {
 public:
  bool empty() const { return root_is_null_; }
  void OnDocumentStart(const YAML::Mark&) override {
    depth_ = 0;
    root_is_null_ = true;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override { Node(); }
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override { Node(); }
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    Node();
    ++depth_;
  }
  void OnSequenceEnd() override { --depth_; }
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
    Node();
    ++depth_;
  }
  void OnMapEnd() override { --depth_; }

 private:
  void Node() {
    if (depth_ == 0) root_is_null_ = false;
  }
  int depth_ = 0;
  bool root_is_null_ = true;
};

}  // namespace

int CountYamlDocuments(const std::string& text) {
  std::istringstream stream(text);
  YAML::Parser parser(stream);
  int documents = 0;
  while (true) {
    RootKind root;
    if (!parser.HandleNextDocument(root) || root.empty()) return documents;
    ++documents;
  }
}

}  // namespace promptintern
