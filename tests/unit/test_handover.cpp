// test_handover: the hand-over stream's frames (protocol/handover.h): each
// written and read back whole, at every split point, several in one buffer;
// a version the reader does not know, a wrong magic, counts and lengths that
// lie, an unknown type, a frame past the limit.
#include "protocol/handover.h"

#include "check.h"

#include <functional>
#include <string>
#include <vector>

using namespace smooth::handover;

namespace {

LinkState a_link() {
    LinkState l;
    l.slot = 3;
    l.state = 2;
    l.pid = 4242;
    l.generation = 7;
    l.version = "chat 2";
    l.tokens = {0x11223344, 0xdeadbeef};
    l.in_flight = {{9, 0x1122334400000005ull}, {12, 0xdeadbeef00000001ull}};
    l.input = std::string("\0\0\0\x09\x11partial", 12);
    l.output = "event bytes not yet sent";
    return l;
}

ClientState a_client() {
    ClientState c;
    c.client = 0x1122334400000005ull;
    c.protocol = 4;
    c.peer_ip = 0x0100007f;
    c.peer_port = 51234;
    c.opened_ms = 1765000000123ull;
    c.bytes_in = 1000;
    c.bytes_out = 2000;
    c.conn_state = 3;
    c.flags = kConnectTold | kMessageTimed;
    c.deadline_ms = 5300;
    c.ws_message_state = 1;
    c.ws_message = "the first fragment";
    c.input = std::string("\x81\x85" "abcd" "\x01", 7);  // a frame cut short
    c.output = std::string(70000, 'o');                  // a slow reader's backlog
    c.log_request = "GET /chat HTTP/1.1";
    c.in_flight_seq = 9;
    c.in_flight_link = 0;
    c.waiting = {{9, 1, "ping 1"}, {10, 1, "ping 2"}, {11, 101, ""}};
    return c;
}

// Closed while its last events still wait for the business: no socket moves.
ClientState a_closed_client() {
    ClientState c;
    c.client = 0x1122334400000006ull;
    c.protocol = 1;
    c.conn_state = kConnectionClosed;
    c.flags = kConnectTold;
    c.waiting = {{0, 1, "bye"}, {0, 101, ""}};
    return c;
}

End an_end() {
    End e{77, 10000, 4, {}};
    e.broadcasts = {{uint64_t(4242) << 32 | 7, 19}, {uint64_t(4243) << 32 | 7, 3}};
    return e;
}

struct Written {
    const char* name;
    std::function<void(std::string&)> write;
    std::function<void(const Frame&, const std::string&)> check;
};

std::vector<Written> frames() {
    return {
        {"HELLO", [](std::string& s) { write_hello(s, 3); },
         [](const Frame& f, const std::string& at) {
             EXPECT_EQ_AT(int(f.type), int(Type::Hello), at);
             EXPECT_EQ_AT(f.version, uint16_t(3), at);
         }},
        {"LINK", [](std::string& s) { write_link(s, a_link()); },
         [](const Frame& f, const std::string& at) {
             EXPECT_EQ_AT(int(f.type), int(Type::Link), at);
             EXPECT_EQ_AT(f.link == a_link(), true, at);
             EXPECT_EQ_AT(f.takes_fd(), true, at);
         }},
        {"CLIENT", [](std::string& s) { write_client(s, a_client()); },
         [](const Frame& f, const std::string& at) {
             EXPECT_EQ_AT(int(f.type), int(Type::Client), at);
             EXPECT_EQ_AT(f.client == a_client(), true, at);
             EXPECT_EQ_AT(f.takes_fd(), true, at);
         }},
        {"CLIENT whose connection has closed", [](std::string& s) { write_client(s, a_closed_client()); },
         [](const Frame& f, const std::string& at) {
             EXPECT_EQ_AT(int(f.type), int(Type::Client), at);
             EXPECT_EQ_AT(f.client == a_closed_client(), true, at);
             EXPECT_EQ_AT(f.takes_fd(), false, at);  // only its events move
         }},
        {"END", [](std::string& s) { write_end(s, an_end()); },
         [](const Frame& f, const std::string& at) {
             EXPECT_EQ_AT(int(f.type), int(Type::End), at);
             EXPECT_EQ_AT(f.end == an_end(), true, at);
         }},
        {"COMMIT", [](std::string& s) { write_commit(s); },
         [](const Frame& f, const std::string& at) { EXPECT_EQ_AT(int(f.type), int(Type::Commit), at); }},
        {"CONFIRM", [](std::string& s) { write_confirm(s, 9999); },
         [](const Frame& f, const std::string& at) {
             EXPECT_EQ_AT(int(f.type), int(Type::Confirm), at);
             EXPECT_EQ_AT(f.count, 9999u, at);
             EXPECT_EQ_AT(f.takes_fd(), false, at);
         }},
        {"REFUSE", [](std::string& s) { write_refuse(s, "format 2 expected"); },
         [](const Frame& f, const std::string& at) {
             EXPECT_EQ_AT(int(f.type), int(Type::Refuse), at);
             EXPECT_EQ_AT(f.reason, std::string("format 2 expected"), at);
         }},
    };
}

void test_each_frame_whole_and_cut() {
    for (const Written& w : frames()) {
        std::string bytes;
        w.write(bytes);
        Frame f;
        Result r = parse(bytes, f);
        EXPECT_EQ_AT(int(r.status), int(Parse::Complete), w.name);
        EXPECT_EQ_AT(r.consumed, bytes.size(), w.name);
        w.check(f, w.name);
        // Every strict prefix is Incomplete and consumes nothing.
        for (size_t cut = 0; cut < bytes.size(); cut++) {
            Frame g;
            Result p = parse(std::string_view(bytes).substr(0, cut), g);
            EXPECT_EQ_AT(int(p.status), int(Parse::Incomplete), std::string(w.name) + " cut at " + std::to_string(cut));
            EXPECT_EQ_AT(p.consumed, size_t(0), w.name);
        }
    }
}

void test_frames_back_to_back() {
    // The way a stream arrives: all of them in one buffer, read one by one.
    std::string stream;
    for (const Written& w : frames()) w.write(stream);
    std::string_view rest = stream;
    for (const Written& w : frames()) {
        Frame f;
        Result r = parse(rest, f);
        EXPECT_EQ_AT(int(r.status), int(Parse::Complete), w.name);
        w.check(f, w.name);
        rest.remove_prefix(r.consumed);
    }
    EXPECT_EQ(rest.size(), size_t(0));
}

void expect_error(const std::string& bytes, const char* why, const std::string& part) {
    Frame f;
    Result r = parse(bytes, f);
    EXPECT_EQ_AT(int(r.status), int(Parse::Error), why);
    EXPECT_EQ_AT(std::string(r.error).find(part) != std::string::npos, true, std::string(why) + ": " + r.error);
}

std::string with_length(std::string frame, uint32_t length) {
    for (size_t i = 0; i < 4; i++) frame[i] = char(length >> (8 * (3 - i)));
    return frame;
}

void test_what_is_refused() {
    std::string hello;
    write_hello(hello, 1);
    std::string wrong_magic = hello;
    wrong_magic[5] = 'X';
    expect_error(wrong_magic, "wrong magic", "not a hand-over stream");

    std::string confirm;
    write_confirm(confirm, 1);
    expect_error(with_length(confirm, 1 + 2), "a CONFIRM too short", "do not fit");
    std::string longer = with_length(confirm + "xx", 1 + 4 + 2);
    expect_error(longer, "a CONFIRM with bytes left over", "do not fit");

    expect_error(std::string("\0\0\0\0", 4) + "\x01", "length 0", "empty");
    expect_error(std::string("\0\0\0\x01\x63", 5), "unknown type", "unknown");
    // Judged from the header alone: the limit is passed before any of it came.
    Frame f;
    Result r = parse(std::string("\x7f\xff\xff\xff\x03", 5), f, 1 << 20);
    EXPECT_EQ(int(r.status), int(Parse::Error));

    // A count of events, in-flight entries or tokens that the frame cannot
    // hold is refused before anything is reserved for it.
    ClientState c = a_client();
    c.waiting.clear();
    std::string client;
    write_client(client, c);
    std::string lying = client;
    lying[lying.size() - 1] = '\x7f';  // waiting: 127 events in no bytes
    expect_error(lying, "waiting count", "do not fit");
    LinkState l = a_link();
    l.in_flight.clear();
    l.input.clear();
    l.output.clear();
    std::string link;
    write_link(link, l);
    // in_flight count: after slot, state, pid, generation, version, tokens.
    size_t at = 5 + 2 + 1 + 4 + 4 + 4 + l.version.size() + 2 + 4 * l.tokens.size();
    link[at] = '\x10';
    expect_error(link, "in-flight count", "do not fit");
    End e = an_end();
    e.broadcasts.resize(1);
    std::string end;
    write_end(end, e);
    end[5 + 8 + 4 + 4 + 3] = '\x02';  // broadcasts: 2 entries in the bytes of 1
    expect_error(end, "broadcast count", "do not fit");
    l = a_link();
    l.tokens.assign(kMaxTokens + 1, 1);
    link.clear();
    write_link(link, l);
    expect_error(link, "too many tokens", "do not fit");
}

void test_a_version_it_does_not_read() {
    // The reader returns the version; the worker refuses one it does not
    // write (worker/handover.cpp). Here: the field comes back as written.
    std::string hello;
    write_hello(hello, 65535);
    Frame f;
    Result r = parse(hello, f);
    EXPECT_EQ(int(r.status), int(Parse::Complete));
    EXPECT_EQ(f.version, uint16_t(65535));
}

}  // namespace

int main() {
    test_each_frame_whole_and_cut();
    test_frames_back_to_back();
    test_what_is_refused();
    test_a_version_it_does_not_read();
    return check::summary("handover");
}
