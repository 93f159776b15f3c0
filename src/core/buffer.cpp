// buffer: see buffer.h.
#include "core/buffer.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <unistd.h>

#include "core/buffer_pool.h"

namespace smooth {

void Buffer::consume(size_t n) {
    if (n >= size()) {
        clear();  // empty again: start from the front, no copying later
        return;
    }
    read_pos_ += n;
}

void Buffer::erase(size_t offset, size_t n) {
    if (offset >= size() || n == 0) return;
    n = std::min(n, size() - offset);
    char* at = data_ + read_pos_ + offset;
    std::memmove(at, at + n, size() - offset - n);
    write_pos_ -= n;
}

void Buffer::reserve(size_t n) {
    if (writable() >= n) return;
    const size_t have = size();
    // A caller's size arithmetic gone wrong (an unsigned underflow) asks for
    // close to 2^64 bytes. Growth by doubling would hide that, one read at a
    // time, until memory ran out; it fails here, at once, saying so.
    if (n > kMaxBytes - have) throw std::length_error("Buffer::reserve(" + std::to_string(n) + ")");
    if (read_pos_ + writable() >= n) {
        // Enough room if the readable bytes move to the front.
        std::memmove(data_, data_ + read_pos_, have);
        read_pos_ = 0;
        write_pos_ = have;
        return;
    }
    grow(std::max(have + n, capacity_ * 2));
}

// New storage of at least `want` bytes with the readable bytes at its front.
void Buffer::grow(size_t want) {
    const size_t have = size();
    if (pool_ && want > kSmallBytes) {  // (a Block or Large is never grown to a small size)
        char* fresh;
        size_t bytes;
        Storage kind;
        if (want <= BufferPool::kBlockBytes) {
            fresh = pool_->take();
            bytes = BufferPool::kBlockBytes;
            kind = Storage::Block;
        } else {
            BufferPool::Large large = pool_->take_large(want);
            fresh = large.data;
            bytes = large.bytes;
            kind = Storage::Large;
        }
        if (have) std::memcpy(fresh, data_ + read_pos_, have);
        release();
        data_ = fresh;
        capacity_ = bytes;
        storage_ = kind;
    } else if (storage_ == Storage::Heap) {
        // Compact first, so realloc carries only the readable bytes (and may
        // remap a big block's pages rather than copy them).
        if (read_pos_) std::memmove(data_, data_ + read_pos_, have);
        void* p = std::realloc(data_, want);
        if (!p) throw std::bad_alloc();
        data_ = static_cast<char*>(p);
        capacity_ = want;
    } else {
        char* fresh = static_cast<char*>(std::malloc(want));
        if (!fresh) throw std::bad_alloc();
        if (have) std::memcpy(fresh, data_ + read_pos_, have);
        release();
        data_ = fresh;
        capacity_ = want;
        storage_ = Storage::Heap;
    }
    read_pos_ = 0;
    write_pos_ = have;
}

void Buffer::release() {
    switch (storage_) {
        case Storage::None: break;
        case Storage::Block: pool_->give(data_); break;
        case Storage::Large: pool_->give_large({data_, capacity_}); break;
        case Storage::Heap: std::free(data_); break;
    }
    data_ = nullptr;
    capacity_ = read_pos_ = write_pos_ = 0;
    storage_ = Storage::None;
}

void Buffer::append(const char* data, size_t n) {
    if (n == 0) return;  // data may be null then, and memcpy must not see a null pointer
    reserve(n);
    std::memcpy(write_ptr(), data, n);
    commit(n);
}

ssize_t Buffer::read_from(int fd, size_t chunk) {
    reserve(chunk);
    ssize_t n;
    do n = ::read(fd, write_ptr(), writable());
    while (n == -1 && errno == EINTR);
    if (n > 0) commit(size_t(n));
    return n;
}

ssize_t Buffer::write_to(int fd) {
    ssize_t n;
    do n = ::write(fd, data_ + read_pos_, size());
    while (n == -1 && errno == EINTR);
    if (n > 0) consume(size_t(n));
    return n;
}

void Buffer::shrink_if_idle(size_t keep) {
    if (empty() && capacity_ > keep) release();
}

}  // namespace smooth
