// Any task given as JSONL files of query/answer pairs: no template of its own (the job gives one,
// or trains without), no metric beyond exact match and BLEU.
#include "core/task/task_kind.h"

namespace promptintern {
namespace {

const bool kRegistered = RegisterTaskKind({.name = "jsonl", .source = "jsonl"});

}  // namespace
}  // namespace promptintern
