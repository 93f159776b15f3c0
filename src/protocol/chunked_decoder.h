// chunked_decoder: a chunked request body (RFC 9112 §7.1), decoded as it
// arrives. No I/O: the caller hands it the bytes it read.
//
//   chunked-body = *chunk last-chunk trailer-section CRLF
//   chunk        = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
//   last-chunk   = 1*("0") [ chunk-ext ] CRLF
//
// How a connection uses it, after parse_head() (http_parser.h) said the
// request is chunked: ChunkedDecoder d(limits.max_body_bytes); whenever bytes
// arrive, f = d.feed(raw, body) with raw the bytes after the head not fed
// yet, and drop f.consumed of them at once. Incomplete: read more. Error:
// answer f.error_status (400, 413 or 431) and close. Complete: `body` is the
// request's body; the next request starts f.consumed bytes into raw.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "protocol/http_result.h"

namespace smooth::http {

// An incremental chunked-body decoder, one per body.
//
// feed() takes the bytes that arrived since the last call, appends the data
// they carry to `body` and says how many it used. Need more (Incomplete) uses
// all of them: a framing line cut across reads waits in a small carry buffer
// (at most one line limit), so input never has to accumulate and no byte is
// scanned twice. Complete uses the bytes through the end of the trailer
// section; the rest belongs to the next request. After Complete or an Error,
// feed() repeats that result and uses nothing.
//
// What arrives is bounded on the wire, not only once decoded:
//   decoded body                    <= max_body_bytes                 else 413
//   framing (size lines, extensions,
//     CRLFs, trailers)              <= framing_limit()                else 413
//   one chunk-size line             <= 4096 bytes, CRLF included      else 400
//   the trailer section             <= 8192 bytes                     else 431
// A limit is enforced at the first byte that would cross it, whatever the
// read sizes, so a peer sending 1-byte chunks with long extensions fails
// after at most framing_limit() + (the data it carried) bytes.
class ChunkedDecoder {
public:
    explicit ChunkedDecoder(size_t max_body_bytes);

    Result feed(std::string_view in, std::string& body);

    // 64 KiB + max_body_bytes / 16: a generous allowance for chunk sizes,
    // extensions and trailers, and no more, so a peer cannot make framing
    // the bulk of what it sends (1-byte chunks with 4 KB extensions).
    size_t framing_limit() const { return max_framing_; }

private:
    enum class State : uint8_t { SizeLine, Data, DataCR, DataLF, TrailerLine, Done, Failed };
    enum class LineStep : uint8_t { Whole, Partial, TooLong };

    LineStep take_line(std::string_view in, size_t& pos, size_t room, std::string_view& text);
    bool on_line(std::string_view in, size_t& pos);
    void on_data_end(char c);
    void fail(int status, const char* why);

    State state_ = State::SizeLine;
    size_t max_body_;
    size_t max_framing_;
    size_t chunk_left_ = 0;     // data bytes of the current chunk still to come
    size_t body_bytes_ = 0;     // chunk sizes announced so far
    size_t framing_bytes_ = 0;  // every byte taken that was not data
    size_t trailer_bytes_ = 0;  // bytes of the trailer section taken so far
    std::string line_;          // the framing line being gathered, when it was cut
    Result failure_;
};

// A whole chunked body, from its first chunk-size line through the trailer
// section: ChunkedDecoder over `in`. Complete appends the data to `body`
// (cleared first) and gives the bytes consumed; Incomplete leaves `body`
// empty. For a caller holding everything; a reading connection feeds a
// ChunkedDecoder instead, as calling this again per read re-decodes.
Result parse_chunked(std::string_view in, size_t max_body_bytes, std::string& body);

}  // namespace smooth::http
