// chunked_decoder: see chunked_decoder.h for the contract.
//
// A small state machine: framing lines (chunk sizes and trailers) are
// gathered with take_line() and checked with the grammar's pieces
// (http_grammar.h) the head parser also uses; chunk data is copied out as it
// comes, and the CRLF after it is taken one byte at a time.
#include "protocol/chunked_decoder.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "protocol/http_grammar.h"

namespace smooth::http {

using grammar::hex_value;
using grammar::parse_field_line;
using grammar::Problem;
using grammar::skip_quoted_string;
using grammar::skip_spaces;
using grammar::skip_token;

namespace {

// A chunk-size line carries only a hex number and optional extensions that we
// ignore; the bound stops a peer from making us gather endless extensions.
constexpr size_t kMaxChunkLineBytes = 4096;
// The trailer section after the last chunk, CRLFs included.
constexpr size_t kMaxTrailerBytes = 8192;
// Framing allowed besides the data: kMaxFramingBase + max_body_bytes / 16.
constexpr size_t kMaxFramingBase = 64 * 1024;

// chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ),
// with chunk-ext-name = token, chunk-ext-val = token / quoted-string (RFC
// 9112 §7.1.1). Whitespace is allowed only where BWS is: "0 " with no ';'
// after the space, "2;" and "2;a=b c" are not extensions.
bool is_chunk_ext(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        i = skip_spaces(s, i);
        if (i == s.size() || s[i] != ';') return false;
        i = skip_spaces(s, i + 1);
        const size_t name_end = skip_token(s, i);
        if (name_end == i) return false;
        i = name_end;
        const size_t equals = skip_spaces(s, i);
        if (equals == s.size() || s[equals] != '=') continue;  // no value; what follows must be ';'
        const size_t value = skip_spaces(s, equals + 1);
        i = value < s.size() && s[value] == '"' ? skip_quoted_string(s, value) : skip_token(s, value);
        if (i == value || i == std::string_view::npos) return false;
    }
    return true;
}

// chunk-size [ chunk-ext ], chunk-size = 1*HEXDIG (RFC 9112 §7.1).
// Extensions are checked and then ignored.
Problem parse_chunk_size(std::string_view line, size_t& size) {
    size_t i = 0;
    size = 0;
    for (int digit; i < line.size() && (digit = hex_value(line[i])) >= 0; ++i) {
        if (size > (SIZE_MAX >> 4)) return {400, "chunk size overflow"};
        size = (size << 4) | size_t(digit);
    }
    if (i == 0) return {400, "bad chunk size"};
    if (!is_chunk_ext(line.substr(i))) return {400, "bad chunk extension"};
    return {};
}

}  // namespace

// ---- ChunkedDecoder -------------------------------------------------------
//
//   SizeLine ──size > 0──► Data ──► DataCR ──► DataLF ──► SizeLine
//      │ size 0
//      ▼
//   TrailerLine ──empty line──► Done          (any check failing: Failed)

ChunkedDecoder::ChunkedDecoder(size_t max_body_bytes)
    : max_body_(max_body_bytes), max_framing_(kMaxFramingBase + max_body_bytes / 16) {}

void ChunkedDecoder::fail(int status, const char* why) {
    state_ = State::Failed;
    failure_ = Result::failure(status, why);
}

// Takes the framing line at in[pos...], at most `room` more bytes of it, LF
// included. Whole: `text` is the line without its line ending, a view into
// `in` when it came in one piece or into line_ when it was cut. Partial: all
// of `in` was taken into line_. TooLong: `room` bytes came and none was LF.
// Each byte is searched once (memchr) and copied at most once.
ChunkedDecoder::LineStep ChunkedDecoder::take_line(std::string_view in, size_t& pos, size_t room,
                                                   std::string_view& text) {
    const std::string_view rest = in.substr(pos, room);
    const void* nl = rest.empty() ? nullptr : std::memchr(rest.data(), '\n', rest.size());
    if (nl == nullptr) {
        if (rest.size() == room) return LineStep::TooLong;
        line_.append(rest);
        pos += rest.size();
        return LineStep::Partial;
    }
    const size_t n = size_t(static_cast<const char*>(nl) - rest.data()) + 1;
    pos += n;
    if (line_.empty()) {
        text = rest.substr(0, n);
    } else {
        line_.append(rest.data(), n);
        text = line_;
    }
    return LineStep::Whole;
}

