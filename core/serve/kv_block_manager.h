// Bookkeeping of the paged KV cache (the model runner owns the tensors; this owns who holds which
// block), after vLLM's KV cache manager: a pool of fixed-size blocks, each sequence holding a
// block table (logical block i of the sequence -> physical block), and automatic prefix caching.
//
// Prefix caching: once a block is full, it is registered under a hash of its tokens chained with
// the hash of the block before it (and of the sequence's cache salt, which separates models and
// adapters whose keys/values differ), so the hash names the whole prefix up to that block. A new
// sequence whose prompt starts with registered blocks takes references on them and skips their
// prefill. Blocks are reference-counted; a block nobody references stays cached (on an LRU list)
// until its memory is needed, then it is evicted. A hit is verified against the block's stored
// tokens, so a hash collision can never hand out another prefix's keys.
//
// Not thread-safe: the engine thread alone calls it.
#pragma once

#include <cstdint>
#include <list>
#include <unordered_map>
#include <vector>

namespace promptintern {

// The blocks one sequence holds.
struct SequenceBlocks {
  std::vector<int32_t> table;         // physical block of each logical block
  std::vector<uint64_t> full_hashes;  // chain hash of each registered full block, in order
};

struct KvBlockStats {
  int64_t total_blocks = 0;
  int64_t used_blocks = 0;    // referenced by at least one sequence
  int64_t cached_blocks = 0;  // unreferenced but holding a registered prefix (evictable)
  int64_t free_blocks = 0;    // neither
  int64_t prefix_hit_tokens = 0;    // cumulative prompt tokens served from the cache
  int64_t prefix_query_tokens = 0;  // cumulative prompt tokens looked up
  int64_t evictions = 0;
};

class KvBlockManager {
 public:
  KvBlockManager(int64_t num_blocks, int64_t block_size, bool enable_prefix_caching);

  int64_t block_size() const { return block_size_; }
  int64_t num_blocks() const { return static_cast<int64_t>(blocks_.size()); }

  // For a sequence that holds no blocks yet: takes the longest registered prefix of `tokens` (whole
  // blocks, never all of `tokens`: the last token is always computed so there are logits to
  // sample from) and returns how many tokens it covers.
  int64_t AcquireCachedPrefix(uint64_t cache_salt, const std::vector<int>& tokens, SequenceBlocks* sequence);

  // Grows the sequence's table to hold `num_tokens` tokens, taking free blocks first and evicting
  // the least recently used cached ones next. False (and nothing taken) if the pool cannot.
  bool Reserve(int64_t num_tokens, SequenceBlocks* sequence);

  // Registers the blocks that `computed_tokens` (the sequence's tokens [0, computed_tokens),
  // whose keys/values are now written) filled, so later sequences can share them.
  void RegisterFullBlocks(uint64_t cache_salt, const std::vector<int>& tokens, int64_t computed_tokens,
                          SequenceBlocks* sequence);

  // Drops the sequence's references. Registered blocks stay cached until evicted.
  void Release(SequenceBlocks* sequence);

  // Blocks a Reserve could still obtain (free + evictable).
  int64_t AvailableBlocks() const { return static_cast<int64_t>(free_.size() + evictable_.size()); }
  KvBlockStats stats() const;

 private:
  struct Block {
    int32_t references = 0;
    bool registered = false;
    uint64_t hash = 0;
    std::vector<int> tokens;                   // of a registered block, to verify hits
    std::list<int32_t>::iterator lru_position;  // valid while registered and unreferenced
  };

  static uint64_t ChainHash(uint64_t parent, const int* tokens, int64_t count);
  void Unregister(int32_t block);
  int32_t TakeBlock();

  const int64_t block_size_;
  const bool prefix_caching_;
  std::vector<Block> blocks_;
  std::vector<int32_t> free_;      // never registered or evicted; popped from the back
  std::list<int32_t> evictable_;   // registered, unreferenced; front = least recently used
  std::unordered_map<uint64_t, int32_t> cached_;  // chain hash -> block
  int64_t prefix_hit_tokens_ = 0;
  int64_t prefix_query_tokens_ = 0;
  int64_t evictions_ = 0;
};

}  // namespace promptintern
