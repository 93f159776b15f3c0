// fuzz_websocket: the input is a stream of WebSocket frames. Each is read
// with parse_frame_header() and parse_frame() under several FrameRules (a
// server's, a client's, tiny limits, reserved bits allowed, the limit
// following the assembler's room()), unmasked whole and in pieces, and fed to
// a MessageAssembler, whose every answer is compared with a small model of
// RFC 6455 written out below. The stream stops at the first frame that is
// not whole.
//
// Invariants (websocket.h, websocket_message.h):
//   - frames: parse_frame() agrees with parse_frame_header() (the same
//     error, the same header); a Complete header is 2 + 0/2/8 + 0/4 bytes
//     within the input, obeys the rules (mask, reserved bits, payload limit,
//     control frames whole and at most 125 bytes); a Complete frame consumes
//     header + payload within the input; every strict prefix of it is
//     Incomplete; the same bytes alone parse the same; an Error stays the
//     same Error with bytes appended; write_frame_header() of its fields
//     parses back to them;
//   - unmasking in pieces (offsets) equals unmasking whole, and unmasking
//     twice gives the bytes back;
//   - the assembler answers what the model does: the same kind, code and
//     payload; a message is never over its limit; a whole-frame message,
//     Ping, Pong and Close reason point into the frame's payload; after a
//     Close or an Error everything is an Error 1002.
#include <algorithm>
#include <string>
#include <vector>

#include "fuzz.h"
#include "protocol/websocket.h"
#include "protocol/websocket_message.h"
#include "utf8_reference.h"

using namespace smooth::ws;
using fuzz::inside;
using fuzz::require;

