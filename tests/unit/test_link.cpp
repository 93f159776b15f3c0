// test_link: the gateway <-> business frames (protocol/link.h): every frame
// written and read back, cut at every split point; frames that lie about
// their length or carry an unknown type.
#include "protocol/link.h"

#include "check.h"

#include <functional>
#include <string>
#include <vector>

using namespace smooth;
using namespace smooth::link;

namespace {

constexpr size_t kMax = 1 << 16;

struct Written {
    const char* name;
    std::function<void(std::string&)> write;
    std::function<void(const Frame&, const std::string&)> check;
};

const uint64_t kClients[] = {0x0102030405060708ull, 42, 0xffffffffffffffffull};

std::vector<Written> frames() {
    return {
        {"HELLO", [](std::string& s) { write_hello(s, 0xdeadbeef); },
         [](const Frame& f, const std::string& at) {
             EXPECT_EQ_AT(int(f.type), int(Type::Hello), at);
             EXPECT_EQ_AT(f.token, 0xdeadbeefu, at);
         }},
        {"EVENT", [](std::string& s) { write_event(s, 7, 0x1122334455667788ull, 5, "hello, gateway"); },
         [](const Frame& f, const std::string& at) {
             EXPECT_EQ_AT(int(f.type), int(Type::Event), at);
             EXPECT_EQ_AT(f.seq, uint64_t(7), at);
             EXPECT_EQ_AT(f.client, 0x1122334455667788ull, at);
             EXPECT_EQ_AT(int(f.kind), 5, at);
             EXPECT_EQ_AT(f.payload, std::string_view("hello, gateway"), at);
         }},
        {"EVENT connect, no payload", [](std::string& s) { write_event(s, 1, 9, kConnect, ""); },
         [](const Frame& f, const std::string& at) {
             EXPECT_EQ_AT(int(f.kind), int(kConnect), at);
             EXPECT_EQ_AT(f.payload.size(), size_t(0), at);
         }},
        {"DRAIN_ACK", [](std::string& s) { write_drain_ack(s); },
         [](const Frame& f, const std::string& at) { EXPECT_EQ_AT(int(f.type), int(Type::DrainAck), at); }},
        {"WELCOME", [](std::string& s) { write_welcome(s, 4242, 3, 4, 17, "chat 2"); },
         [](const Frame& f, const std::string& at) {
             EXPECT_EQ_AT(f.pid, 4242u, at);
             EXPECT_EQ_AT(int(f.slot), 3, at);
             EXPECT_EQ_AT(int(f.count), 4, at);
             EXPECT_EQ_AT(f.generation, 17u, at);
             EXPECT_EQ_AT(f.payload, std::string_view("chat 2"), at);
         }},
        {"DONE", [](std::string& s) { write_done(s, 0x8000000000000001ull); },
         [](const Frame& f, const std::string& at) { EXPECT_EQ_AT(f.seq, 0x8000000000000001ull, at); }},
        {"SEND", [](std::string& s) { write_send(s, 99, true, std::string("\0\1\2", 3)); },
         [](const Frame& f, const std::string& at) {
             EXPECT_EQ_AT(f.client, uint64_t(99), at);
             EXPECT_EQ_AT(f.binary, true, at);
             EXPECT_EQ_AT(f.payload, std::string_view("\0\1\2", 3), at);
         }},
        {"SEND_MANY", [](std::string& s) { write_send_many(s, kClients, 3, false, "to three"); },
         [](const Frame& f, const std::string& at) {
             EXPECT_EQ_AT(f.client_count(), size_t(3), at);
             for (size_t i = 0; i < 3 && i < f.client_count(); i++) EXPECT_EQ_AT(f.client_at(i), kClients[i], at);
             EXPECT_EQ_AT(f.binary, false, at);
             EXPECT_EQ_AT(f.payload, std::string_view("to three"), at);
         }},
        {"BROADCAST", [](std::string& s) { write_broadcast(s, false, "everyone"); },
         [](const Frame& f, const std::string& at) { EXPECT_EQ_AT(f.payload, std::string_view("everyone"), at); }},
        {"KICK", [](std::string& s) { write_kick(s, 5, 1013); },
         [](const Frame& f, const std::string& at) {
             EXPECT_EQ_AT(f.client, uint64_t(5), at);
             EXPECT_EQ_AT(int(f.code), 1013, at);
         }},
        {"DRAINING", [](std::string& s) { write_draining(s); },
         [](const Frame& f, const std::string& at) { EXPECT_EQ_AT(int(f.type), int(Type::Draining), at); }},
    };
}

void test_round_trip_at_every_split() {
    for (const Written& w : frames()) {
        std::string bytes;
        w.write(bytes);
        std::string two = bytes + bytes;  // two in a row: the first is consumed exactly
        for (size_t cut = 0; cut <= bytes.size(); cut++) {
            std::string at = std::string(w.name) + " cut at " + std::to_string(cut);
            Result r = parse_link_frame(std::string_view(bytes).substr(0, cut), kMax);
            if (cut < bytes.size()) {
                EXPECT_EQ_AT(int(r.status), int(Parse::Incomplete), at);
                continue;
            }
            EXPECT_EQ_AT(int(r.status), int(Parse::Complete), at);
            EXPECT_EQ_AT(r.consumed, bytes.size(), at);
            w.check(r.frame, at);
        }
        Result first = parse_link_frame(two, kMax);
        EXPECT_EQ_AT(first.consumed, bytes.size(), w.name);
        Result second = parse_link_frame(std::string_view(two).substr(first.consumed), kMax);
        EXPECT_EQ_AT(int(second.status), int(Parse::Complete), w.name);
    }
}

std::string raw(uint32_t length, uint8_t type, std::string fields) {
    std::string s;
    for (int i = 3; i >= 0; i--) s += char(length >> (8 * i));
    s += char(type);
    return s + fields;
}

void test_bad_frames() {
    struct Bad {
        const char* name;
        std::string bytes;
    };
    const Bad bad[] = {
        {"empty", raw(0, 0, "")},
        {"unknown type", raw(1, 99, "")},
        {"HELLO too short", raw(3, 1, "ab")},
        {"HELLO too long", raw(6, 1, "abcde")},
        {"DONE short", raw(5, 17, "abcd")},
        {"SEND_MANY count over the frame", raw(10, 19, std::string("\0\0\0\x09", 4) + "abcde")},
        {"DRAINING with bytes", raw(2, 22, "x")},
        {"over the limit", raw(1 << 20, 18, "")},  // refused from the length alone
    };
    for (const Bad& b : bad) {
        Result r = parse_link_frame(b.bytes, kMax);
        EXPECT_EQ_AT(int(r.status), int(Parse::Error), b.name);
        EXPECT_EQ_AT(std::string(r.error).empty(), false, b.name);
    }
}

}  // namespace

int main() {
    test_round_trip_at_every_split();
    test_bad_frames();
    return check::summary("link");
}
