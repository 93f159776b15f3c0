// buffer_pool: the 16 KiB blocks connections read into and write from.
//
// An idle connection holds no buffer (the memory an idle keep-alive
// connection costs is its Connection object and little else): it takes a
// block when bytes arrive and gives it back once they are handled. Between
// requests a block goes back to this pool, not to malloc, so a busy worker
// takes and gives blocks without a system call.
//
// Each block is a mapping of its own. The pool keeps at most `keep` free
// blocks; a block given back beyond that is unmapped at once, so the memory a
// burst of connections took returns to the kernel when the burst is over, not
// whenever malloc's heap happens to shrink.
//
// One pool per worker, one thread: nothing here locks. A Buffer (buffer.h)
// that uses the pool gives its block back when it is destroyed, so the pool
// must outlive its buffers.
#pragma once

#include <cstddef>
#include <vector>

namespace smooth {

class BufferPool {
public:
    static constexpr size_t kBlockBytes = 16384;

    explicit BufferPool(size_t keep = 256) : keep_(keep) {}  // 256 free blocks: 4 MiB at most kept
    ~BufferPool();
    BufferPool(const BufferPool&) = delete;
    BufferPool& operator=(const BufferPool&) = delete;

    // A block of kBlockBytes: a free one, or a new mapping (std::bad_alloc if
    // the kernel has none to give).
    char* take();
    void give(char* block);

    size_t free_blocks() const { return free_.size(); }
    size_t mapped_blocks() const { return mapped_; }  // free and in use

private:
    std::vector<char*> free_;
    size_t keep_;
    size_t mapped_ = 0;
};

}  // namespace smooth
