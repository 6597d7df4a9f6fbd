// Reading YAML streams safely with Debian's yaml-cpp 0.7.
//
// yaml-cpp 0.7's LoadAll never returns on some malformed streams, such as one that starts with ','
// (a 1-byte job file): its parser reports an empty document without consuming anything, forever,
// and LoadAll keeps a null node for each until memory runs out (jbeder/yaml-cpp#1040; fixed
// upstream by #1319, which stops at the first empty document). Use this instead of LoadAll.
#pragma once

#include <string>

namespace promptintern {

// Documents in `text`, counted as yaml-cpp's LoadAll returns them since #1319: counting stops at
// the first empty document. Throws YAML::Exception for malformed YAML, as LoadAll does. The first
// document itself is YAML::Load(text).
int CountYamlDocuments(const std::string& text);

}  // namespace promptintern