namespace {

struct Setup {
    FrameRules rules;
    size_t max_message;
    bool follow_room;  // rules.max_payload = assembler.room(), as a connection may do
};

const Setup kSetups[] = {
    {{.max_payload = 1 << 20, .require_mask = true, .allowed_rsv = 0}, 1 << 20, false},  // a server
    {{.max_payload = 1 << 20, .require_mask = false, .allowed_rsv = 0}, 1 << 20, false}, // a client
    {{.max_payload = 20, .require_mask = true, .allowed_rsv = 0}, 40, true},             // small, following room()
    {{.max_payload = 0, .require_mask = false, .allowed_rsv = 7}, 8, false},             // reserved bits allowed
};

bool same_frame(const Frame& a, const Frame& b) {
    return a.fin == b.fin && a.rsv == b.rsv && a.opcode == b.opcode && a.masked == b.masked &&
           std::equal(a.mask, a.mask + kMaskBytes, b.mask) && a.payload_offset == b.payload_offset &&
           a.payload_length == b.payload_length;
}

void check_header(std::string_view in, const FrameRules& rules, const FrameResult& h) {
    if (h.status != FrameParse::Complete) return;
    const Frame& f = h.frame;
    const size_t length_bytes = f.payload_offset - 2 - (f.masked ? kMaskBytes : 0);
    require(length_bytes == 0 || length_bytes == 2 || length_bytes == 8, "a header is 2 + 0/2/8 + 0/4 bytes");
    require(h.consumed == f.payload_offset && h.consumed <= in.size(), "a header consumes itself, within the input");
    require(!rules.require_mask || f.masked, "a required mask is there");
    require((f.rsv & ~rules.allowed_rsv) == 0, "no reserved bit beyond those allowed");
    if (is_control(f.opcode))
        require(f.fin && f.payload_length <= kMaxControlPayload, "a control frame is whole and at most 125 bytes");
    else
        require(f.payload_length <= rules.max_payload, "a data frame's payload is within the limit");
}

void check_frame(std::string_view in, const FrameRules& rules) {
    const FrameResult h = parse_frame_header(in, rules);
    const FrameResult f = parse_frame(in, rules);
    check_header(in, rules, h);
    if (h.status == FrameParse::Error) {
        require(f.status == FrameParse::Error && f.close_code == h.close_code,
                "parse_frame() fails as parse_frame_header() does");
        require(h.close_code == kCloseProtocolError || h.close_code == kCloseMessageTooBig, "an Error is 1002 or 1009");
        std::string more(in);
        more.append(16, '\x81');
        require(parse_frame(more, rules).close_code == h.close_code, "an Error stays the same with bytes appended");
        return;
    }
    if (h.status == FrameParse::Incomplete) {
        require(f.status == FrameParse::Incomplete, "no frame without its header");
        return;
    }
    const Frame& fr = h.frame;
    const bool whole = in.size() - fr.payload_offset >= fr.payload_length;
    require(f.status == (whole ? FrameParse::Complete : FrameParse::Incomplete),
            "a frame is Complete exactly when its payload is in");
    if (!whole) return;
    require(same_frame(f.frame, fr), "parse_frame() reads the header parse_frame_header() does");
    require(f.consumed == fr.payload_offset + fr.payload_length && f.consumed <= in.size(),
            "a frame consumes header and payload, within the input");

    const fuzz::Exact copy(in.substr(0, f.consumed));
    const FrameResult again = parse_frame(copy.view(), rules);
    require(again.status == FrameParse::Complete && again.consumed == f.consumed && same_frame(again.frame, fr),
            "the consumed bytes alone parse the same frame");
    for (size_t k : fuzz::prefixes_of(in, f.consumed)) {
        const fuzz::Exact prefix(in.substr(0, k));
        require(parse_frame(prefix.view(), rules).status == FrameParse::Incomplete,
                "every strict prefix of a Complete frame is Incomplete");
    }

    // What a server writes, a reader with no mask required reads back.
    char header[kMaxServerHeader];
    const size_t n = write_frame_header(fr.opcode, fr.fin, fr.payload_length, header);
    const FrameResult back = parse_frame_header(std::string_view(header, n), {.max_payload = SIZE_MAX, .require_mask = false});
    require(back.status == FrameParse::Complete && back.frame.opcode == fr.opcode && back.frame.fin == fr.fin &&
                back.frame.payload_length == fr.payload_length && back.consumed == n,
            "write_frame_header() parses back to the same opcode, FIN and length");
}

// The payload unmasked whole, checked against unmasking it in pieces.
std::string unmasked(std::string_view masked, const Frame& f) {
    std::string whole(masked);
    if (!f.masked) return whole;
    unmask(whole.data(), whole.size(), f.mask, 0);
    std::string pieces(masked);
    size_t from = 0;
    std::vector<size_t> cuts = fuzz::cuts_from(masked);
    cuts.push_back(masked.size());
    for (size_t to : cuts) {
        unmask(pieces.data() + from, to - from, f.mask, from);
        from = to;
    }
    require(pieces == whole, "unmasking in pieces equals unmasking whole");
    std::string twice = whole;
    unmask(twice.data(), twice.size(), f.mask, 0);
    require(twice == masked, "unmasking twice gives the bytes back");
    return whole;
}

// RFC 6455 for one connection's frames, written plainly: what the assembler
// should answer to each.
class Model {
public:
    explicit Model(size_t max_message) : max_(max_message) {}

    Event feed(Opcode op, bool fin, std::string_view payload) {
        if (state_ == State::Closed) return fail(kCloseProtocolError);
        if (is_control(op)) {
            if (op == Opcode::Ping) return event(Event::Kind::Ping, payload);
            if (op == Opcode::Pong) return event(Event::Kind::Pong, payload);
            return close(payload);
        }
        if (op == Opcode::Continuation && state_ == State::Idle) return fail(kCloseProtocolError);
        if (op != Opcode::Continuation && state_ != State::Idle) return fail(kCloseProtocolError);
        if (op != Opcode::Continuation) {
            state_ = op == Opcode::Text ? State::InText : State::InBinary;
            message_.clear();
        }
        if (message_.size() + payload.size() > max_) return fail(kCloseMessageTooBig);
        message_.append(payload);
        if (state_ == State::InText) {
            const auto s = fuzz::reference_utf8(message_);
            if (s == smooth::utf8::Status::Invalid || (fin && s == smooth::utf8::Status::Incomplete))
                return fail(kCloseInvalidPayload);
        }
        if (!fin) return {};
        const Event::Kind kind = state_ == State::InText ? Event::Kind::Text : Event::Kind::Binary;
        state_ = State::Idle;
        return event(kind, message_);
    }

private:
    enum class State { Idle, InText, InBinary, Closed };

