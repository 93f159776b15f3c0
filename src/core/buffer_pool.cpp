// buffer_pool: see buffer_pool.h.
#include "core/buffer_pool.h"

#include <new>
#include <sys/mman.h>

namespace smooth {

BufferPool::~BufferPool() {
    for (char* block : free_) munmap(block, kBlockBytes);
}

char* BufferPool::take() {
    if (!free_.empty()) {
        char* block = free_.back();
        free_.pop_back();
        return block;
    }
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
