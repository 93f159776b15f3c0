// http_parser: see http_parser.h for the contract.
//
// The parser reads a request in three layers, each a small pure function:
//
//   lines    next_line() cuts the head at '\n' (memchr does the scanning);
//   fields   parse_request_line() and parse_field_line() check one line each
//            against the RFC 9112 grammar and fill string_views into the input;
//   meaning  interpret_headers() turns Connection, Content-Length and
//            Transfer-Encoding into keep_alive, content_length and chunked.
//
// A line is only looked at once its '\n' has arrived, so a request cut at any
// byte is "Incomplete", never an error; a bad line is an error as soon as it
// is whole, without waiting for the rest of the head.
#include "protocol/http_parser.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

namespace smooth::http {
namespace {

// RFC 9112 §2.2 asks a server to ignore "at least one" empty line before the
// request line (clients used to send a CRLF after a POST body). A few is
// enough; more than that is not a request.
constexpr int kMaxLeadingEmptyLines = 4;

// A chunk-size line carries only a hex number and optional extensions that we
// ignore; the bound stops a peer from making us buffer endless extensions.
constexpr size_t kMaxChunkLineBytes = 4096;
// The trailer section after the last chunk, CRLFs included.
constexpr size_t kMaxTrailerBytes = 8192;

// ---- character classes (RFC 9110 §5.6.2, §5.5; RFC 9112 §3.2) ----------

constexpr bool is_alnum(unsigned c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// tchar: what a method or a header name is made of. A table, because the
// rule is a list of symbols rather than a range.
constexpr std::array<bool, 256> kToken = [] {
    std::array<bool, 256> t{};
    constexpr std::string_view kSymbols = "!#$%&'*+-.^_`|~";
    for (unsigned c = 0; c < 256; ++c) t[c] = is_alnum(c) || kSymbols.find(char(c)) != std::string_view::npos;
    return t;
}();
bool is_token_char(char c) { return kToken[static_cast<unsigned char>(c)]; }

// The request target: anything visible. Bytes >= 0x80 are let through, as
// nginx does, because UTF-8 paths are common in the wild; SP and controls end it.
bool is_target_char(char c) { return static_cast<unsigned char>(c) > 0x20 && c != 0x7f; }

// A field value: visible characters, obs-text, SP and HTAB; no other control
// (a bare CR or LF inside a value is how header injection starts).
bool is_value_char(char c) { return (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) || c == '\t'; }

bool is_space(char c) { return c == ' ' || c == '\t'; }  // OWS is SP / HTAB
char lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }

bool equals_ignoring_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

// Calls f(element) for each element of a comma-separated list (RFC 9110
// §5.6.1), trimmed; empty elements ("a, , b") are skipped as the RFC allows.
template <typename F>
void for_each_element(std::string_view list, F&& f) {
    while (!list.empty()) {
        const size_t comma = std::min(list.find(','), list.size());
        const std::string_view element = trim(list.substr(0, comma));
        if (!element.empty()) f(element);
        list.remove_prefix(std::min(comma + 1, list.size()));
    }
}

// 1*DIGIT without overflow; false for anything else ("+5", "5 ", "0x5", "").
bool parse_decimal(std::string_view s, size_t& out) {
    if (s.empty()) return false;
    size_t n = 0;
    for (char c : s) {
        if (c < '0' || c > '9') return false;
        const size_t digit = size_t(c - '0');
        if (n > (SIZE_MAX - digit) / 10) return false;
        n = n * 10 + digit;
    }
    out = n;
    return true;
}

// ---- results ------------------------------------------------------------

// What a line-level check found wrong: nothing (status 0), or the answer.
struct Problem {
    int status = 0;
    const char* why = "";
    explicit operator bool() const { return status != 0; }
};

Result error(int status, const char* why) { return {.status = Parse::Error, .error_status = status, .error = why}; }
Result error(Problem p) { return error(p.status, p.why); }
Result incomplete() { return {}; }
Result complete(size_t consumed) { return {.status = Parse::Complete, .consumed = consumed}; }

// ---- lines ----------------------------------------------------------------

struct Line {
    std::string_view text;  // without its line ending
    size_t next = 0;        // where the following line starts
    bool crlf = false;      // ended by "\r\n" rather than a bare "\n"
};

// The line starting at `from`, if its '\n' is in `in`. Only a '\r' right
// before the '\n' belongs to the line ending; any other '\r' stays in the
// text, where the line's own check rejects it as a control character: that
// is how a bare CR becomes a 400 (RFC 9112 §2.2).
bool next_line(std::string_view in, size_t from, Line& line) {
    if (from >= in.size()) return false;  // memchr on an empty range may be handed a null pointer
    const void* nl = std::memchr(in.data() + from, '\n', in.size() - from);
    if (nl == nullptr) return false;
    size_t end = size_t(static_cast<const char*>(nl) - in.data());
    line.next = end + 1;
    line.crlf = end > from && in[end - 1] == '\r';
    if (line.crlf) --end;
    line.text = in.substr(from, end - from);
    return true;
}

// Whether `s` holds a byte no field value may hold. This is the parser's
// hottest loop (User-Agent and Cookie are long), so it tests eight bytes at a
// time with the "has a byte less than n" trick from the Bit Twiddling Hacks:
// subtracting 0x20 from every byte borrows into the top bit of exactly those
// bytes below 0x20. Only a word that may hold one (a tab also does, and is
// allowed) is looked at byte by byte.
bool has_control(std::string_view s) {
    constexpr uint64_t kOnes = 0x0101010101010101, kHighs = 0x8080808080808080;
    size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
        uint64_t word;
        std::memcpy(&word, s.data() + i, 8);  // unaligned load, any byte order
        const uint64_t below_space = (word - kOnes * 0x20) & ~word & kHighs;
        const uint64_t del = word ^ (kOnes * 0x7f);  // a zero byte where there was a DEL
        const uint64_t has_del = (del - kOnes) & ~del & kHighs;
        if ((below_space | has_del) == 0) continue;
        for (size_t j = i; j < i + 8; ++j)
            if (!is_value_char(s[j])) return true;
    }
    for (; i < s.size(); ++i)
        if (!is_value_char(s[i])) return true;
    return false;
}

// ---- the head -------------------------------------------------------------

// HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive (RFC 9112 §2.3).
// Well-formed but not 1.0 or 1.1 is 505; anything else is not HTTP at all.
Problem parse_version(std::string_view v, int& minor) {
    const auto digit = [](char c) { return c >= '0' && c <= '9'; };
    if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || !digit(v[5]) || v[6] != '.' || !digit(v[7]))
        return {400, "bad HTTP version"};
    if (v[5] != '1' || v[7] > '1') return {505, "unsupported HTTP version"};
    minor = v[7] - '0';
    return {};
}

