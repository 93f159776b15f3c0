#include "core/buffer.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <unistd.h>

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
    char* at = data_.data() + read_pos_ + offset;
    std::memmove(at, at + n, size() - offset - n);
    write_pos_ -= n;
}

void Buffer::reserve(size_t n) {
    if (writable() >= n) return;
    if (read_pos_ + writable() >= n) {
        // Enough room if the readable bytes move to the front.
        size_t readable_bytes = size();
        std::memmove(data_.data(), data_.data() + read_pos_, readable_bytes);
        read_pos_ = 0;
        write_pos_ = readable_bytes;
        return;
    }
    data_.resize(std::max(write_pos_ + n, data_.size() * 2));
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
    do n = ::write(fd, data_.data() + read_pos_, size());
    while (n == -1 && errno == EINTR);
    if (n > 0) consume(size_t(n));
    return n;
}

void Buffer::shrink_if_idle(size_t keep) {
    if (empty() && data_.size() > keep) {
        std::vector<char>().swap(data_);
        clear();
    }
}

}  // namespace smooth
