// test_buffer: the byte queue behind every connection. Scripts of appends and
// consumes, the two ways reserve() makes room (compacting, growing), reads and
// writes through a real non-blocking pipe, shrinking when idle, and a long
// random run checked against a std::string doing the same.
#include "core/buffer.h"
#include "core/buffer_pool.h"

#include "check.h"

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

using namespace smooth;

namespace {

// Bytes that differ from their neighbours, so a copy from the wrong offset shows.
std::string pattern(size_t n, size_t start = 0) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; ++i) s[i] = char('a' + (start + i) % 23);
    return s;
}

// A pipe whose two ends close themselves; non-blocking like a server socket.
struct Pipe {
    int r = -1;
    int w = -1;
    Pipe() {
        int fds[2];
        if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0) {
            r = fds[0];
            w = fds[1];
        }
    }
    ~Pipe() {
        if (r >= 0) ::close(r);
        if (w >= 0) ::close(w);
    }
    Pipe(const Pipe&) = delete;
    Pipe& operator=(const Pipe&) = delete;
};

// Everything the pipe holds now (non-blocking: stops at EAGAIN).
std::string read_all(int fd) {
    std::string out;
    char chunk[4096];
    ssize_t n;
    while ((n = ::read(fd, chunk, sizeof chunk)) > 0) out.append(chunk, size_t(n));
    return out;
}

// ---- append / consume / readable -------------------------------------------

struct Step {
    enum Op { Append, Consume, Clear } op;
    std::string text;  // Append: what; Consume: unused
    size_t n;          // Consume: how many
    std::string want;  // readable() afterwards
};

struct Script {
    const char* name;
    std::vector<Step> steps;
};

const std::vector<Script> kScripts = {
    {"append then consume in parts",
     {{Step::Append, "hello", 0, "hello"},
      {Step::Consume, "", 2, "llo"},
      {Step::Append, " world", 0, "llo world"},
      {Step::Consume, "", 0, "llo world"},
      {Step::Consume, "", 8, "d"},
      {Step::Consume, "", 1, ""}}},
    {"consume more than size empties",
     {{Step::Append, "abc", 0, "abc"}, {Step::Consume, "", 100, ""}, {Step::Append, "xy", 0, "xy"}}},
    {"consume on an empty buffer", {{Step::Consume, "", 5, ""}, {Step::Append, "z", 0, "z"}}},
    {"consume exactly size", {{Step::Append, "abcd", 0, "abcd"}, {Step::Consume, "", 4, ""}}},
    {"empty appends change nothing",
     {{Step::Append, "", 0, ""}, {Step::Append, "q", 0, "q"}, {Step::Append, "", 0, "q"}}},
    {"clear", {{Step::Append, "abc", 0, "abc"}, {Step::Clear, "", 0, ""}, {Step::Append, "d", 0, "d"}}},
    {"NUL bytes are bytes",
     {{Step::Append, std::string("a\0b", 3), 0, std::string("a\0b", 3)},
      {Step::Consume, "", 1, std::string("\0b", 2)}}},
};

void test_scripts() {
    for (const Script& s : kScripts) {
        Buffer b;
        for (size_t i = 0; i < s.steps.size(); ++i) {
            const Step& step = s.steps[i];
            const std::string at = std::string(s.name) + ", step " + std::to_string(i);
            switch (step.op) {
                case Step::Append: b.append(step.text); break;
                case Step::Consume: b.consume(step.n); break;
                case Step::Clear: b.clear(); break;
            }
            EXPECT_EQ_AT(b.readable(), step.want, at);
            EXPECT_EQ_AT(b.size(), step.want.size(), at);
            EXPECT_EQ_AT(b.empty(), step.want.empty(), at);
        }
    }
}

void test_empty_buffer() {
    Buffer b;
    EXPECT(b.empty());
    EXPECT_EQ(b.size(), size_t(0));
    EXPECT_EQ(b.readable(), "");
    EXPECT_EQ(b.writable(), size_t(0));  // no storage until something needs it
    b.append(std::string_view());        // a null pointer with no bytes
    EXPECT(b.empty());
}

void test_consume_all_restarts_at_front() {
    // Emptying the buffer puts both positions back at 0, so the next append
    // lands at the start of the same storage: nothing to compact later.
    Buffer b;
    b.append("0123456789");
    const char* front = b.readable().data();
    b.consume(3);
    EXPECT(b.readable().data() == front + 3);
    b.consume(50);  // more than is left
    EXPECT(b.empty());
    EXPECT_EQ(b.writable(), size_t(10));
    b.append("ab");
    EXPECT(b.readable().data() == front);
    EXPECT_EQ(b.readable(), "ab");
}

