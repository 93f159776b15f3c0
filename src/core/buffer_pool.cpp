// buffer_pool: see buffer_pool.h.
#include "core/buffer_pool.h"

#include <algorithm>
#include <new>
#include <sys/mman.h>

namespace smooth {

BufferPool::~BufferPool() {
    for (char* block : free_) munmap(block, kBlockBytes);
    for (KeptLarge& k : large_) munmap(k.block.data, k.block.bytes);
}

BufferPool::Large BufferPool::take_large(size_t at_least) {
    size_t best = large_.size();
    for (size_t i = 0; i < large_.size(); i++)
        if (large_[i].block.bytes >= at_least && (best == large_.size() || large_[i].block.bytes < large_[best].block.bytes))
            best = i;
    if (best < large_.size()) {
        Large b = large_[best].block;
        kept_large_ -= b.bytes;
        large_.erase(large_.begin() + long(best));
        return b;
    }
    const size_t bytes = (at_least + kLargeStep - 1) / kLargeStep * kLargeStep;
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    return {static_cast<char*>(p), bytes};
}

void BufferPool::give_large(Large block) {
    if (kept_large_ + block.bytes > kKeepLargeBytes) {
        munmap(block.data, block.bytes);
        return;
    }
    large_.push_back({block, 0});
    kept_large_ += block.bytes;
}

void BufferPool::release_unused() {
    if (++ticks_ >= kLargeIdleTicks) {
        ticks_ = 0;
        // The fewest free blocks held since the last time were never needed:
        // unmapped now (the most recently given back stay, at the end).
        size_t surplus = std::min(fewest_free_, free_.size());
        for (size_t i = 0; i < surplus; i++) munmap(free_[i], kBlockBytes);
        free_.erase(free_.begin(), free_.begin() + long(surplus));
        mapped_ -= surplus;
        fewest_free_ = free_.size();
    }
    for (size_t i = 0; i < large_.size();) {
        if (++large_[i].idle_ticks <= kLargeIdleTicks) {
            i++;
            continue;
        }
        munmap(large_[i].block.data, large_[i].block.bytes);
        kept_large_ -= large_[i].block.bytes;
        large_.erase(large_.begin() + long(i));
    }
}

char* BufferPool::take() {
    if (!free_.empty()) {
        char* block = free_.back();
        free_.pop_back();
        fewest_free_ = std::min(fewest_free_, free_.size());
        return block;
    }
    fewest_free_ = 0;
    void* p = mmap(nullptr, kBlockBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    mapped_++;
    return static_cast<char*>(p);
}

void BufferPool::give(char* block) {
    if (free_.size() < keep_) {
        free_.push_back(block);
        return;
    }
    munmap(block, kBlockBytes);  // cannot fail for a whole mapping we made
    mapped_--;
}

}  // namespace smooth
