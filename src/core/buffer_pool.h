// buffer_pool: the 16 KiB blocks connections read into and write from.
//
// An idle connection holds no buffer (the memory an idle keep-alive
// connection costs is its Connection object and little else): it takes a
// block when bytes arrive and gives it back once they are handled. Between
// requests a block goes back to this pool, not to malloc, so a busy worker
// takes and gives blocks without a system call.
//
// Each block is a mapping of its own. The pool keeps at most `keep` free
// blocks; a block given back beyond that is unmapped at once. And free blocks
// that were not needed for a while go too: release_unused() (the worker calls
// it every 100 ms) unmaps, every kLargeIdleTicks calls, as many free blocks as
// the pool never dipped into since the last time (the fewest it held free).
// So the memory a burst of connections took returns to the kernel when the
// burst is over, not whenever malloc's heap happens to shrink.
//
// What does not fit in one block (a request body of a megabyte) gets a large
// block, also a mapping of its own. Large blocks given back are kept, up to
// kKeepLargeBytes in all, for the next body: its pages are already there, so
// reading a body into it costs no page faults. A large block unused for
// kLargeIdleTicks calls of release_unused() (the worker calls it every 100 ms)
// is unmapped. The limit is generous (some 60 one-megabyte bodies in flight
// in one worker) because keeping costs little: the blocks kept were all in
// use a moment before, so the peak is no higher, and a second later they are
// gone. At 16 MiB a worker with 25 such bodies at once mapped anew about 2 of
// every 5 and took 27 to 87 page faults per request (make bench, echo row).
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
    static constexpr size_t kLargeStep = 64 * 1024;          // large blocks come in multiples of this
    static constexpr size_t kKeepLargeBytes = 64 * 1024 * 1024;
    static constexpr int kLargeIdleTicks = 10;

    struct Large {
        char* data = nullptr;
        size_t bytes = 0;
    };

    explicit BufferPool(size_t keep = 256) : keep_(keep) {}  // 256 free blocks: 4 MiB at most kept
    ~BufferPool();
    BufferPool(const BufferPool&) = delete;
    BufferPool& operator=(const BufferPool&) = delete;

    // A block of kBlockBytes: a free one, or a new mapping (std::bad_alloc if
    // the kernel has none to give).
    char* take();
    void give(char* block);

    // A large block of at least `at_least` bytes: the smallest kept one that
    // fits, or a new mapping.
    Large take_large(size_t at_least);
    void give_large(Large block);
    // Unmaps the blocks nobody has taken for a while.
    void release_unused();

    size_t free_blocks() const { return free_.size(); }
    size_t mapped_blocks() const { return mapped_; }  // free and in use
    size_t kept_large_bytes() const { return kept_large_; }

private:
    struct KeptLarge {
        Large block;
        int idle_ticks;
    };
    std::vector<char*> free_;
    size_t fewest_free_ = 0;  // since the last release: free blocks never needed meanwhile
    int ticks_ = 0;
    std::vector<KeptLarge> large_;
    size_t kept_large_ = 0;
    size_t keep_;
    size_t mapped_ = 0;
};

}  // namespace smooth