// ---- reserve: compacting vs growing ----------------------------------------

void test_reserve_compacts() {
    Buffer b;
    b.append(pattern(100));  // storage is exactly 100 bytes now
    EXPECT_EQ(b.writable(), size_t(0));
    const char* front = b.readable().data();
    b.consume(60);
    // 60 consumed bytes in front, 0 writable at the back: 50 fit once the 40
    // readable bytes move to the front, without new storage.
    b.reserve(50);
    EXPECT(b.readable().data() == front);
    EXPECT_EQ(b.readable(), pattern(40, 60));
    EXPECT_EQ(b.writable(), size_t(60));

    // Exactly as much room as the consumed bytes give: still a compaction.
    Buffer c;
    c.append(pattern(100));
    const char* c_front = c.readable().data();
    c.consume(30);
    c.reserve(30);
    EXPECT(c.readable().data() == c_front);
    EXPECT_EQ(c.readable(), pattern(70, 30));
    EXPECT_EQ(c.writable(), size_t(30));
}

void test_reserve_grows() {
    Buffer b;
    b.append(pattern(100));
    b.consume(10);
    // 10 consumed + 0 writable < 50: compacting would not make room, so the
    // storage grows, and the readable bytes come along unchanged.
    b.reserve(50);
    EXPECT(b.writable() >= 50);
    EXPECT_EQ(b.readable(), pattern(90, 10));

    // A request far beyond the current size.
    Buffer c;
    c.append("abc");
    c.reserve(10000);
    EXPECT(c.writable() >= 10000);
    EXPECT_EQ(c.readable(), "abc");

    // Enough room already: nothing moves.
    Buffer d;
    d.reserve(64);
    d.append("xyz");
    const char* at = d.readable().data();
    d.consume(1);
    d.reserve(10);
    EXPECT(d.readable().data() == at + 1);
    EXPECT_EQ(d.readable(), "yz");
}

void test_write_ptr_and_commit() {
    Buffer b;
    b.append("ab");
    b.reserve(5);
    EXPECT(b.writable() >= 5);
    std::memcpy(b.write_ptr(), "cdefg", 5);
    b.commit(3);  // only part of what was written counts
    EXPECT_EQ(b.readable(), "abcde");
}

void test_steady_state_never_reallocates() {
    // A connection that keeps up: each round appends a little more than the
    // free space at the back, but less than consumed + free. After the first
    // round the storage is never replaced.
    Buffer b;
    b.append(pattern(1000));
    const char* front = b.readable().data();
    std::string model = pattern(1000);
    for (int round = 0; round < 200; ++round) {
        b.consume(500);
        model.erase(0, 500);
        const std::string more = pattern(500, size_t(round));
        b.append(more);
        model += more;
        if (b.readable().data() != front || b.readable() != model) {
            EXPECT_EQ_AT(b.readable() == model, true, "round " + std::to_string(round));
            EXPECT_EQ_AT(b.readable().data() == front, true, "round " + std::to_string(round));
            break;
        }
    }
    EXPECT_EQ(b.readable().data() == front, true);
    EXPECT_EQ(b.size(), size_t(1000));
}

// ---- large appends, and a random run against a model -----------------------

void test_a_reserve_from_an_underflow_fails_at_once() {
    // The WebSocket session once asked for (header length - bytes buffered),
    // which underflowed; growth by doubling turned that into a buffer that
    // doubled at every read. Such a size is refused at the first call, and
    // the buffer is left as it was.
    Buffer b;
    b.append(pattern(100));
    const size_t header = 4;
    bool threw = false;
    try {
        b.reserve(header - b.size());
    } catch (const std::length_error&) {
        threw = true;
    }
    EXPECT(threw);
    EXPECT_EQ(b.size(), size_t(100));
    EXPECT_EQ(std::string(b.readable()), pattern(100));
}

void test_large_appends() {
    Buffer b;
    const std::string big = pattern(3 << 20);  // 3 MiB at once
    b.append(big);
    EXPECT_EQ(b.size(), big.size());
    EXPECT(b.readable() == big);

    // Then many pieces of awkward sizes on top.
    std::string model = big;
    const size_t sizes[] = {1, 7, 4095, 4096, 4097, 65535, 65536, 65537, 1 << 20};
    for (size_t n : sizes) {
        const std::string piece = pattern(n, n);
        b.append(piece);
        model += piece;
    }
    EXPECT_EQ(b.size(), model.size());
    EXPECT(b.readable() == model);
    b.consume(model.size() - 5);
    EXPECT_EQ(b.readable(), model.substr(model.size() - 5));
}

