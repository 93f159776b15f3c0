// websocket_handshake: whether an HTTP request may become a WebSocket, and
// the server's answer (RFC 6455 §4.2).
//
// The request has already been parsed by http_parser; check_handshake() only
// reads it (no I/O, no allocation) and says one of:
//
//   101  accept: send format_handshake_response(), then speak frames;
//   426  the Sec-WebSocket-Version is missing or not 13: refuse, and the
//        refusal MUST carry "Sec-WebSocket-Version: 13" (§4.2.2, §4.4);
//   400  anything else malformed (§4.2.1), with a short reason.
//
// format_handshake_refusal() writes either refusal, the version header
// included when it is due.
//
// Not negotiated: subprotocols (Sec-WebSocket-Protocol) and extensions
// (Sec-WebSocket-Extensions, e.g. permessage-deflate) are ignored, so the 101
// names neither and every RSV bit stays reserved (FrameRules::allowed_rsv 0).
// Origin is not checked here: that is policy for the caller (§10.2).
#pragma once

#include <cstddef>
#include <string_view>

#include "protocol/http_parser.h"
#include "protocol/http_response.h"

namespace smooth::ws {

// Sec-WebSocket-Accept is base64 of a 20-byte SHA-1 digest: 28 characters.
inline constexpr size_t kAcceptLength = 28;
// Room for any answer the two format functions write: the 101 is well under
// it, a refusal is an ordinary head plus the version line and a short body.
inline constexpr size_t kMaxHandshakeResponse = http::kMaxResponseHead + 256;

struct Handshake {
    int status = 400;                     // 101, 400 or 426
    const char* error = "";               // 400, 426: why, for the log and the body
    char accept[kAcceptLength + 1] = {};  // 101: the Sec-WebSocket-Accept value, NUL-terminated
};

// Whether the request asks to become a WebSocket at all ("Upgrade:" lists
// the websocket token): the server then answers it with check_handshake()'s
// verdict rather than as a plain HTTP request.
bool wants_websocket(const http::Request& request);

// §4.2.1: GET, HTTP/1.1, Host, "Upgrade: websocket", "Connection: Upgrade"
// (tokens in comma-separated lists, any case), exactly one
// Sec-WebSocket-Version, which is 13 (else 426), exactly one
// Sec-WebSocket-Key, the base64 of 16 bytes.
Handshake check_handshake(const http::Request& request);

// §4.2.2 item 5.4: base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")),
// the key as sent (not decoded). Writes kAcceptLength characters, no NUL.
void compute_accept(std::string_view key, char* out);

// The 101 head for an accepted handshake (status 101) into out
// (kMaxHandshakeResponse bytes); returns its length. No body follows: the
// next bytes on the connection are frames.
size_t format_handshake_response(const Handshake& accepted, char* out);

// A whole 400 or 426 response (head and a one-line text body saying why,
// "Connection: close") into out (kMaxHandshakeResponse bytes); returns its
// length. The connection closes once it is sent.
size_t format_handshake_refusal(const Handshake& refused, char* out);

}  // namespace smooth::ws
