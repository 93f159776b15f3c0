// handover: what an old gateway worker tells its successor when it hands its
// connections over (worker/handover.h has the whole story), as pure functions.
//
// The stream runs over a socketpair the master made (never a path anyone
// could connect to). Each frame is [ 4-byte big-endian length of the rest ]
// [ 1-byte type ][ fields ]; strings are a u32 length and their bytes.
//
//   old -> new
//     HELLO    magic:u32 version:u16        first, both ways: a successor that reads
//                                           another version is refused before anything moves
//     LINK     a link to a business worker, with its descriptor    (one fd, see below)
//     CLIENT   a client connection and what the gateway holds for it (one fd)
//     END      next_seq:u64 clients:u32 links:u32   nothing more will come;
//              broadcasts: n:u32 (business:u64 number:u64) × n
//                                           the last BROADCAST delivered, per business
//                                           worker (its pid and generation)
//     COMMIT                                 the successor owns them all from now on
//   new -> old
//     HELLO    magic:u32 version:u16
//     CONFIRM  count:u32                     this many LINK/CLIENT frames are installed
//     REFUSE   reason                        it cannot take them (then it closes)
//
// A LINK or CLIENT frame travels with exactly one descriptor (SCM_RIGHTS on
// the sendmsg of its first byte), except a CLIENT whose connection has
// closed already (conn_state kConnectionClosed): what moves of it is its
// events still owed to the business (its CLOSE last), and no descriptor.
// The receiver keeps the descriptors in the order they came, and each frame
// that takes_fd() takes the next one: however the kernel cuts the byte
// stream into reads, frames and descriptors pair up.
//
// The fields of a LINK:
//   slot:u16 state:u8 pid:u32 generation:u32 version:str
//   tokens: n:u16 token:u32 × n       the gateway tokens the business knows it by
//   in_flight: n:u32 (seq:u64 client:u64) × n
//   input:str output:str              bytes read and not handled, written and not sent
// and of a CLIENT:
//   client:u64 protocol:u8 peer_ip:u32 peer_port:u16 opened_ms:u64
//   bytes_in:u64 bytes_out:u64 conn_state:u8 flags:u8 deadline_ms:u32
//   ws_message_state:u8 ws_message:str input:str output:str log_request:str
//   in_flight_seq:u64 in_flight_link:u32
//   waiting: n:u32 (seq:u64 kind:u8 payload:str) × n
//
// No I/O here: parse() looks at the bytes received so far, the write_*
// functions append a whole frame to a string. tests/unit/test_handover.cpp
// and tests/fuzz/fuzz_handover.cpp hold them to that.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace smooth::handover {

inline constexpr uint32_t kMagic = 0x534d484f;  // "SMHO"
// The format a binary reads and writes is its handover_format()
// (core/build_id.h): a build with another one cannot take connections over
// from this one, and an upgrade to it is refused before anything moves.

enum class Type : uint8_t { Hello = 1, Link = 2, Client = 3, End = 4, Commit = 5, Confirm = 16, Refuse = 17 };

inline constexpr size_t kHeaderBytes = 5;  // length + type
// The largest frame: a client's unsent output and unread input are bounded
// (max_unsent_bytes, max_request_bytes and their slack) and so are its queued
// events (kHoldClientBytes and one message), but by settings: this is the
// sanity bound that a frame from a confused peer cannot pass.
inline constexpr size_t kMaxFrame = size_t(256) << 20;
inline constexpr size_t kMaxTokens = 255;

// Client flags.
inline constexpr uint8_t kCloseSent = 1;          // a WebSocket Close went out (the Closing state)
inline constexpr uint8_t kTooSlow = 2;            // closed for max_unsent_bytes: cut after the close wait
inline constexpr uint8_t kConnectTold = 4;        // the business heard CONNECT: it is owed a CLOSE
inline constexpr uint8_t kHeld = 8;               // its input is held (too far ahead of the business)
inline constexpr uint8_t kMessageTimed = 16;      // deadline_ms is message_timeout's
inline constexpr uint8_t kCloseAfterOutput = 32;  // closing: once its output is out (the Lingering state)
inline constexpr uint8_t kClientDone = 64;        // ...at once then: the client said it sends nothing more
inline constexpr uint8_t kPeerClosed = 128;       // the client's side is closed (its FIN was read)

