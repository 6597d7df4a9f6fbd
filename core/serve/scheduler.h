// Which tokens of which sequences the next engine step computes (after vLLM's v1 scheduler).
//
// Each step has a token budget. Running sequences come first, decodes (one token each) before the
// rest of any chunked prefill, then waiting sequences are admitted in arrival order while the batch
// has room: a long prompt is prefilled a chunk per step alongside everyone's next token instead of
// stalling them. Admission first takes the longest cached prefix of the sequence's tokens from the
// KV block manager, so only the uncached tokens are computed. When the KV pool runs out, the most
// recently admitted running sequence is preempted: its blocks are released and it goes back to the
// front of the queue with everything it has generated, to be recomputed later (its prefix is often
// still cached). A request is never failed for lack of KV memory; the engine refuses up front any
// request that could not fit the pool alone.
//
// Background sequences (shadow work) yield to the others: they wait behind every waiting live
// sequence, are the first preempted when the pool runs out, and give up their running slot to a
// live sequence that finds the batch full.
//
// Not thread-safe: the engine thread alone calls it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <vector>

#include "core/serve/kv_block_manager.h"

namespace promptintern {

// The scheduler's view of one request.
struct Sequence {
  int64_t id = 0;
  std::vector<int> tokens;  // the prompt, then every generated token
  int64_t prompt_length = 0;
  // Tokens [0, num_computed) have their keys/values in the cache.
  int64_t num_computed = 0;
  // Separates prefix-cache entries of different models / adapters.
  uint64_t cache_salt = 0;
  SequenceBlocks blocks;
  // Prompt tokens found in the prefix cache at first admission, and prompt tokens actually
  // computed (recomputation after a preemption counts again).
  int64_t cached_prompt_tokens = 0;
  int64_t computed_prompt_tokens = 0;
  int preemptions = 0;
  bool admitted_once = false;
  bool background = false;
};

struct SchedulerOptions {
  int max_running = 8;              // sequences in one step
  int64_t max_step_tokens = 256;    // tokens computed in one step (the chunk size of a long prefill)
};

struct ScheduledChunk {
  Sequence* sequence = nullptr;
  int64_t num_tokens = 0;  // tokens [num_computed, num_computed + num_tokens) are computed
  // True when the chunk reaches the sequence's last token, so the step samples its next one.
  bool samples() const {
    return sequence->num_computed + num_tokens == static_cast<int64_t>(sequence->tokens.size());
  }
};

struct SchedulerStep {
  std::vector<ScheduledChunk> chunks;   // decodes first
  std::vector<Sequence*> preempted;     // in this step
  int64_t num_tokens() const;
};

class Scheduler {
 public:
  Scheduler(const SchedulerOptions& options, KvBlockManager* blocks) : options_(options), blocks_(blocks) {}

  // Queues a sequence behind the waiting ones (a live one ahead of every background one).
  void Add(Sequence* sequence);
  // Takes a sequence out wherever it is (finished, cancelled) and releases its blocks.
  void Remove(Sequence* sequence);

  SchedulerStep Schedule();
  // After the step ran: the chunks' tokens are computed; their full blocks become shareable.
  void Commit(const SchedulerStep& step);

  size_t num_running() const { return running_.size(); }
  size_t num_waiting() const { return waiting_.size(); }
  int64_t total_preemptions() const { return preemptions_; }

 private:
  // Moves the newest running background sequence, or failing that the newest running one, back to
  // the queue; returns it.
  Sequence* PreemptNewest(SchedulerStep* step);
  // Moves `victim` (running) back to the queue: at its front, or a background one at the front of
  // the background ones.
  void Preempt(Sequence* victim, SchedulerStep* step);
  // The first background sequence of the queue, or its end.
  std::deque<Sequence*>::iterator FirstBackgroundWaiting();
  bool Admit(Sequence* sequence, int64_t budget, SchedulerStep* step);

  SchedulerOptions options_;
  KvBlockManager* blocks_;
  std::deque<Sequence*> running_;  // admission order
  std::deque<Sequence*> waiting_;
  int64_t preemptions_ = 0;
};

}  // namespace promptintern