// request-line = method SP request-target SP HTTP-version (RFC 9112 §3).
// Exactly one SP each: a lenient split is a request-smuggling foothold.
Problem parse_request_line(std::string_view line, Request& out) {
    size_t i = 0;
    while (i < line.size() && is_token_char(line[i])) ++i;
    if (i == 0 || i == line.size() || line[i] != ' ') return {400, "bad request line"};
    out.method = line.substr(0, i);

    const size_t target_start = ++i;
    while (i < line.size() && is_target_char(line[i])) ++i;
    if (i == target_start || i == line.size() || line[i] != ' ') return {400, "bad request target"};
    out.target = line.substr(target_start, i - target_start);

    const size_t question = out.target.find('?');
    out.path = out.target.substr(0, question);
    out.query = question == std::string_view::npos ? std::string_view() : out.target.substr(question + 1);

    return parse_version(line.substr(i + 1), out.minor_version);
}

// field-line = field-name ":" OWS field-value OWS (RFC 9112 §5). `line` is
// not empty. Used for the head's headers and for chunked trailers alike.
Problem parse_field_line(std::string_view line, Header& out) {
    // obs-fold: a line that starts with whitespace continues the previous
    // one. RFC 9112 §5.2 lets a server reject it, and we do.
    if (is_space(line.front())) return {400, "obsolete line folding"};

    size_t colon = 0;
    while (colon < line.size() && is_token_char(line[colon])) ++colon;
    // "Host : x" stops at the space, not at ':'; RFC 9112 §5.1 says 400,
    // because proxies disagree on what such a name means.
    if (colon == 0 || colon == line.size() || line[colon] != ':') return {400, "bad header name"};

    const std::string_view value = trim(line.substr(colon + 1));
    if (has_control(value)) return {400, "control character in header value"};
    out = Header{line.substr(0, colon), value};
    return {};
}

