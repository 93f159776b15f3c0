// Unit tests for MessageAssembler: tables of frame sequences and the event
// each frame must give (fragmentation, control frames between fragments, the
// §5.4 errors, size limits, UTF-8 across fragments, close codes); a
// character of every length split at every byte between fragments; where
// the payload lives and how big the buffer grows; and a client's byte stream
// read the way a connection would, arriving in pieces of every size.
#include "check.h"
#include "protocol/websocket.h"
#include "protocol/websocket_message.h"

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

using namespace smooth::ws;
using namespace std::string_literals;  // "..."s keeps an embedded NUL
using Kind = Event::Kind;

namespace {

constexpr size_t kLimit = 1 << 20;

struct In {
    Opcode opcode;
    bool fin;
    std::string payload;
};

struct Out {
    Kind kind;
    std::string payload = "";
    uint16_t code = 0;
};

struct Sequence {
    const char* name;
    size_t max_message_bytes;
    std::vector<In> frames;
    std::vector<Out> events;  // one per frame
};

const In kHel = {Opcode::Text, false, "Hel"};
const In kLo = {Opcode::Continuation, true, "lo"};

const std::vector<Sequence> kSequences = {
    // Whole messages and fragments.
    {"text in one frame", kLimit, {{Opcode::Text, true, "Hello"}}, {{Kind::Text, "Hello"}}},
    {"binary in one frame", kLimit, {{Opcode::Binary, true, "\0\xff\x80"s}}, {{Kind::Binary, "\0\xff\x80"s}}},
    {"empty text", kLimit, {{Opcode::Text, true, ""}}, {{Kind::Text, ""}}},
    {"RFC 6455 §5.7 Hel + lo", kLimit, {kHel, kLo}, {{Kind::None}, {Kind::Text, "Hello"}}},
    {"binary in three", kLimit,
     {{Opcode::Binary, false, "ab"}, {Opcode::Continuation, false, "\0"s}, {Opcode::Continuation, true, "c"}},
     {{Kind::None}, {Kind::None}, {Kind::Binary, "ab\0c"s}}},
    {"empty fragments", kLimit,
     {{Opcode::Text, false, ""}, {Opcode::Continuation, false, ""}, {Opcode::Continuation, true, ""}},
     {{Kind::None}, {Kind::None}, {Kind::Text, ""}}},
    {"messages one after another", kLimit,
     {{Opcode::Binary, false, "ab"}, {Opcode::Continuation, true, "c"}, {Opcode::Text, true, "x"}, kHel, kLo},
     {{Kind::None}, {Kind::Binary, "abc"}, {Kind::Text, "x"}, {Kind::None}, {Kind::Text, "Hello"}}},
    // Control frames, also between fragments (§5.4).
    {"ping", kLimit, {{Opcode::Ping, true, "are you there"}}, {{Kind::Ping, "are you there"}}},
    {"pong", kLimit, {{Opcode::Pong, true, ""}}, {{Kind::Pong, ""}}},
    {"ping inside a fragmented message", kLimit, {kHel, {Opcode::Ping, true, "p"}, kLo},
     {{Kind::None}, {Kind::Ping, "p"}, {Kind::Text, "Hello"}}},
    {"pings and pongs between every fragment", kLimit,
     {{Opcode::Binary, false, "a"}, {Opcode::Pong, true, "1"}, {Opcode::Continuation, false, "b"},
      {Opcode::Ping, true, "2"}, {Opcode::Ping, true, ""}, {Opcode::Continuation, true, "c"}},
     {{Kind::None}, {Kind::Pong, "1"}, {Kind::None}, {Kind::Ping, "2"}, {Kind::Ping, ""}, {Kind::Binary, "abc"}}},
    {"close inside a fragmented message", kLimit, {kHel, {Opcode::Close, true, "\x03\xe8" "bye"}},
     {{Kind::None}, {Kind::Close, "bye", kCloseNormal}}},
    {"close without a code", kLimit, {{Opcode::Close, true, ""}}, {{Kind::Close, "", kCloseNoStatus}}},
    // §5.4: messages do not interleave.
    {"continuation with nothing open", kLimit, {kLo}, {{Kind::Error, "", kCloseProtocolError}}},
    {"continuation after a finished message", kLimit, {{Opcode::Text, true, "a"}, kLo},
     {{Kind::Text, "a"}, {Kind::Error, "", kCloseProtocolError}}},
    {"text inside a fragmented message", kLimit, {kHel, {Opcode::Text, true, "x"}},
     {{Kind::None}, {Kind::Error, "", kCloseProtocolError}}},
    {"binary inside a fragmented message", kLimit, {kHel, {Opcode::Binary, false, "x"}},
     {{Kind::None}, {Kind::Error, "", kCloseProtocolError}}},
    // Nothing after a close or an error.
    {"frame after close", kLimit, {{Opcode::Close, true, ""}, {Opcode::Text, true, "a"}},
     {{Kind::Close, "", kCloseNoStatus}, {Kind::Error, "", kCloseProtocolError}}},
    {"ping after an error", kLimit, {kLo, {Opcode::Ping, true, ""}},
     {{Kind::Error, "", kCloseProtocolError}, {Kind::Error, "", kCloseProtocolError}}},
    // Control frames that parse_frame() would have refused.
    {"ping without FIN", kLimit, {{Opcode::Ping, false, ""}}, {{Kind::Error, "", kCloseProtocolError}}},
    {"ping of 126 bytes", kLimit, {{Opcode::Ping, true, std::string(126, 'p')}}, {{Kind::Error, "", kCloseProtocolError}}},
    // The size limit counts the whole message, not control frames.
    {"exactly the limit", 5, {{Opcode::Text, true, "Hello"}}, {{Kind::Text, "Hello"}}},
    {"one over, one frame", 5, {{Opcode::Binary, true, "Hello!"}}, {{Kind::Error, "", kCloseMessageTooBig}}},
    {"exactly the limit, fragmented", 5, {kHel, kLo}, {{Kind::None}, {Kind::Text, "Hello"}}},
    {"one over, fragmented", 5, {kHel, {Opcode::Continuation, true, "lo!"}},
     {{Kind::None}, {Kind::Error, "", kCloseMessageTooBig}}},
    {"over before the last fragment", 5, {kHel, {Opcode::Continuation, false, "lo!"}},
     {{Kind::None}, {Kind::Error, "", kCloseMessageTooBig}}},
    {"control frames are not counted", 1, {{Opcode::Ping, true, "Hello"}, {Opcode::Close, true, "\x03\xe8" "bye"}},
     {{Kind::Ping, "Hello"}, {Kind::Close, "bye", kCloseNormal}}},
    // §8.1: text is UTF-8, checked as it comes.
    {"invalid UTF-8, one frame", kLimit, {{Opcode::Text, true, "a\xff"}}, {{Kind::Error, "", kCloseInvalidPayload}}},
    {"overlong", kLimit, {{Opcode::Text, true, "\xc0\xaf"}}, {{Kind::Error, "", kCloseInvalidPayload}}},
    {"surrogate", kLimit, {{Opcode::Text, true, "\xed\xa0\x80"}}, {{Kind::Error, "", kCloseInvalidPayload}}},
    {"above U+10FFFF", kLimit, {{Opcode::Text, true, "\xf4\x90\x80\x80"}}, {{Kind::Error, "", kCloseInvalidPayload}}},
    {"cut off at the end, one frame", kLimit, {{Opcode::Text, true, "\xe2\x82"}}, {{Kind::Error, "", kCloseInvalidPayload}}},
    {"cut off at the end, fragmented", kLimit, {{Opcode::Text, false, "a"}, {Opcode::Continuation, true, "\xe2\x82"}},
     {{Kind::None}, {Kind::Error, "", kCloseInvalidPayload}}},
    {"invalid in the first fragment: at once", kLimit, {{Opcode::Text, false, "\xed\xa0\x80"}, kLo},
     {{Kind::Error, "", kCloseInvalidPayload}, {Kind::Error, "", kCloseProtocolError}}},
    {"invalid across fragments", kLimit, {{Opcode::Text, false, "\xf0"}, {Opcode::Continuation, true, "\x8f\xbf\xbf"}},
     {{Kind::None}, {Kind::Error, "", kCloseInvalidPayload}}},
    {"binary is not checked", kLimit, {{Opcode::Binary, false, "\xff"}, {Opcode::Continuation, true, "\xe2"}},
     {{Kind::None}, {Kind::Binary, "\xff\xe2"}}},
    {"a new text message starts a new check", kLimit,
     {{Opcode::Binary, true, "\xe2"}, {Opcode::Text, true, "ok"}, {Opcode::Text, false, "\xc3"}, {Opcode::Continuation, true, "\xa9"}},
     {{Kind::Binary, "\xe2"}, {Kind::Text, "ok"}, {Kind::None}, {Kind::Text, "\xc3\xa9"}}},
};

// Feeds the frames in order and compares each event with the table.
void run(const std::string& name, MessageAssembler& a, const std::vector<In>& frames, const std::vector<Out>& events) {
    for (size_t i = 0; i < frames.size() && i < events.size(); ++i) {
        const std::string where = name + ", frame " + std::to_string(i);
        const Event e = a.feed(frames[i].opcode, frames[i].fin, frames[i].payload);
        EXPECT_EQ_AT(e.kind, events[i].kind, where);
        EXPECT_EQ_AT(e.payload, events[i].payload, where);
        EXPECT_EQ_AT(e.code, events[i].code, where);
        EXPECT_EQ_AT(std::string_view(e.error).empty(), e.kind != Kind::Error, where);  // an error says why
    }
}

void test_sequences() {
    for (const Sequence& s : kSequences) {
        EXPECT_EQ_AT(s.frames.size(), s.events.size(), s.name);  // the table itself
        MessageAssembler a(s.max_message_bytes);
        run(s.name, a, s.frames, s.events);
    }
}

// A character of each length, split between two fragments at every byte,
// and sent one byte per fragment.
void test_utf8_split_across_fragments() {
    const std::string texts[] = {"a\xc3\xa9z", "a\xe2\x82\xacz", "a\xf0\x9f\x98\x80z", "\xf4\x8f\xbf\xbf"};
    for (const std::string& text : texts) {
        for (size_t k = 0; k <= text.size(); ++k) {
            MessageAssembler a(kLimit);
            run("split at " + std::to_string(k), a,
                {{Opcode::Text, false, text.substr(0, k)}, {Opcode::Continuation, true, text.substr(k)}},
                {{Kind::None}, {Kind::Text, text}});
        }
        MessageAssembler a(kLimit);
        std::vector<In> frames = {{Opcode::Text, false, ""}};
        std::vector<Out> events = {{Kind::None}};
        for (char c : text) {
            frames.push_back({Opcode::Continuation, false, std::string(1, c)});
            events.push_back({Kind::None});
        }
        frames.push_back({Opcode::Continuation, true, ""});
        events.push_back({Kind::Text, text});
        run("byte by byte", a, frames, events);
    }
}

// §7.4: what a peer may put in a Close frame.
struct CloseRow {
    uint16_t code;
    bool allowed;
};

const std::vector<CloseRow> kCloseCodes = {
    {0, false},    {999, false},  {1000, true},  {1001, true},  {1002, true},  {1003, true},  {1004, false},
    {1005, false}, {1006, false}, {1007, true},  {1008, true},  {1009, true},  {1010, true},  {1011, true},
    {1012, true},  {1013, true},  {1014, true},  {1015, false}, {1016, false}, {2000, false}, {2999, false},
    {3000, true},  {3999, true},  {4000, true},  {4999, true},  {5000, false}, {65535, false},
};

void test_close_frames() {
    for (const CloseRow& row : kCloseCodes) {
        const std::string payload = {char(row.code >> 8), char(row.code & 0xff), 'o', 'k'};
        MessageAssembler a(kLimit);
        const Event e = a.feed(Opcode::Close, true, payload);
        const std::string where = "code " + std::to_string(row.code);
        EXPECT_EQ_AT(e.kind, row.allowed ? Kind::Close : Kind::Error, where);
        EXPECT_EQ_AT(e.code, row.allowed ? row.code : kCloseProtocolError, where);
        EXPECT_EQ_AT(e.payload, row.allowed ? "ok" : "", where);
        EXPECT_EQ_AT(a.closed(), true, where);
    }
    struct Payload {
        const char* name;
        std::string payload;
        Kind kind;
        uint16_t code;
    };
    const Payload payloads[] = {
        {"one byte", "\x03", Kind::Error, kCloseProtocolError},
        {"UTF-8 reason", "\x03\xe8" "caf\xc3\xa9", Kind::Close, kCloseNormal},
        {"reason not UTF-8", "\x03\xe8\xff", Kind::Error, kCloseInvalidPayload},
        {"reason cut off", "\x03\xe8" "caf\xc3", Kind::Error, kCloseInvalidPayload},
    };
    for (const Payload& p : payloads) {
        MessageAssembler a(kLimit);
        const Event e = a.feed(Opcode::Close, true, p.payload);
        EXPECT_EQ_AT(e.kind, p.kind, p.name);
        EXPECT_EQ_AT(e.code, p.code, p.name);
    }
}

// Where an event's payload lives, and how the buffer grows and goes.
void test_payload_and_buffer() {
    MessageAssembler a(kLimit);
    // One frame: the caller's bytes, not a copy.
    const std::string hello = "Hello";
    Event e = a.feed(Opcode::Text, true, hello);
    EXPECT(e.payload.data() == hello.data());
    EXPECT_EQ(a.buffer_capacity(), std::string().capacity());  // nothing grown for it

    // Fragments: the assembler's buffer.
    const std::string hel = "Hel", lo = "lo";
    EXPECT_EQ(a.room(), kLimit);
    a.feed(Opcode::Text, false, hel);
    EXPECT_EQ(a.in_message(), true);
    EXPECT_EQ(a.room(), kLimit - 3);
    e = a.feed(Opcode::Continuation, true, lo);
    EXPECT_EQ(e.payload, "Hello");
    EXPECT(e.payload.data() != hel.data() && e.payload.data() != lo.data());
    EXPECT_EQ(a.in_message(), false);
    EXPECT_EQ(a.room(), kLimit);

    // Grown a little at a time, the buffer never holds more than the limit.
    const size_t limit = 100000;
    MessageAssembler b(limit);
    const std::string piece(999, 'x');
    b.feed(Opcode::Binary, false, "");
    size_t total = 0, most = 0;
    while (total + piece.size() <= limit) {
        b.feed(Opcode::Continuation, false, piece);
        total += piece.size();
        most = std::max(most, b.buffer_capacity());
    }
    EXPECT_EQ(most <= limit, true);
    e = b.feed(Opcode::Continuation, true, std::string(limit - total, 'y'));
    EXPECT_EQ(e.kind, Kind::Binary);
    EXPECT_EQ(e.payload.size(), limit);
    // Past kKeptCapacity, it is freed with the next frame.
    b.feed(Opcode::Ping, true, "");
    EXPECT_EQ(b.buffer_capacity() <= MessageAssembler::kKeptCapacity, true);
}

// ---- a client's byte stream, read as a connection reads it ------------------

const uint8_t kKey[kMaskBytes] = {0x37, 0xfa, 0x21, 0x3d};

std::string client_frame(Opcode opcode, bool fin, std::string payload) {
    char header[kMaxServerHeader];
    const size_t n = write_frame_header(opcode, fin, payload.size(), header);
    header[1] = char(header[1] | 0x80);  // the MASK bit: a client masks every frame (§5.3)
    unmask(payload.data(), payload.size(), kKey, 0);
    return std::string(header, n) + std::string(reinterpret_cast<const char*>(kKey), kMaskBytes) + payload;
}

// Everything a peer sent, arriving in pieces of `chunk` bytes: cut frames,
// unmask them, hand them to the assembler, and write down what it says.
std::vector<std::string> read_stream(const std::string& stream, size_t chunk) {
    std::vector<std::string> seen;
    std::string buffer;
    MessageAssembler assembler(kLimit);
    for (size_t sent = 0; sent < stream.size(); sent += chunk) {
        buffer += stream.substr(sent, chunk);
        for (;;) {
            FrameRules rules;
            rules.max_payload = assembler.room();
            const FrameResult r = parse_frame(buffer, rules);
            if (r.status == FrameParse::Incomplete) break;
            if (r.status == FrameParse::Error) return seen;
            char* payload = buffer.data() + r.frame.payload_offset;
            unmask(payload, r.frame.payload_length, r.frame.mask, 0);
            const Event e = assembler.feed(r.frame.opcode, r.frame.fin, std::string_view(payload, r.frame.payload_length));
            if (e.kind != Kind::None) seen.push_back(std::to_string(int(e.kind)) + ":" + std::string(e.payload));
            buffer.erase(0, r.consumed);
        }
    }
    return seen;
}

// With room() as the frame limit, a message growing past its limit is
// refused from the frame's header, before its payload has arrived.
void test_room_as_frame_limit() {
    MessageAssembler a(5);
    a.feed(Opcode::Text, false, "Hel");
    FrameRules rules;
    rules.max_payload = a.room();
    const size_t header = 2 + kMaskBytes;
    FrameResult r = parse_frame_header(client_frame(Opcode::Continuation, true, "lo!").substr(0, header), rules);
    EXPECT_EQ(r.status, FrameParse::Error);
    EXPECT_EQ(r.close_code, kCloseMessageTooBig);
    r = parse_frame_header(client_frame(Opcode::Continuation, true, "lo").substr(0, header), rules);
    EXPECT_EQ(r.status, FrameParse::Complete);
}

void test_stream_in_pieces() {
    const std::string stream = client_frame(Opcode::Text, false, "Hel") + client_frame(Opcode::Ping, true, "ping") +
                               client_frame(Opcode::Continuation, true, "lo \xe2\x82\xac") +
                               client_frame(Opcode::Binary, true, std::string(300, 'b')) +
                               client_frame(Opcode::Close, true, "\x03\xe8" "done");
    const std::vector<std::string> want = {
        std::to_string(int(Kind::Ping)) + ":ping",
        std::to_string(int(Kind::Text)) + ":Hello \xe2\x82\xac",
        std::to_string(int(Kind::Binary)) + ":" + std::string(300, 'b'),
        std::to_string(int(Kind::Close)) + ":done",
    };
    for (size_t chunk = 1; chunk <= stream.size(); ++chunk) {
        const std::vector<std::string> got = read_stream(stream, chunk);
        EXPECT_EQ_AT(got.size(), want.size(), "pieces of " + std::to_string(chunk));
        for (size_t i = 0; i < got.size() && i < want.size(); ++i)
            EXPECT_EQ_AT(got[i], want[i], "pieces of " + std::to_string(chunk) + ", event " + std::to_string(i));
    }
}

// A message under way handed to another assembler (a connection handed
// over, worker/handover.h): partial() fed back as one frame without FIN puts
// the successor where the predecessor was, a character cut at the boundary
// and the size limit included.
void test_message_under_way_goes_on_elsewhere() {
    const std::string text = "caf\xc3\xa9 au lait";  // the 2-byte character is cut after its first byte
    for (size_t cut = 0; cut <= text.size(); ++cut) {
        const std::string at = "cut at " + std::to_string(cut);
        MessageAssembler before(kLimit);
        EXPECT_EQ_AT(before.partial_opcode() == Opcode::Continuation, true, at);  // idle: nothing under way
        EXPECT_EQ_AT(int(before.feed(Opcode::Text, false, text.substr(0, cut)).kind), int(Kind::None), at);
        EXPECT_EQ_AT(before.partial_opcode() == Opcode::Text, true, at);
        EXPECT_EQ_AT(std::string(before.partial()), text.substr(0, cut), at);
        MessageAssembler after(kLimit);
        EXPECT_EQ_AT(int(after.feed(before.partial_opcode(), false, before.partial()).kind), int(Kind::None), at);
        Event e = after.feed(Opcode::Continuation, true, text.substr(cut));
        EXPECT_EQ_AT(int(e.kind), int(Kind::Text), at);
        EXPECT_EQ_AT(std::string(e.payload), text, at);
    }
    // Bytes that are not UTF-8 so far fail at once in the successor too.
    MessageAssembler bad(kLimit);
    EXPECT_EQ(int(bad.feed(Opcode::Text, false, "\xff").kind), int(Kind::Error));
    // Binary keeps its kind; a successor with a smaller limit refuses it.
    MessageAssembler bin(kLimit);
    bin.feed(Opcode::Binary, false, std::string(100, '\0'));
    EXPECT_EQ(bin.partial_opcode() == Opcode::Binary, true);
    MessageAssembler small(50);
    EXPECT_EQ(int(small.feed(bin.partial_opcode(), false, bin.partial()).kind), int(Kind::Error));
}

}  // namespace

int main() {
    test_message_under_way_goes_on_elsewhere();
    test_sequences();
    test_utf8_split_across_fragments();
    test_close_frames();
    test_payload_and_buffer();
    test_room_as_frame_limit();
    test_stream_in_pieces();
    return check::summary("websocket_message");
}