// The conn_state of a client whose connection has closed while events of
// its (its CLOSE last) still wait for the business: Connection::State::Closed
// (connection.cpp holds the two to the same value). Its CLIENT frame comes
// without a descriptor.
inline constexpr uint8_t kConnectionClosed = 6;

inline constexpr uint32_t kNoDeadline = 0xffffffff;
inline constexpr uint32_t kNoLink = 0xffffffff;

struct Event {
    uint64_t seq = 0;
    uint8_t kind = 0;
    std::string payload;
    bool operator==(const Event&) const = default;
};

struct LinkState {
    uint16_t slot = 0;
    uint8_t state = 0;  // a GatewayLink::State
    uint32_t pid = 0;
    uint32_t generation = 0;
    std::string version;
    std::vector<uint32_t> tokens;
    std::vector<std::pair<uint64_t, uint64_t>> in_flight;  // seq, client
    std::string input;
    std::string output;
    bool operator==(const LinkState&) const = default;
};

struct ClientState {
    uint64_t client = 0;
    uint8_t protocol = 0;      // a config Protocol
    uint32_t peer_ip = 0;      // network byte order
    uint16_t peer_port = 0;
    uint64_t opened_ms = 0;    // wall clock
    uint64_t bytes_in = 0;
    uint64_t bytes_out = 0;
    uint8_t conn_state = 0;    // a Connection::State
    uint8_t flags = 0;
    uint32_t deadline_ms = kNoDeadline;  // what was left of its deadline
    uint8_t ws_message_state = 0;        // 0 none, 1 text, 2 binary: a fragmented message under way
    std::string ws_message;              // its fragments so far
    std::string input;
    std::string output;
    std::string log_request;             // its handshake's request line, for the access log (or empty)
    uint64_t in_flight_seq = 0;          // 0: none
    uint32_t in_flight_link = kNoLink;   // which LINK (in the order sent) carries it
    std::vector<Event> waiting;          // the in-flight one first, if any
    bool operator==(const ClientState&) const = default;
    bool has_connection() const { return conn_state != kConnectionClosed; }
};

struct End {
    uint64_t next_seq = 0;
    uint32_t clients = 0;
    uint32_t links = 0;
    // business worker (pid << 32 | generation) -> the number of the last of
    // its BROADCASTs delivered to these clients (link.h)
    std::vector<std::pair<uint64_t, uint64_t>> broadcasts;
    bool operator==(const End&) const = default;
};

struct Frame {
    Type type = Type::Hello;
    uint16_t version = 0;  // HELLO
    LinkState link;        // LINK
    ClientState client;    // CLIENT
    End end;               // END
    uint32_t count = 0;    // CONFIRM
    std::string reason;    // REFUSE
    // LINK and CLIENT take a descriptor (a CLIENT whose connection has closed does not).
    bool takes_fd() const { return type == Type::Link || (type == Type::Client && client.has_connection()); }
};

enum class Parse { Complete, Incomplete, Error };

struct Result {
    Parse status = Parse::Incomplete;
    size_t consumed = 0;     // Complete: the frame's bytes
    const char* error = "";  // Error: why
};

// One frame from the start of `in`. A length over max_frame is an Error as
// soon as it is read; so is a frame whose fields do not fill it exactly.
Result parse(std::string_view in, Frame& out, size_t max_frame = kMaxFrame);

void write_hello(std::string& out, uint16_t version);
void write_link(std::string& out, const LinkState& link);
void write_client(std::string& out, const ClientState& client);
void write_end(std::string& out, const End& end);
void write_commit(std::string& out);
void write_confirm(std::string& out, uint32_t count);
void write_refuse(std::string& out, std::string_view reason);

const char* type_name(Type t);

}  // namespace smooth::handover