// Works out keep_alive, chunked and content_length from the headers.
Problem interpret_headers(Request& r, size_t max_body_bytes) {
    bool has_length = false, has_transfer_encoding = false;
    bool close = false, keep_alive = false;
    size_t codings = 0;  // transfer codings listed, over all Transfer-Encoding lines
    bool last_is_chunked = false;

    for (size_t i = 0; i < r.header_count; ++i) {
        const Header& h = r.headers[i];
        if (equals_ignoring_case(h.name, "content-length")) {
            size_t n = 0;
            if (!parse_decimal(h.value, n)) return {400, "bad Content-Length"};
            // Repeating the same length is harmless; two lengths mean two
            // parties could each pick a different one (RFC 9112 §6.3).
            if (has_length && n != r.content_length) return {400, "conflicting Content-Length"};
            has_length = true;
            r.content_length = n;
        } else if (equals_ignoring_case(h.name, "transfer-encoding")) {
            has_transfer_encoding = true;
            for_each_element(h.value, [&](std::string_view coding) {
                ++codings;
                last_is_chunked = equals_ignoring_case(coding, "chunked");
            });
        } else if (equals_ignoring_case(h.name, "connection")) {
            for_each_element(h.value, [&](std::string_view option) {
                close = close || equals_ignoring_case(option, "close");
                keep_alive = keep_alive || equals_ignoring_case(option, "keep-alive");
            });
        }
    }

    if (has_transfer_encoding) {
        // Both framings at once is the classic smuggling request (RFC 9112 §6.1).
        if (has_length) return {400, "both Transfer-Encoding and Content-Length"};
        // HTTP/1.0 has no Transfer-Encoding; RFC 9112 §6.1 says treat it as faulty framing.
        if (r.minor_version == 0) return {400, "Transfer-Encoding in HTTP/1.0"};
        // We decode chunked only, so "gzip, chunked" would hand the
        // application bytes it cannot read: the list must be exactly "chunked".
        if (codings != 1 || !last_is_chunked) return {400, "unsupported transfer coding"};
        r.chunked = true;
    }
    // Refuse an oversized body now, before the client spends time sending it.
    if (r.content_length > max_body_bytes) return {413, "Content-Length too large"};

    r.keep_alive = r.minor_version == 1 ? !close : keep_alive && !close;
    return {};
}

// Sets every field parse_head() fills, without touching the header array
// (zeroing 64 headers on every request is wasted work).
void reset(Request& r) {
    r.method = r.target = r.path = r.query = {};
    r.minor_version = 1;
    r.header_count = 0;
    r.keep_alive = true;
    r.chunked = false;
    r.content_length = 0;
    r.body = {};
}

// ---- the chunked body -----------------------------------------------------

// chunk-size [ chunk-ext ] (RFC 9112 §7.1). Extensions are not used, only
// checked for control characters.
Problem parse_chunk_size(std::string_view line, size_t& size) {
    size_t i = 0;
    size = 0;
    for (; i < line.size(); ++i) {
        const char c = lower(line[i]);
        const int digit = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
        if (digit < 0) break;
        if (size > (SIZE_MAX >> 4)) return {400, "chunk size overflow"};
        size = (size << 4) | size_t(digit);
    }
    if (i == 0) return {400, "bad chunk size"};

    std::string_view ext = line.substr(i);
    while (!ext.empty() && is_space(ext.front())) ext.remove_prefix(1);  // BWS before ';'
    if (ext.empty()) return {};
    if (ext.front() != ';') return {400, "bad chunk size"};
    if (has_control(ext)) return {400, "control character in chunk extension"};
    return {};
}

// One line of the chunked framing starting at `from`, CRLF included in its
// `max_len` bytes. Complete when the line is there. Unlike the head, a bare LF
// is refused here: disagreeing about where a chunk ends is how smuggling
// through chunked bodies works, so there is only one way to end a line.
Result framing_line(std::string_view in, size_t from, size_t max_len, Problem too_long, Line& line) {
    const std::string_view window = in.substr(0, from + max_len);
    if (!next_line(window, from, line)) return in.size() >= from + max_len ? error(too_long) : incomplete();
    if (!line.crlf) return error(400, "chunked framing line not ended by CRLF");
    return complete(line.next - from);
}

