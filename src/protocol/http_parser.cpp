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
// is whole, without waiting for the rest of the head.
//
// The chunked body is read by ChunkedDecoder, a small state machine whose
// framing lines use the same field checks.
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
// ignore; the bound stops a peer from making us gather endless extensions.
constexpr size_t kMaxChunkLineBytes = 4096;
// The trailer section after the last chunk, CRLFs included.
constexpr size_t kMaxTrailerBytes = 8192;
// Framing allowed besides the data: kMaxFramingBase + max_body_bytes / 16.
constexpr size_t kMaxFramingBase = 64 * 1024;

// ---- character classes (RFC 9110 §5.6.2, §5.5; RFC 9112 §3.2; RFC 3986) --

constexpr bool is_alnum(unsigned c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

constexpr std::array<bool, 256> table_of(std::string_view symbols) {
    std::array<bool, 256> t{};
    for (unsigned c = 0; c < 256; ++c) t[c] = is_alnum(c) || symbols.find(char(c)) != std::string_view::npos;
    return t;
}
// tchar: what a method or a header name is made of. Tables, because the
// rules are lists of symbols rather than ranges.
constexpr std::array<bool, 256> kToken = table_of("!#$%&'*+-.^_`|~");
// What a reg-name is made of besides pct-encoded: unreserved and sub-delims
// (RFC 3986 §3.2.2); an IPv4 address is one too.
constexpr std::array<bool, 256> kRegName = table_of("-._~!$&'()*+,;=");

bool is_token_char(char c) { return kToken[static_cast<unsigned char>(c)]; }

// The request target: anything visible. Bytes >= 0x80 are let through, as
// nginx does, because UTF-8 paths are common in the wild; SP and controls end it.
bool is_target_char(char c) { return static_cast<unsigned char>(c) > 0x20 && c != 0x7f; }

// A field value: visible characters, obs-text, SP and HTAB; no other control
// (a bare CR or LF inside a value is how header injection starts).
bool is_value_char(char c) { return (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) || c == '\t'; }

bool is_space(char c) { return c == ' ' || c == '\t'; }  // OWS is SP / HTAB
bool is_digit(char c) { return c >= '0' && c <= '9'; }
char lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }
int hex_value(char c) {
    c = lower(c);
    return is_digit(c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

template <typename Is>
bool all_of(std::string_view s, Is is) {
    return std::all_of(s.begin(), s.end(), is);
}
bool all_hex(std::string_view s) { return all_of(s, [](char c) { return hex_value(c) >= 0; }); }

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

size_t skip_spaces(std::string_view s, size_t i) {
    while (i < s.size() && is_space(s[i])) ++i;
    return i;
}

size_t skip_token(std::string_view s, size_t i) {
    while (i < s.size() && is_token_char(s[i])) ++i;
    return i;
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
        if (!is_digit(c)) return false;
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
Result incomplete(size_t consumed = 0) { return {.status = Parse::Incomplete, .consumed = consumed}; }
Result complete(size_t consumed) { return {.status = Parse::Complete, .consumed = consumed}; }

// ---- hosts: uri-host [ ":" port ] (RFC 3986 §3.2.2, §3.2.3) --------------

// dec-octet "." dec-octet "." dec-octet "." dec-octet, each 0-255 written
// without leading zeros ("01" is not an octet).
bool is_ipv4(std::string_view s) {
    for (int octet = 0; octet < 4; ++octet) {
        if (octet > 0) {
            if (s.empty() || s.front() != '.') return false;
            s.remove_prefix(1);
        }
        size_t n = 0;
        while (n < s.size() && n < 3 && is_digit(s[n])) ++n;
        if (n == 0 || (n > 1 && s[0] == '0')) return false;
        size_t value = 0;
        parse_decimal(s.substr(0, n), value);
        if (value > 255) return false;
        s.remove_prefix(n);
    }
    return s.empty();
}

// IPv6address: eight 16-bit pieces of 1-4 hex digits between colons, where
// one "::" stands for one or more zero pieces and an IPv4 address may stand
// for the last two. RFC 3986 §3.2.2 spells this out as nine alternatives;
// counting pieces says the same.
bool is_ipv6(std::string_view s) {
    int pieces = 0;
    bool elided = false;
    size_t i = 0;
    if (s.substr(0, 2) == "::") {
        elided = true;
        i = 2;
    }
    while (i < s.size()) {
        const size_t colon = s.find(':', i);
        const std::string_view piece = s.substr(i, colon == std::string_view::npos ? colon : colon - i);
        if (colon == std::string_view::npos && piece.find('.') != std::string_view::npos) {
            if (!is_ipv4(piece)) return false;  // ls32 as an IPv4 address: the last thing
            pieces += 2;
            break;
        }
        if (piece.empty() || piece.size() > 4 || !all_hex(piece)) return false;
        ++pieces;
        if (colon == std::string_view::npos) break;
        i = colon + 1;
        if (i == s.size()) return false;  // "1:" ends in a lone colon
        if (s[i] == ':') {
            if (elided) return false;  // only one "::"
            elided = true;
            ++i;
        }
    }
    return elided ? pieces <= 7 : pieces == 8;
}

// IP-literal = "[" ( IPv6address / IPvFuture ) "]", with
// IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" ).
bool is_ip_literal(std::string_view s) {
    if (s.size() < 2 || s.front() != '[' || s.back() != ']') return false;
    s = s.substr(1, s.size() - 2);
    if (s.empty() || lower(s.front()) != 'v') return is_ipv6(s);
    const size_t dot = s.find('.');
    if (dot == std::string_view::npos || dot == 1 || dot + 1 == s.size() || !all_hex(s.substr(1, dot - 1))) return false;
    return all_of(s.substr(dot + 1), [](char c) { return c == ':' || kRegName[static_cast<unsigned char>(c)]; });
}

// reg-name = *( unreserved / pct-encoded / sub-delims ): may be empty.
bool is_reg_name(std::string_view s) {
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%') {
            if (i + 2 >= s.size() || !all_hex(s.substr(i + 1, 2))) return false;
            i += 2;
        } else if (!kRegName[static_cast<unsigned char>(s[i])]) {
            return false;
        }
    }
    return true;
}

// Splits uri-host [ ":" port ] and checks both; `port` is empty when there
// is none. A reg-name cannot hold ':' and an IP-literal ends at ']', so the
// port's colon is never in doubt. port = *DIGIT: "host:" is well formed
// (RFC 3986 §3.2.3 says it means the default port).
bool split_host_port(std::string_view s, std::string_view& host, std::string_view& port) {
    const size_t host_end = s.starts_with('[') ? std::min(s.find(']'), s.size() - 1) + 1 : std::min(s.find(':'), s.size());
    host = s.substr(0, host_end);
    port = host_end < s.size() ? s.substr(host_end + 1) : std::string_view();
    if (host_end < s.size() && s[host_end] != ':') return false;
    if (!all_of(port, [](char c) { return is_digit(c); })) return false;
    return host.starts_with('[') ? is_ip_literal(host) : is_reg_name(host);
}

// Host = uri-host [ ":" port ] (RFC 9110 §7.2). Empty is a valid value: RFC
// 9110 §7.2 has a client send it when the target URI has no authority.
bool is_host_field(std::string_view value) {
    std::string_view host, port;
    return split_host_port(value, host, port);
}

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
    return target.size() > max_target_bytes && all_of(target, [](char c) { return is_target_char(c); });
}

