#include "core/util/torch_status.h"

namespace promptintern {

std::string FirstLine(const std::string& text) {
  const auto newline = text.find('\n');
  return newline == std::string::npos ? text : text.substr(0, newline);
}

}  // namespace promptintern
