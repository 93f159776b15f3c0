// http_parser: see http_parser.h for the contract.
//
// The head is read in three layers, each a small pure function:
//
//   lines    next_line() cuts the head at '\n' (memchr does the scanning);
//            every line must end with CRLF;
//   fields   parse_request_line() and parse_field_line() check one line each
//            against the RFC 9112 grammar and fill string_views into the input;
//            parse_target() sorts the request-target into its four forms and
//            checks a host against RFC 3986 (split_host_port());
//   meaning  interpret_headers() turns Host, Connection, Content-Length,
//            Transfer-Encoding and Expect into host, keep_alive,
//            content_length, chunked and expect_continue.
//
// A line is only looked at once its '\n' has arrived, so a request cut at any
// byte is "Incomplete", never an error; a bad line is an error as soon as it
// is whole, without waiting for the rest of the head. The pieces of grammar
// the lines are checked with (tokens, hosts, field lines) are in
// http_grammar.h, shared with the chunked decoder's trailers.
#include "protocol/http_parser.h"

#include <algorithm>
#include <cstring>

#include "protocol/http_grammar.h"

namespace smooth::http {

using grammar::equals_ignoring_case;
using grammar::for_each_element;
using grammar::is_digit;
using grammar::is_host_field;
using grammar::is_target_char;
using grammar::parse_decimal;
using grammar::parse_field_line;
using grammar::Problem;
using grammar::skip_token;
using grammar::split_host_port;

namespace {

// RFC 9112 §2.2 asks a server to ignore "at least one" empty line before the
// request line (clients used to send a CRLF after a POST body). A few is
// enough; more than that is not a request.
constexpr int kMaxLeadingEmptyLines = 4;

Result error(int status, const char* why) { return Result::failure(status, why); }
Result error(Problem p) { return Result::failure(p.status, p.why); }

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

// ---- the head -------------------------------------------------------------

// HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive (RFC 9112 §2.3).
// Well-formed but not 1.0 or 1.1 is 505; anything else is not HTTP at all.
Problem parse_version(std::string_view v, int& minor) {
    if (v.size() != 8 || v.substr(0, 5) != "HTTP/" || !is_digit(v[5]) || v[6] != '.' || !is_digit(v[7]))
        return {400, "bad HTTP version"};
    if (v[5] != '1' || v[7] > '1') return {505, "unsupported HTTP version"};
    minor = v[7] - '0';
    return {};
}

void split_path_and_query(std::string_view s, Request& out) {
    const size_t question = s.find('?');
    out.path = s.substr(0, question);
    out.query = question == std::string_view::npos ? std::string_view() : s.substr(question + 1);
}

// request-target = origin-form / absolute-form / authority-form / asterisk-form
// (RFC 9112 §3.2); which one is allowed depends on the method. Anything else
// ("foo/bar", "GET *", "CONNECT /x") is a 400.
Problem parse_target(Request& out) {
    const std::string_view t = out.target;
    // authority-form = uri-host ":" port, for CONNECT and only CONNECT
    // (§3.2.3); the port is required (RFC 9110 §9.3.6: "there is no default").
    if (out.method == "CONNECT") {
        std::string_view host, port;
        if (!split_host_port(t, host, port) || host.empty() || port.empty())
            return {400, "CONNECT target is not host:port"};
        out.target_form = TargetForm::Authority;
        out.host = t;
        return {};
    }
    // asterisk-form, for a server-wide OPTIONS only (§3.2.4).
    if (t == "*") {
        if (out.method != "OPTIONS") return {400, "asterisk-form target without OPTIONS"};
        out.target_form = TargetForm::Asterisk;
        out.path = t;
        return {};
    }
    // origin-form = absolute-path [ "?" query ] (§3.2.1).
    if (t.front() == '/') {
        out.target_form = TargetForm::Origin;
        split_path_and_query(t, out);
        return {};
    }
    // absolute-form = absolute-URI (§3.2.2), which we serve for the http and
    // https schemes: "http" "://" authority path-abempty [ "?" query ]
    // (RFC 9110 §4.2.1). The scheme is case-insensitive.
    const size_t colon = t.find(':');
    const std::string_view scheme = t.substr(0, colon);
    if (colon == std::string_view::npos) return {400, "bad request target"};
    if (!equals_ignoring_case(scheme, "http") && !equals_ignoring_case(scheme, "https"))
        return {400, "request target is not origin-form, nor an http or https URI"};
    std::string_view rest = t.substr(colon + 1);
    if (!rest.starts_with("//")) return {400, "bad request target"};
    rest.remove_prefix(2);
    const std::string_view authority = rest.substr(0, rest.find_first_of("/?"));
    // RFC 9110 §4.2.4: userinfo in an http URI is to be treated as an error
    // (it is how "http://trusted.example@evil.example/" fools a reader).
    if (authority.find('@') != std::string_view::npos) return {400, "userinfo in request target"};
    std::string_view host, port;
    // RFC 9110 §4.2.1: a URI with an empty host MUST be rejected as invalid.
    if (!split_host_port(authority, host, port) || host.empty()) return {400, "bad host in request target"};
    out.target_form = TargetForm::Absolute;
    out.host = authority;
    split_path_and_query(rest.substr(authority.size()), out);
    // path-abempty may be empty; as a request target that means "/" (RFC 9110 §4.2.3).
    if (out.path.empty()) out.path = "/";
    return {};
}

// request-line = method SP request-target SP HTTP-version (RFC 9112 §3).
// Exactly one SP each: a lenient split is a request-smuggling foothold.
Problem parse_request_line(std::string_view line, size_t max_target_bytes, Request& out) {
    size_t i = skip_token(line, 0);
    if (i == 0 || i == line.size() || line[i] != ' ') return {400, "bad request line"};
    out.method = line.substr(0, i);

    const size_t target_start = ++i;
    while (i < line.size() && is_target_char(line[i])) ++i;
    if (i == target_start || i == line.size() || line[i] != ' ') return {400, "bad request target"};
    out.target = line.substr(target_start, i - target_start);
    // RFC 9112 §3: a target longer than the server wishes to parse MUST be a 414.
    if (out.target.size() > max_target_bytes) return {414, "request target too long"};

    if (Problem p = parse_version(line.substr(i + 1), out.minor_version)) return p;
    return parse_target(out);
}

// Whether a request line still arriving already has a target over the limit:
// a method, SP, then max_target_bytes + 1 bytes that can only be target. This
// answers 414 as soon as those bytes are in, rather than 431 once the head
// limit is passed (a long URI is not a long head). Only looked at when that
// many bytes are there, and it stops at the first byte that ends a target.
bool target_too_long_so_far(std::string_view partial_line, size_t max_target_bytes) {
    if (partial_line.size() <= max_target_bytes) return false;
    const size_t method_end = skip_token(partial_line, 0);
    if (method_end == 0 || method_end == partial_line.size() || partial_line[method_end] != ' ') return false;
    const std::string_view target = partial_line.substr(method_end + 1, max_target_bytes + 1);
    return target.size() > max_target_bytes && std::all_of(target.begin(), target.end(), is_target_char);
}

// The headers whose meaning the parser works out. Most requests carry only
// a few of them among many others, so the length is looked at first: most
// other names are passed over without comparing a byte.
enum class Known : uint8_t { Other, Host, ContentLength, TransferEncoding, Connection, Expect };

Known known_header(std::string_view name) {
    const auto is = [&](std::string_view known, Known k) { return equals_ignoring_case(name, known) ? k : Known::Other; };
    switch (name.size()) {
        case 4: return is("host", Known::Host);
        case 6: return is("expect", Known::Expect);
        case 10: return is("connection", Known::Connection);
        case 14: return is("content-length", Known::ContentLength);
        case 17: return is("transfer-encoding", Known::TransferEncoding);
        default: return Known::Other;
    }
}

// Works out host, keep_alive, chunked, content_length and expect_continue
// from the headers.
Problem interpret_headers(Request& r, size_t max_body_bytes) {
    bool has_length = false, has_transfer_encoding = false;
    bool close = false, keep_alive = false;
    size_t codings = 0;  // transfer codings listed, over all Transfer-Encoding lines
    bool last_is_chunked = false;
    size_t hosts = 0;
    std::string_view host;
    bool expect_continue = false, expect_other = false;

    for (size_t i = 0; i < r.header_count; ++i) {
        const Header& h = r.headers[i];
        switch (known_header(h.name)) {
            case Known::Other: break;
            case Known::Host:
                ++hosts;
                host = h.value;
                break;
            case Known::ContentLength: {
                size_t n = 0;
                if (!parse_decimal(h.value, n)) return {400, "bad Content-Length"};
                // Repeating the same length is harmless; two lengths mean two
                // parties could each pick a different one (RFC 9112 §6.3).
                if (has_length && n != r.content_length) return {400, "conflicting Content-Length"};
                has_length = true;
                r.content_length = n;
                break;
            }
            case Known::TransferEncoding:
                has_transfer_encoding = true;
                for_each_element(h.value, [&](std::string_view coding) {
                    ++codings;
                    last_is_chunked = equals_ignoring_case(coding, "chunked");
                });
                break;
            case Known::Connection:
                for_each_element(h.value, [&](std::string_view option) {
                    close = close || equals_ignoring_case(option, "close");
                    keep_alive = keep_alive || equals_ignoring_case(option, "keep-alive");
                });
                break;
            case Known::Expect:
                // Expect = #expectation, case-insensitive (RFC 9110 §10.1.1).
                for_each_element(h.value, [&](std::string_view expectation) {
                    (equals_ignoring_case(expectation, "100-continue") ? expect_continue : expect_other) = true;
                });
                break;
        }
    }

    // RFC 9112 §3.2: a server MUST answer 400 to an HTTP/1.1 request without
    // Host, and to any request with more than one Host line or an invalid one.
    if (hosts == 0 && r.minor_version == 1) return {400, "missing Host"};
    if (hosts > 1) return {400, "more than one Host"};
    if (hosts == 1 && !is_host_field(host)) return {400, "invalid Host"};
    // An absolute- or authority-form target names the host itself, and wins
    // over the Host header (RFC 9112 §3.2.2, §3.3).
    if (r.target_form == TargetForm::Origin || r.target_form == TargetForm::Asterisk) r.host = host;

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
    // 100-continue is the only expectation there is; a server MAY answer
    // any other with 417 (RFC 9110 §10.1.1), and we do rather than pretend.
    if (expect_other) return {417, "unsupported expectation"};
    // "A server that receives a 100-continue expectation in an HTTP/1.0
    // request MUST ignore that expectation" (RFC 9110 §10.1.1).
    r.expect_continue = expect_continue && r.minor_version == 1;
    // Refuse an oversized body now, before the client spends time sending it.
    if (r.content_length > max_body_bytes) return {413, "Content-Length too large"};

    r.keep_alive = r.minor_version == 1 ? !close : keep_alive && !close;
    return {};
}

// Sets every field parse_head() fills, without touching the header array
// (zeroing 64 headers on every request is wasted work).
void reset(Request& r) {
    r.method = r.target = r.path = r.query = r.host = {};
    r.target_form = TargetForm::Origin;
    r.minor_version = 1;
    r.header_count = 0;
    r.keep_alive = true;
    r.chunked = false;
    r.expect_continue = false;
    r.content_length = 0;
    r.body = {};
}

}  // namespace

// ---- the whole request ----------------------------------------------------

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
        return in.size() > limits.max_head_bytes ? error(431, "request head too large") : Result::incomplete();
    };
    // Every line of the head ends with CRLF. RFC 9112 §2.2 lets a recipient
    // also take a bare LF; we do not, because a proxy in front that does not
    // is exactly the disagreement request smuggling needs
    // ("Dummy: y\nContent-Length: 23" is one header to one, two to the other).
    constexpr const char* kBareLF = "line in the head not ended by CRLF";

    Line line;
    size_t pos = 0;
    for (int empty_lines = 0;; ++empty_lines) {
        if (!next_line(window, pos, line)) {
            if (target_too_long_so_far(in.substr(pos), limits.max_target_bytes))
                return error(414, "request target too long");
            return need_more();
        }
        if (!line.crlf) return error(400, kBareLF);
        pos = line.next;
        if (!line.text.empty()) break;
        if (empty_lines == kMaxLeadingEmptyLines) return error(400, "too many empty lines before the request");
    }
    if (Problem p = parse_request_line(line.text, limits.max_target_bytes, out)) return error(p);

    for (;;) {
        if (!next_line(window, pos, line)) return need_more();
        if (!line.crlf) return error(400, kBareLF);
        pos = line.next;
        if (line.text.empty()) break;  // the blank line ends the head
        if (out.header_count == kMaxHeaders) return error(431, "too many headers");
        if (Problem p = parse_field_line(line.text, out.headers[out.header_count])) return error(p);
        ++out.header_count;
    }

    if (Problem p = interpret_headers(out, limits.max_body_bytes)) return error(p);
    return Result::complete(pos);
}

Result parse_request(std::string_view in, const Limits& limits, Request& out, std::string& chunked_body) {
    const Result head = parse_head(in, limits, out);
    if (head.status != Parse::Complete) return head;
    const std::string_view rest = in.substr(head.consumed);

    if (out.chunked) {
        const Result body = parse_chunked(rest, limits.max_body_bytes, chunked_body);
        if (body.status != Parse::Complete) return body;
        out.body = chunked_body;
        return Result::complete(head.consumed + body.consumed);
    }
    if (rest.size() < out.content_length) return Result::incomplete();
    out.body = rest.substr(0, out.content_length);
    return Result::complete(head.consumed + out.content_length);
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
        case 417: return "Expectation Failed";
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
