// buffer: the byte queue behind every connection's input and output.
//
//   +----------------+--------------------+-------------------+
//   | consumed       |  readable bytes    |  writable space   |
//   +----------------+--------------------+-------------------+
//   0       <=   read_pos_    <=     write_pos_    <=    capacity_
//
// Reading from a socket appends at write_pos_; handing bytes on (to a parser,
// or to write(2)) consumes from read_pos_. When the writable space runs short
// the readable bytes are moved back to the front before the storage grows, so
// a connection that keeps up never reallocates.
//
// Where the storage comes from: a buffer given a BufferPool takes its first
// 16 KiB as one of the pool's blocks (buffer_pool.h), and a larger size (a
// request body) as one of its large blocks, whose pages stay mapped between
// bodies; either goes back to the pool when the buffer is empty and told so
// (shrink_if_idle) or destroyed. Only a small need (up to kSmallBytes: a
// WebSocket message gathered for the end of the loop's pass, the few bytes a
// socket did not take) is malloc'd instead, at its size: a broadcast gathers
// one message for each of 10,000 clients at once, and 10,000 blocks would be
// 160 MiB of mappings for a few hundred kilobytes. It moves to a block when
// it outgrows that. A buffer without a pool mallocs, and grows with realloc.
// Nothing is zero-filled: bytes exist only once written.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <sys/types.h>

namespace smooth {

class BufferPool;

class Buffer {
public:
    Buffer() = default;
    explicit Buffer(BufferPool* pool) : pool_(pool) {}
    ~Buffer() { release(); }
    Buffer(const Buffer&) = delete;
    Buffer& operator=(const Buffer&) = delete;

    std::string_view readable() const { return {data_ + read_pos_, write_pos_ - read_pos_}; }
    size_t size() const { return write_pos_ - read_pos_; }
    bool empty() const { return read_pos_ == write_pos_; }

    void consume(size_t n);
    // Drops n readable bytes starting `offset` bytes in; what follows moves
    // back (only the tail after them is copied). A chunked body's framing goes
    // this way while the request's head stays where it is.
    void erase(size_t offset, size_t n);
    void clear() { read_pos_ = write_pos_ = 0; }
    // The readable bytes, writable in place (a WebSocket payload is unmasked there).
    char* mutable_data() { return data_ + read_pos_; }
    void append(const char* data, size_t n);
    void append(std::string_view s) { append(s.data(), s.size()); }

    // A pooled buffer's need up to this is malloc'd, not a block (above).
    static constexpr size_t kSmallBytes = 1024;

    // No buffer holds more than this: a larger reserve is a caller's bug.
    static constexpr size_t kMaxBytes = size_t(1) << 40;

    // At least n writable bytes at write_ptr(); commit() what was written.
    // Throws std::length_error past kMaxBytes, std::bad_alloc without memory.
    void reserve(size_t n);
    char* write_ptr() { return data_ + write_pos_; }
    size_t writable() const { return capacity_ - write_pos_; }
    size_t capacity() const { return capacity_; }  // the memory it holds
    void commit(size_t n) { write_pos_ += n; }

    // One read(2) into the writable space (at least `chunk` bytes of it).
    // Returns what read(2) returned; errno is left for the caller to judge.
    ssize_t read_from(int fd, size_t chunk = 16384);
    // One write(2) of the readable bytes; consumes what was written.
    ssize_t write_to(int fd);

    // Gives the storage back (to the pool, or to malloc) when the buffer is
    // empty and holds more than `keep` bytes: a connection going idle.
    void shrink_if_idle(size_t keep = 0);

private:
    void grow(size_t n);
    void release();

    char* data_ = nullptr;
    size_t capacity_ = 0;
    size_t read_pos_ = 0;
    size_t write_pos_ = 0;
    BufferPool* pool_ = nullptr;
    enum class Storage : uint8_t { None, Block, Large, Heap } storage_ = Storage::None;
};

}  // namespace smooth