// The SizeLine and TrailerLine states: gathers a line and acts on it, moving
// to the next state (Failed included). False when the line is not whole yet:
// all of `in` is taken, go on with the next read.
bool ChunkedDecoder::on_line(std::string_view in, size_t& pos) {
    const bool trailer = state_ == State::TrailerLine;
    const size_t line_room = trailer ? kMaxTrailerBytes - trailer_bytes_ : kMaxChunkLineBytes - line_.size();
    const size_t framing_room = max_framing_ - framing_bytes_;

    std::string_view text;
    const size_t start = pos;
    const LineStep step = take_line(in, pos, std::min(line_room, framing_room), text);
    framing_bytes_ += pos - start;
    if (trailer) trailer_bytes_ += pos - start;
    if (step == LineStep::Partial) return false;
    if (step == LineStep::TooLong) {
        if (framing_room < line_room)
            fail(413, "chunked framing too large");
        else if (trailer)
            fail(431, "trailers too large");
        else
            fail(400, "chunk size line too long");
        return true;
    }

    // As in the head, CRLF and nothing else ends a line: two parties that
    // disagree on where a chunk ends is how smuggling through chunked
    // bodies works.
    if (text.size() < 2 || text[text.size() - 2] != '\r') {
        fail(400, "chunked framing line not ended by CRLF");
        return true;
    }
    text.remove_suffix(2);

    if (trailer) {
        // trailer-section = *( field-line CRLF ), then CRLF: checked, then dropped.
        Header ignored;
        if (text.empty())
            state_ = State::Done;
        else if (Problem p = parse_field_line(text, ignored))
            fail(p.status, p.why);
    } else {
        size_t size = 0;
        if (Problem p = parse_chunk_size(text, size)) {
            fail(p.status, p.why);
        } else if (size > max_body_ - body_bytes_) {
            // The announced size is checked before its data arrives, so an
            // oversized body is refused without reading it.
            fail(413, "chunked body too large");
        } else {
            body_bytes_ += size;
            chunk_left_ = size;
            state_ = size == 0 ? State::TrailerLine : State::Data;  // size 0 is the last-chunk
        }
    }
    line_.clear();  // only now: `text` may have been a view into it
    return true;
}

// chunk-data is followed by CRLF, taken one byte at a time as it may be cut.
void ChunkedDecoder::on_data_end(char c) {
    const bool cr = state_ == State::DataCR;
    if (c != (cr ? '\r' : '\n'))
        fail(400, "chunk data not followed by CRLF");
    else if (framing_bytes_ == max_framing_)
        fail(413, "chunked framing too large");
    else
        state_ = cr ? State::DataLF : State::SizeLine;
    ++framing_bytes_;
}

Result ChunkedDecoder::feed(std::string_view in, std::string& body) {
    size_t pos = 0;
    for (;;) {
        switch (state_) {
            case State::Done: return Result::complete(pos);
            case State::Failed: {
                Result r = failure_;
                r.consumed = pos;  // where in `in` the error was found (0 on a later call)
                return r;
            }
            case State::SizeLine:
            case State::TrailerLine:
                if (!on_line(in, pos)) return Result::incomplete(pos);
                break;
            case State::Data: {
                const size_t n = std::min(chunk_left_, in.size() - pos);
                body.append(in.data() + pos, n);
                pos += n;
                chunk_left_ -= n;
                if (chunk_left_ > 0) return Result::incomplete(pos);
                state_ = State::DataCR;
                break;
            }
            case State::DataCR:
            case State::DataLF:
                if (pos == in.size()) return Result::incomplete(pos);
                on_data_end(in[pos++]);
                break;
        }
    }
}

Result parse_chunked(std::string_view in, size_t max_body_bytes, std::string& body) {
    body.clear();
    ChunkedDecoder decoder(max_body_bytes);
    const Result r = decoder.feed(in, body);
    if (r.status == Parse::Complete) return r;
    body.clear();  // the caller will call again with more, or give up
    return r.status == Parse::Error ? Result::failure(r.error_status, r.error) : Result::incomplete();
}

}  // namespace smooth::http
