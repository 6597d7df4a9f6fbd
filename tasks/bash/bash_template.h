// The recurring long prompt of the synthetic English-to-bash task: an instruction template and a
// command-reference document. This is the text PromptIntern internalizes into the weights; it is
// deliberately much longer than a query (about 1,000 words together) so the token savings of
// dropping it at inference are visible.
//
// Contract: both texts are static, never change at run time, and agree with what
// GenerateSyntheticBash produces (the same utilities, flags and output conventions).
#pragma once

#include <string_view>

namespace promptintern {

// Task description and output rules.
std::string_view SyntheticBashInstruction();

// Concise manual of the utilities and flags the generator uses.
std::string_view SyntheticBashDocument();

}  // namespace promptintern
