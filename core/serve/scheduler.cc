#include "core/serve/scheduler.h"

#include <algorithm>

namespace promptintern {

int64_t SchedulerStep::num_tokens() const {
  int64_t total = 0;
  for (const ScheduledChunk& chunk : chunks) total += chunk.num_tokens;
  return total;
}

std::deque<Sequence*>::iterator Scheduler::FirstBackgroundWaiting() {
  return std::find_if(waiting_.begin(), waiting_.end(), [](const Sequence* waiting) { return waiting->background; });
}

void Scheduler::Add(Sequence* sequence) {
  if (sequence->background) {
    waiting_.push_back(sequence);
  } else {
    waiting_.insert(FirstBackgroundWaiting(), sequence);
  }
}

void Scheduler::Remove(Sequence* sequence) {
  running_.erase(std::remove(running_.begin(), running_.end(), sequence), running_.end());
  waiting_.erase(std::remove(waiting_.begin(), waiting_.end(), sequence), waiting_.end());
  blocks_->Release(&sequence->blocks);
}

Sequence* Scheduler::PreemptNewest(SchedulerStep* step) {
  const auto background =
      std::find_if(running_.rbegin(), running_.rend(), [](const Sequence* running) { return running->background; });
  Sequence* victim = background != running_.rend() ? *background : running_.back();
  Preempt(victim, step);
  return victim;
}

void Scheduler::Preempt(Sequence* victim, SchedulerStep* step) {
  running_.erase(std::find(running_.begin(), running_.end(), victim));
  blocks_->Release(&victim->blocks);
  victim->num_computed = 0;
  ++victim->preemptions;
  ++preemptions_;
  waiting_.insert(victim->background ? FirstBackgroundWaiting() : waiting_.begin(), victim);
  step->preempted.push_back(victim);
  // It may already hold a chunk of this step.
  step->chunks.erase(std::remove_if(step->chunks.begin(), step->chunks.end(),
                                    [victim](const ScheduledChunk& chunk) { return chunk.sequence == victim; }),
                     step->chunks.end());
}

bool Scheduler::Admit(Sequence* sequence, int64_t budget, SchedulerStep* step) {
  if (sequence->blocks.table.empty()) {
    sequence->num_computed = blocks_->AcquireCachedPrefix(sequence->cache_salt, sequence->tokens, &sequence->blocks);
    if (!sequence->admitted_once) {
      sequence->cached_prompt_tokens = std::min(sequence->num_computed, sequence->prompt_length);
    }
  }
  const int64_t remaining = static_cast<int64_t>(sequence->tokens.size()) - sequence->num_computed;
  const int64_t count = std::min(remaining, budget);
  if (!blocks_->Reserve(sequence->num_computed + count, &sequence->blocks)) {
    // Not now: give the cached prefix back so its blocks stay evictable while it waits.
    blocks_->Release(&sequence->blocks);
    sequence->num_computed = 0;
    return false;
  }
  sequence->admitted_once = true;
  running_.push_back(sequence);
  step->chunks.push_back({sequence, count});
  return true;
}

SchedulerStep Scheduler::Schedule() {
  SchedulerStep step;
  int64_t budget = options_.max_step_tokens;

  // Running sequences: those decoding first, then those still in a chunked prefill.
  std::vector<Sequence*> order;
  for (Sequence* sequence : running_) {
    if (static_cast<int64_t>(sequence->tokens.size()) - sequence->num_computed == 1) order.push_back(sequence);
  }
  for (Sequence* sequence : running_) {
    if (static_cast<int64_t>(sequence->tokens.size()) - sequence->num_computed > 1) order.push_back(sequence);
  }
  for (Sequence* sequence : order) {
    if (budget == 0) break;
    if (std::find(running_.begin(), running_.end(), sequence) == running_.end()) continue;  // preempted
    const int64_t count =
        std::min(static_cast<int64_t>(sequence->tokens.size()) - sequence->num_computed, budget);
    bool preempted_itself = false;
    while (!blocks_->Reserve(sequence->num_computed + count, &sequence->blocks)) {
      if (PreemptNewest(&step) == sequence) {
        preempted_itself = true;
        break;
      }
    }
    if (preempted_itself) continue;
    step.chunks.push_back({sequence, count});
    budget = options_.max_step_tokens - step.num_tokens();
  }

  // Waiting sequences, in order, while there is room (none in a step that had to preempt: the
  // pool is full). A live sequence that finds the batch full takes a background one's slot.
  const bool pool_full = !step.preempted.empty();
  while (!pool_full && budget > 0 && !waiting_.empty()) {
    Sequence* sequence = waiting_.front();
    if (static_cast<int>(running_.size()) >= options_.max_running) {
      const auto background =
          std::find_if(running_.rbegin(), running_.rend(), [](const Sequence* running) { return running->background; });
      if (sequence->background || background == running_.rend()) break;
      Preempt(*background, &step);
      budget = options_.max_step_tokens - step.num_tokens();
      continue;  // the victim now waits behind `sequence`, which is still first
    }
    if (!Admit(sequence, budget, &step)) break;
    waiting_.pop_front();
    budget = options_.max_step_tokens - step.num_tokens();
  }
  return step;
}

void Scheduler::Commit(const SchedulerStep& step) {
  for (const ScheduledChunk& chunk : step.chunks) {
    Sequence* sequence = chunk.sequence;
    const int64_t begin = sequence->num_computed;
    const int64_t end = begin + chunk.num_tokens;
    sequence->computed_prompt_tokens += std::max<int64_t>(0, std::min(end, sequence->prompt_length) - begin);
    sequence->num_computed = end;
    blocks_->RegisterFullBlocks(sequence->cache_salt, sequence->tokens, end, &sequence->blocks);
  }
}

}  // namespace promptintern