void test_random_against_model() {
    // xorshift: the same sequence on every run, so a failure reproduces.
    uint64_t state = 0x9e3779b97f4a7c15ull;
    auto next = [&state] {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return state;
    };
    Buffer b;
    std::string model;
    for (int i = 0; i < 20000; ++i) {
        const uint64_t r = next();
        const size_t n = size_t(r >> 8) % (r % 10 == 0 ? 70000 : 300);
        // Consume a third of the time, and always once 256 KiB pile up, so the
        // run keeps crossing the compact/grow boundary instead of only growing.
        if (r % 3 == 0 || model.size() > (256u << 10)) {
            b.consume(n);
            model.erase(0, n);
        } else if (r % 97 == 1) {
            b.shrink_if_idle(64);  // only acts when empty
        } else {
            const std::string piece = pattern(n, size_t(i));
            b.append(piece);
            model += piece;
        }
        if (b.readable() != model) {
            EXPECT_EQ_AT(b.readable() == model, true, "operation " + std::to_string(i));
            return;
        }
    }
    EXPECT_EQ(b.size(), model.size());
}

// ---- read_from / write_to through a pipe -----------------------------------

void test_read_from() {
    Pipe p;
    EXPECT(p.r >= 0);
    if (p.r < 0) return;
    Buffer b;

    // Nothing there yet: -1 with EAGAIN, the buffer untouched.
    errno = 0;
    EXPECT_EQ(b.read_from(p.r), ssize_t(-1));
    EXPECT_EQ(errno, EAGAIN);
    EXPECT(b.empty());

    EXPECT_EQ(::write(p.w, "hello", 5), ssize_t(5));
    EXPECT_EQ(b.read_from(p.r), ssize_t(5));
    EXPECT_EQ(b.readable(), "hello");

    // A second read appends after what is there.
    EXPECT_EQ(::write(p.w, " world", 6), ssize_t(6));
    EXPECT_EQ(b.read_from(p.r), ssize_t(6));
    EXPECT_EQ(b.readable(), "hello world");
    b.consume(6);
    EXPECT_EQ(b.readable(), "world");

    // A small chunk on a fresh buffer reads at most the room it made.
    Buffer small;
    EXPECT_EQ(::write(p.w, "0123456789", 10), ssize_t(10));
    const ssize_t n = small.read_from(p.r, 4);
    EXPECT(n >= 4 && n <= 10);
    EXPECT_EQ(small.readable(), std::string("0123456789").substr(0, size_t(n > 0 ? n : 0)));
    EXPECT_EQ(read_all(p.r), std::string("0123456789").substr(size_t(n > 0 ? n : 0)));

    // More than one chunk waiting: read_from until EAGAIN gets all of it.
    const std::string lots = pattern(60000);
    EXPECT_EQ(::write(p.w, lots.data(), lots.size()), ssize_t(lots.size()));
    Buffer many;
    int reads = 0;
    while (many.read_from(p.r) > 0) ++reads;
    EXPECT_EQ(errno, EAGAIN);
    EXPECT(reads >= 2);  // 16 KiB chunks: 60000 bytes never come in one read
    EXPECT(many.readable() == lots);

    // The writer gone: read_from returns 0 (end of file).
    ::close(p.w);
    p.w = -1;
    EXPECT_EQ(b.read_from(p.r), ssize_t(0));
    EXPECT_EQ(b.readable(), "world");

    // A bad fd: -1 and errno for the caller.
    errno = 0;
    EXPECT_EQ(b.read_from(-1), ssize_t(-1));
    EXPECT_EQ(errno, EBADF);
    EXPECT_EQ(b.readable(), "world");
}

