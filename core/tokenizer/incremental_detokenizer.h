// Text of generated ids as they arrive, one id at a time, for streaming. A byte-level or
// byte-fallback token may end in the middle of a UTF-8 character; decoding it alone would give
// U+FFFD and the next token would have to revise that. This class holds such text back until
// the character is complete, and never takes back what it returned: the chunks it returns,
// joined, are the tokenizer's Decode of all the ids.
//
// How: the ids since the last chunk are decoded together with the ids of that chunk as context
// (so decoders that treat the first token differently, e.g. SentencePiece's leading space, see
// the same thing as in one Decode call), and the text beyond the context's own text is returned
// once it does not end in U+FFFD. Where the tokenizer's own Decode would rewrite earlier text
// (a run of byte tokens that is not valid UTF-8 at all, which byte-fallback decoding turns into
// one U+FFFD per byte), the stream keeps what it returned and goes on with the new ids decoded
// on their own. Not thread-safe: one detokenizer per sequence.
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/tokenizer/tokenizer.h"

namespace promptintern {

class IncrementalDetokenizer {
 public:
  // `tokenizer` must outlive this. kSkip (the default) drops special tokens, as text shown to a
  // user should.
  explicit IncrementalDetokenizer(const Tokenizer& tokenizer, SpecialTokens special = SpecialTokens::kSkip);

  // Adds one generated id; returns the text that became final with it (often "", e.g. while a
  // character is incomplete).
  absl::StatusOr<std::string> Add(int id);
  // The end of the sequence: whatever is still held back (an incomplete character becomes
  // U+FFFD here, as in Decode).
  absl::StatusOr<std::string> Finish();

 private:
  // Returns the text of the pending ids beyond the context's and makes them the context; with
  // `hold_incomplete`, returns "" and keeps them pending while that text is empty or ends in an
  // incomplete character.
  absl::StatusOr<std::string> TakePending(bool hold_incomplete);

  const Tokenizer& tokenizer_;
  const SpecialTokens special_;
  std::vector<int> context_;  // ids of the last chunk returned
  std::string context_text_;  // their Decode
  std::vector<int> pending_;  // ids not returned yet
};

}  // namespace promptintern