    // §7.4.1, §7.4.2 and the IANA registry: the codes a Close may carry.
    static bool may_be_received(unsigned code) {
        return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
    }

    Event close(std::string_view payload) {
        if (payload.empty()) {
            state_ = State::Closed;
            return event(Event::Kind::Close, {}, kCloseNoStatus);
        }
        if (payload.size() == 1) return fail(kCloseProtocolError);
        const unsigned code = unsigned(static_cast<uint8_t>(payload[0])) << 8 | static_cast<uint8_t>(payload[1]);
        if (!may_be_received(code)) return fail(kCloseProtocolError);
        if (fuzz::reference_utf8(payload.substr(2)) != smooth::utf8::Status::Valid) return fail(kCloseInvalidPayload);
        state_ = State::Closed;
        return event(Event::Kind::Close, payload.substr(2), uint16_t(code));
    }
    Event fail(uint16_t code) {
        state_ = State::Closed;
        return event(Event::Kind::Error, {}, code);
    }
    static Event event(Event::Kind kind, std::string_view payload, uint16_t code = 0) {
        Event e;
        e.kind = kind;
        e.payload = payload;
        e.code = code;
        return e;
    }

    size_t max_;
    State state_ = State::Idle;
    std::string message_;
};

void check_stream(std::string_view in, const Setup& setup) {
    MessageAssembler assembler(setup.max_message);
    Model model(setup.max_message);
    while (!in.empty()) {
        FrameRules rules = setup.rules;
        if (setup.follow_room) rules.max_payload = assembler.room();
        require(assembler.room() <= setup.max_message, "room() is within the message limit");
        check_frame(in, rules);
        const FrameResult r = parse_frame(in, rules);
        if (r.status != FrameParse::Complete) return;

        const Frame& f = r.frame;
        const std::string payload = unmasked(in.substr(f.payload_offset, f.payload_length), f);
        const bool whole_message = !assembler.in_message() && f.fin;
        const Event got = assembler.feed(f.opcode, f.fin, payload);
        const Event want = model.feed(f.opcode, f.fin, payload);
        require(got.kind == want.kind && got.code == want.code && got.payload == want.payload,
                "the assembler answers what RFC 6455 says");
        require(got.kind != Event::Kind::Error || got.error[0] != '\0', "an Error gives a reason");
        if (got.kind == Event::Kind::Text || got.kind == Event::Kind::Binary)
            require(got.payload.size() <= setup.max_message, "a message is within its limit");
        if (got.kind == Event::Kind::Ping || got.kind == Event::Kind::Pong || got.kind == Event::Kind::Close ||
            (whole_message && (got.kind == Event::Kind::Text || got.kind == Event::Kind::Binary)))
            require(inside(got.payload, payload), "a one-frame message, Ping, Pong or Close reason points into the frame");
        require(assembler.closed() == (got.kind == Event::Kind::Close || got.kind == Event::Kind::Error),
                "closed() exactly after a Close or an Error");
        if (assembler.closed()) {
            const Event after = assembler.feed(Opcode::Ping, true, {});
            require(after.kind == Event::Kind::Error && after.code == kCloseProtocolError,
                    "after a Close or an Error, every frame is an Error 1002");
            return;
        }
        in.remove_prefix(r.consumed);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view in(reinterpret_cast<const char*>(data), size);
    for (const Setup& setup : kSetups) check_stream(in, setup);
    return 0;
}