void test_write_to() {
    Pipe p;
    EXPECT(p.r >= 0);
    if (p.r < 0) return;

    Buffer b;
    b.append("abcdef");
    b.consume(2);
    EXPECT_EQ(b.write_to(p.w), ssize_t(4));
    EXPECT(b.empty());
    EXPECT_EQ(read_all(p.r), "cdef");

    // An empty buffer writes nothing.
    EXPECT_EQ(b.write_to(p.w), ssize_t(0));
    EXPECT_EQ(read_all(p.r), "");

    // More than the pipe holds: a partial write consumes exactly what went,
    // the rest stays in order, and a full pipe says EAGAIN and consumes nothing.
    const std::string big = pattern(300000);
    Buffer out;
    out.append(big);
    const ssize_t first = out.write_to(p.w);
    EXPECT(first > 0 && size_t(first) < big.size());
    EXPECT_EQ(out.size(), big.size() - size_t(first > 0 ? first : 0));
    EXPECT(out.readable() == std::string_view(big).substr(size_t(first > 0 ? first : 0)));
    errno = 0;
    EXPECT_EQ(out.write_to(p.w), ssize_t(-1));
    EXPECT_EQ(errno, EAGAIN);
    EXPECT_EQ(out.size(), big.size() - size_t(first > 0 ? first : 0));

    // Drain and write in turns until everything has gone through, in order.
    std::string received = read_all(p.r);
    for (int turns = 0; !out.empty() && turns < 1000; ++turns) {
        if (out.write_to(p.w) < 0 && errno != EAGAIN) break;
        received += read_all(p.r);
    }
    EXPECT(out.empty());
    EXPECT_EQ(received.size(), big.size());
    EXPECT(received == big);

    // The reader gone: EPIPE (SIGPIPE is ignored, as the server does).
    ::close(p.r);
    p.r = -1;
    out.append("x");
    errno = 0;
    EXPECT_EQ(out.write_to(p.w), ssize_t(-1));
    EXPECT_EQ(errno, EPIPE);
    EXPECT_EQ(out.readable(), "x");
}

// ---- shrink_if_idle ---------------------------------------------------------

void test_shrink_if_idle() {
    // Idle and over the limit: the storage goes.
    Buffer b;
    b.append(pattern(100000));
    b.consume(100000);
    EXPECT(b.writable() >= 100000);
    b.shrink_if_idle();
    EXPECT_EQ(b.writable(), size_t(0));
    EXPECT(b.empty());
    b.append("after");  // and the buffer still works
    EXPECT_EQ(b.readable(), "after");

    // Bytes still waiting: nothing is given back.
    Buffer busy;
    busy.append(pattern(100000));
    busy.consume(99999);
    const size_t room = busy.writable();
    busy.shrink_if_idle();
    EXPECT_EQ(busy.writable(), room);
    EXPECT_EQ(busy.readable(), pattern(1, 99999));

    // Within the limit: kept for the next request.
    Buffer small;
    small.append(pattern(1000));
    small.consume(1000);
    small.shrink_if_idle(16384);
    EXPECT_EQ(small.writable(), size_t(1000));

    // The limit is the caller's: exactly at it is kept, one over is not.
    Buffer edge;
    edge.append(pattern(64));
    edge.consume(64);
    edge.shrink_if_idle(64);
    EXPECT_EQ(edge.writable(), size_t(64));
    edge.shrink_if_idle(63);
    EXPECT_EQ(edge.writable(), size_t(0));
}

// ---- with a pool: an idle buffer holds no block -----------------------------

// What a socket read does first (Buffer::read_from): room for a whole chunk,
// which a pooled buffer takes as a block.
void read_into(Buffer& b, std::string_view bytes) {
    b.reserve(BufferPool::kBlockBytes);
    b.append(bytes);
}

void test_pool_blocks() {
    BufferPool pool(2);  // keeps at most 2 free blocks
    {
        Buffer a(&pool), b(&pool), c(&pool);
        read_into(a, "request one");  // the first read takes a block
        EXPECT_EQ(pool.mapped_blocks(), size_t(1));
        EXPECT_EQ(a.writable() + a.size(), BufferPool::kBlockBytes);
        read_into(b, "two");
        read_into(c, "three");
        EXPECT_EQ(pool.mapped_blocks(), size_t(3));
        a.consume(a.size());
        a.shrink_if_idle();  // handled: the block goes back to the pool
        EXPECT_EQ(pool.free_blocks(), size_t(1));
        EXPECT_EQ(a.writable(), size_t(0));
        Buffer d(&pool);
        read_into(d, "four");  // and is taken again: no new mapping
        EXPECT_EQ(pool.mapped_blocks(), size_t(3));
        EXPECT_EQ(pool.free_blocks(), size_t(0));
        // A body larger than a block moves to a large block, bytes intact,
        // and the block goes back.
        const std::string body = pattern(100000);
        d.append(body);
        EXPECT_EQ(d.readable(), "four" + body);
        EXPECT_EQ(pool.free_blocks(), size_t(1));
    }
    // Destroyed: every block back; beyond `keep` they are unmapped at once.
    EXPECT_EQ(pool.free_blocks(), size_t(2));
    EXPECT_EQ(pool.mapped_blocks(), size_t(2));
}

