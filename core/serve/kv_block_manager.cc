#include "core/serve/kv_block_manager.h"

#include <algorithm>

#include "core/util/random.h"

namespace promptintern {

KvBlockManager::KvBlockManager(int64_t num_blocks, int64_t block_size, bool enable_prefix_caching)
    : block_size_(block_size), prefix_caching_(enable_prefix_caching), blocks_(num_blocks) {
  free_.reserve(num_blocks);
  // Popped from the back: low block ids first, so a lightly used pool touches little memory.
  for (int64_t i = num_blocks - 1; i >= 0; --i) free_.push_back(static_cast<int32_t>(i));
}

uint64_t KvBlockManager::ChainHash(uint64_t parent, const int* tokens, int64_t count) {
  uint64_t hash = SplitMix64Hash(parent);
  for (int64_t i = 0; i < count; ++i) hash = SplitMix64Hash(hash ^ static_cast<uint64_t>(static_cast<uint32_t>(tokens[i])));
  return hash;
}

int64_t KvBlockManager::AcquireCachedPrefix(uint64_t cache_salt, const std::vector<int>& tokens,
                                            SequenceBlocks* sequence) {
  if (!prefix_caching_ || tokens.empty()) return 0;
  prefix_query_tokens_ += static_cast<int64_t>(tokens.size());
  const int64_t usable_blocks = (static_cast<int64_t>(tokens.size()) - 1) / block_size_;
  uint64_t hash = SplitMix64Hash(cache_salt);
  for (int64_t i = 0; i < usable_blocks; ++i) {
    const int* block_tokens = tokens.data() + i * block_size_;
    hash = ChainHash(hash, block_tokens, block_size_);
    const auto found = cached_.find(hash);
    if (found == cached_.end()) break;
    Block& block = blocks_[found->second];
    if (!std::equal(block.tokens.begin(), block.tokens.end(), block_tokens)) break;
    if (block.references == 0) evictable_.erase(block.lru_position);
    ++block.references;
    sequence->table.push_back(found->second);
    sequence->full_hashes.push_back(hash);
  }
  const int64_t hit_tokens = static_cast<int64_t>(sequence->table.size()) * block_size_;
  prefix_hit_tokens_ += hit_tokens;
  return hit_tokens;
}

int32_t KvBlockManager::TakeBlock() {
  int32_t index;
  if (!free_.empty()) {
    index = free_.back();
    free_.pop_back();
  } else {
    index = evictable_.front();
    evictable_.pop_front();
    Unregister(index);
    ++evictions_;
  }
  blocks_[index].references = 1;
  return index;
}

void KvBlockManager::Unregister(int32_t index) {
  Block& block = blocks_[index];
  cached_.erase(block.hash);
  block.registered = false;
  block.tokens.clear();
}

bool KvBlockManager::Reserve(int64_t num_tokens, SequenceBlocks* sequence) {
  const int64_t needed = (num_tokens + block_size_ - 1) / block_size_ - static_cast<int64_t>(sequence->table.size());
  if (needed <= 0) return true;
  if (needed > AvailableBlocks()) return false;
  for (int64_t i = 0; i < needed; ++i) sequence->table.push_back(TakeBlock());
  return true;
}

void KvBlockManager::RegisterFullBlocks(uint64_t cache_salt, const std::vector<int>& tokens, int64_t computed_tokens,
                                        SequenceBlocks* sequence) {
  if (!prefix_caching_) return;
  const int64_t full_blocks =
      std::min<int64_t>(computed_tokens / block_size_, static_cast<int64_t>(sequence->table.size()));
  uint64_t hash = sequence->full_hashes.empty() ? SplitMix64Hash(cache_salt) : sequence->full_hashes.back();
  for (int64_t i = static_cast<int64_t>(sequence->full_hashes.size()); i < full_blocks; ++i) {
    const int* block_tokens = tokens.data() + i * block_size_;
    hash = ChainHash(hash, block_tokens, block_size_);
    sequence->full_hashes.push_back(hash);
    // Another sequence may have registered the same prefix meanwhile: ours then stays a private
    // copy and returns to the free list when released.
    if (cached_.count(hash) != 0) continue;
    Block& block = blocks_[sequence->table[i]];
    block.registered = true;
    block.hash = hash;
    block.tokens.assign(block_tokens, block_tokens + block_size_);
    cached_.emplace(hash, sequence->table[i]);
  }
}

void KvBlockManager::Release(SequenceBlocks* sequence) {
  // Tail blocks first, so that they are evicted before the prefix blocks more sequences share.
  for (auto it = sequence->table.rbegin(); it != sequence->table.rend(); ++it) {
    Block& block = blocks_[*it];
    if (--block.references > 0) continue;
    if (block.registered) {
      block.lru_position = evictable_.insert(evictable_.end(), *it);
    } else {
      free_.push_back(*it);
    }
  }
  sequence->table.clear();
  sequence->full_hashes.clear();
}

KvBlockStats KvBlockManager::stats() const {
  KvBlockStats stats;
  stats.total_blocks = num_blocks();
  stats.cached_blocks = static_cast<int64_t>(evictable_.size());
  stats.free_blocks = static_cast<int64_t>(free_.size());
  stats.used_blocks = stats.total_blocks - stats.cached_blocks - stats.free_blocks;
  stats.prefix_hit_tokens = prefix_hit_tokens_;
  stats.prefix_query_tokens = prefix_query_tokens_;
  stats.evictions = evictions_;
  return stats;
}

}  // namespace promptintern