// field-line = field-name ":" OWS field-value OWS (RFC 9112 §5). `line` is
// not empty. Used for the head's headers and for chunked trailers alike.
Problem parse_field_line(std::string_view line, Header& out) {
    // obs-fold: a line that starts with whitespace continues the previous
    // one. RFC 9112 §5.2 lets a server reject it, and we do.
    if (is_space(line.front())) return {400, "obsolete line folding"};

    const size_t colon = skip_token(line, 0);
    // "Host : x" stops at the space, not at ':'; RFC 9112 §5.1 says 400,
    // because proxies disagree on what such a name means.
    if (colon == 0 || colon == line.size() || line[colon] != ':') return {400, "bad header name"};

    const std::string_view value = trim(line.substr(colon + 1));
    if (has_control(value)) return {400, "control character in header value"};
    out = Header{line.substr(0, colon), value};
    return {};
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

// ---- the chunked body -----------------------------------------------------

// quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE (RFC 9110 §5.6.4),
// starting at s[i] == '"'. Where it ends, or npos if it does not.
size_t skip_quoted_string(std::string_view s, size_t i) {
    for (++i; i < s.size(); ++i) {
        if (s[i] == '"') return i + 1;
        // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ): a value character.
        if (s[i] == '\\' && ++i == s.size()) break;
        if (!is_value_char(s[i])) break;  // qdtext: a value character too
    }
    return std::string_view::npos;
}

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
    failure_ = error(status, why);
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
            case State::Done: return complete(pos);
            case State::Failed: {
                Result r = failure_;
                r.consumed = pos;  // where in `in` the error was found (0 on a later call)
                return r;
            }
            case State::SizeLine:
            case State::TrailerLine:
                if (!on_line(in, pos)) return incomplete(pos);
                break;
            case State::Data: {
                const size_t n = std::min(chunk_left_, in.size() - pos);
                body.append(in.data() + pos, n);
                pos += n;
                chunk_left_ -= n;
                if (chunk_left_ > 0) return incomplete(pos);
                state_ = State::DataCR;
                break;
            }
            case State::DataCR:
            case State::DataLF:
                if (pos == in.size()) return incomplete(pos);
                on_data_end(in[pos++]);
                break;
        }
    }
}

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
        return in.size() > limits.max_head_bytes ? error(431, "request head too large") : incomplete();
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
    return complete(pos);
}

Result parse_chunked(std::string_view in, size_t max_body_bytes, std::string& body) {
    body.clear();
    ChunkedDecoder decoder(max_body_bytes);
    const Result r = decoder.feed(in, body);
    if (r.status == Parse::Complete) return r;
    body.clear();  // the caller will call again with more, or give up
    return r.status == Parse::Error ? error(r.error_status, r.error) : incomplete();
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