void test_pool_steady_state() {
    // Request after request on a keep-alive connection: take, use, give back;
    // after the first, never a new mapping.
    BufferPool pool;
    Buffer in(&pool);
    for (int i = 0; i < 1000; i++) {
        read_into(in, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        in.consume(in.size());
        in.shrink_if_idle();
    }
    EXPECT_EQ(pool.mapped_blocks(), size_t(1));
    EXPECT_EQ(pool.free_blocks(), size_t(1));
}

void test_pool_small_needs_take_no_block() {
    // A message gathered for each of many clients at once (a broadcast) is a
    // few dozen bytes each: malloc'd at its size, no block mapped.
    BufferPool pool;
    {
        std::vector<std::unique_ptr<Buffer>> clients;
        for (int i = 0; i < 1000; i++) {
            clients.push_back(std::make_unique<Buffer>(&pool));
            clients.back()->append("\x81\x0bhello there");
        }
        EXPECT_EQ(pool.mapped_blocks(), size_t(0));
        EXPECT(clients[7]->capacity() <= Buffer::kSmallBytes);
        EXPECT_EQ(clients[7]->readable(), "\x81\x0bhello there");
        for (auto& c : clients) {
            c->consume(c->size());
            c->shrink_if_idle();
            EXPECT_EQ(c->capacity(), size_t(0));
        }
    }
    // Past kSmallBytes the bytes move to a block, intact, whatever the steps.
    Buffer b(&pool);
    std::string model;
    for (size_t step = 1; model.size() <= 3 * Buffer::kSmallBytes; step = step * 3 + 1) {
        const std::string piece = pattern(step);
        b.append(piece);
        model += piece;
        EXPECT_EQ(b.readable(), model);
        if (model.size() <= Buffer::kSmallBytes) EXPECT_EQ(pool.mapped_blocks(), size_t(0));
    }
    EXPECT_EQ(pool.mapped_blocks(), size_t(1));
    EXPECT_EQ(b.capacity(), BufferPool::kBlockBytes);
    // A small remainder after the front was consumed stays in its block.
    b.consume(b.size() - 10);
    b.append("more");
    EXPECT_EQ(b.capacity(), BufferPool::kBlockBytes);
    EXPECT_EQ(b.readable(), model.substr(model.size() - 10) + "more");
}

void test_pool_gives_back_what_a_burst_left() {
    // A burst takes 100 blocks at once, then gives them back: the pool keeps
    // them (up to `keep`) for a while, and unmaps the ones it did not need
    // over a whole period of kLargeIdleTicks calls of release_unused() (the
    // burst's own period needed them all: it takes two).
    BufferPool pool(256);
    {
        std::vector<std::unique_ptr<Buffer>> burst;
        for (int i = 0; i < 100; i++) {
            burst.push_back(std::make_unique<Buffer>(&pool));
            read_into(*burst.back(), "x");
        }
    }
    EXPECT_EQ(pool.free_blocks(), size_t(100));
    for (int i = 0; i < 2 * BufferPool::kLargeIdleTicks; i++) {
        // steady traffic meanwhile: one block at a time
        Buffer b(&pool);
        read_into(b, "y");
        pool.release_unused();
    }
    EXPECT(pool.free_blocks() <= 1);
    EXPECT_EQ(pool.mapped_blocks(), pool.free_blocks());
    // Large blocks likewise: kept for the next body, gone after a while unused.
    {
        Buffer body(&pool);
        body.append(pattern(1 << 20));
    }
    EXPECT(pool.kept_large_bytes() >= size_t(1 << 20));
    for (int i = 0; i <= BufferPool::kLargeIdleTicks; i++) pool.release_unused();
    EXPECT_EQ(pool.kept_large_bytes(), size_t(0));
}

}  // namespace

int main() {
    // As in the server: a write to a closed pipe is EPIPE, not a fatal signal.
    struct sigaction ignore{};
    ignore.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &ignore, nullptr);

    test_scripts();
    test_empty_buffer();
    test_consume_all_restarts_at_front();
    test_reserve_compacts();
    test_reserve_grows();
    test_write_ptr_and_commit();
    test_steady_state_never_reallocates();
    test_a_reserve_from_an_underflow_fails_at_once();
    test_large_appends();
    test_random_against_model();
    test_read_from();
    test_write_to();
    test_shrink_if_idle();
    test_pool_blocks();
    test_pool_steady_state();
    test_pool_small_needs_take_no_block();
    test_pool_gives_back_what_a_burst_left();
    return check::summary("buffer");
}