// Walks a chunked body from its first chunk-size line through the empty line
// after the trailers; appends the data to `sink` when there is one.
Result walk_chunked(std::string_view in, size_t max_body_bytes, std::string* sink) {
    static constexpr std::string_view kCRLF = "\r\n";
    size_t pos = 0;
    size_t total = 0;
    Line line;

    for (;;) {  // chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
        Result r = framing_line(in, pos, kMaxChunkLineBytes, {400, "chunk size line too long"}, line);
        if (r.status != Parse::Complete) return r;
        size_t size = 0;
        if (Problem p = parse_chunk_size(line.text, size)) return error(p);
        if (size > max_body_bytes - total) return error(413, "chunked body too large");
        pos = line.next;
        if (size == 0) break;  // last-chunk

        if (in.size() - pos < size) return incomplete();
        // Whatever has arrived after the data must be the start of "\r\n".
        const std::string_view after = in.substr(pos + size, 2);
        if (after != kCRLF.substr(0, after.size())) return error(400, "chunk data not followed by CRLF");
        if (after.size() < 2) return incomplete();
        if (sink != nullptr) sink->append(in.data() + pos, size);
        total += size;
        pos += size + 2;
    }

    // trailer-section CRLF: field lines, then an empty line. We check and drop them.
    const size_t trailers_start = pos;
    for (;;) {
        const size_t budget = kMaxTrailerBytes - (pos - trailers_start);
        Result r = framing_line(in, pos, budget, {431, "trailers too large"}, line);
        if (r.status != Parse::Complete) return r;
        pos = line.next;
        if (line.text.empty()) return complete(pos);
        Header ignored;
        if (Problem p = parse_field_line(line.text, ignored)) return error(p);
    }
}

}  // namespace

std::string_view Request::header(std::string_view name) const {
    for (size_t i = 0; i < header_count; ++i)
        if (equals_ignoring_case(headers[i].name, name)) return headers[i].value;
    return {};
}

Result parse_head(std::string_view in, const Limits& limits, Request& out) {
    reset(out);
    // Lines are only looked for inside the limit, so a flood of header bytes
    // is never scanned past it. Not finding the end there means 431 only once
    // more than the limit has arrived: a head of exactly the limit is fine.
    const std::string_view window = in.substr(0, limits.max_head_bytes);
    const auto need_more = [&] {
        return in.size() > limits.max_head_bytes ? error(431, "request head too large") : incomplete();
    };

    Line line;
    size_t pos = 0;
    int empty_lines = 0;
    do {
        if (!next_line(window, pos, line)) return need_more();
        pos = line.next;
    } while (line.text.empty() && empty_lines++ < kMaxLeadingEmptyLines);
    if (Problem p = parse_request_line(line.text, out)) return error(p);

    for (;;) {
        if (!next_line(window, pos, line)) return need_more();
        pos = line.next;
        if (line.text.empty()) break;  // the blank line ends the head
        if (out.header_count == kMaxHeaders) return error(431, "too many headers");
        if (Problem p = parse_field_line(line.text, out.headers[out.header_count])) return error(p);
        ++out.header_count;
    }

    if (Problem p = interpret_headers(out, limits.max_body_bytes)) return error(p);
    return complete(pos);
}

Result parse_chunked(std::string_view in, size_t max_body_bytes, std::string& body) {
    body.clear();
    // A body arriving in pieces is re-walked on every call (the parser keeps
    // no state), so the first walk only checks the framing; the data is
    // copied once, when all of it is there.
    Result r = walk_chunked(in, max_body_bytes, nullptr);
    if (r.status == Parse::Complete) walk_chunked(in, max_body_bytes, &body);
    return r;
}

Result parse_request(std::string_view in, const Limits& limits, Request& out, std::string& chunked_body) {
    const Result head = parse_head(in, limits, out);
    if (head.status != Parse::Complete) return head;
    const std::string_view rest = in.substr(head.consumed);

    if (out.chunked) {
        const Result body = parse_chunked(rest, limits.max_body_bytes, chunked_body);
        if (body.status != Parse::Complete) return body;
        out.body = chunked_body;
        return complete(head.consumed + body.consumed);
    }
    if (rest.size() < out.content_length) return incomplete();
    out.body = rest.substr(0, out.content_length);
    return complete(head.consumed + out.content_length);
}

const char* reason_phrase(int status) {
    switch (status) {
        case 100: return "Continue";
        case 101: return "Switching Protocols";
        case 200: return "OK";
        case 201: return "Created";
        case 202: return "Accepted";
        case 204: return "No Content";
        case 301: return "Moved Permanently";
        case 302: return "Found";
        case 303: return "See Other";
        case 304: return "Not Modified";
        case 307: return "Temporary Redirect";
        case 308: return "Permanent Redirect";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 409: return "Conflict";
        case 410: return "Gone";
        case 411: return "Length Required";
        case 413: return "Content Too Large";
        case 414: return "URI Too Long";
        case 415: return "Unsupported Media Type";
        case 426: return "Upgrade Required";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        case 505: return "HTTP Version Not Supported";
        default: return "Unknown";
    }
}

}  // namespace smooth::http
