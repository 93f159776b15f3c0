// http_grammar: the small pieces of the HTTP grammar that the head parser
// (http_parser) and the chunked decoder (chunked_decoder) are built from.
//
// Each is a pure function over bytes that answers one question of RFC 9110,
// RFC 9112 or RFC 3986 ("is this a token?", "is this a valid Host?", "is
// this a field line?"): no state, no allocation, no I/O. The one-byte
// classes and the short loops are inline here because the parsers call them
// for every byte; the rest is in http_grammar.cpp.
//
// The rule each function implements is named in the line above it; the
// notation is the RFC's ABNF (RFC 5234): "1*DIGIT" is one or more digits,
// "*( A / B )" any number of A or B.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <string_view>

namespace smooth::http {

// field-line = field-name ":" OWS field-value OWS (RFC 9112 §5), split:
// what a header and a trailer both are.
struct Header {
    std::string_view name;
    std::string_view value;  // leading and trailing spaces/tabs removed
};

namespace grammar {

// What a check found wrong: nothing (status 0), or the status to answer
// with and a short reason for the log.
struct Problem {
    int status = 0;
    const char* why = "";
    explicit operator bool() const { return status != 0; }
};

// ---- one byte (RFC 9110 §5.6.2, §5.5; RFC 9112 §3.2; RFC 3986; RFC 5234 B.1)

namespace detail {
constexpr bool is_alnum(unsigned c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
constexpr std::array<bool, 256> table_of(std::string_view symbols) {
    std::array<bool, 256> t{};
    for (unsigned c = 0; c < 256; ++c) t[c] = is_alnum(c) || symbols.find(char(c)) != std::string_view::npos;
    return t;
}
}  // namespace detail

// Tables, because these rules are lists of symbols rather than ranges.
// tchar (RFC 9110 §5.6.2): what a method or a field name is made of.
inline constexpr std::array<bool, 256> kToken = detail::table_of("!#$%&'*+-.^_`|~");
// unreserved / sub-delims (RFC 3986 §3.2.2): a reg-name besides pct-encoded;
// an IPv4 address is one too.
inline constexpr std::array<bool, 256> kRegName = detail::table_of("-._~!$&'()*+,;=");

// tchar (RFC 9110 §5.6.2).
constexpr bool is_token_char(char c) { return kToken[static_cast<unsigned char>(c)]; }
// request-target (RFC 9112 §3.2): anything visible. Bytes >= 0x80 are let
// through, as nginx does, because UTF-8 paths are common in the wild; SP and
// controls end it.
constexpr bool is_target_char(char c) { return static_cast<unsigned char>(c) > 0x20 && c != 0x7f; }
// field-vchar / SP / HTAB (RFC 9110 §5.5), obs-text included: no other
// control (a bare CR or LF inside a value is how header injection starts).
constexpr bool is_value_char(char c) { return (static_cast<unsigned char>(c) >= 0x20 && c != 0x7f) || c == '\t'; }
// OWS = *( SP / HTAB ) (RFC 9110 §5.6.3): one of its bytes.
constexpr bool is_space(char c) { return c == ' ' || c == '\t'; }
// DIGIT (RFC 5234 B.1).
constexpr bool is_digit(char c) { return c >= '0' && c <= '9'; }
// ASCII lower case: tokens, schemes and hosts compare case-insensitively (RFC 9110 §5.1, §4.2.3).
constexpr char lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }
// HEXDIG (RFC 5234 B.1, either case): its value, or -1.
constexpr int hex_value(char c) {
    c = lower(c);
    return is_digit(c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

// ---- runs of bytes --------------------------------------------------------

// Case-insensitive ASCII equality, for tokens (RFC 9110 §5.1: field names,
// codings and connection options are case-insensitive).
inline bool equals_ignoring_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}
// 1*HEXDIG, or empty.
inline bool all_hex(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return hex_value(c) >= 0; });
}
// OWS field-value OWS (RFC 9110 §5.5): the value without the OWS around it.
inline std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}
// OWS / BWS (RFC 9110 §5.6.3) from s[i]: where it ends.
inline size_t skip_spaces(std::string_view s, size_t i) {
    while (i < s.size() && is_space(s[i])) ++i;
    return i;
}
// token = 1*tchar (RFC 9110 §5.6.2) from s[i]: where it ends (i if none).
inline size_t skip_token(std::string_view s, size_t i) {
    while (i < s.size() && is_token_char(s[i])) ++i;
    return i;
}

// #element (RFC 9110 §5.6.1): calls f(element) for each element of a
// comma-separated list, trimmed; empty elements ("a, , b") are skipped as
// the RFC allows.
template <typename F>
void for_each_element(std::string_view list, F&& f) {
    while (!list.empty()) {
        const size_t comma = std::min(list.find(','), list.size());
        const std::string_view element = trim(list.substr(0, comma));
        if (!element.empty()) f(element);
        list.remove_prefix(std::min(comma + 1, list.size()));
    }
}

// 1*DIGIT (RFC 9110 §8.6) without overflow; false for anything else
// ("+5", "5 ", "0x5", "").
bool parse_decimal(std::string_view s, size_t& out);

// quoted-string (RFC 9110 §5.6.4) starting at s[i] == '"': where it ends,
// or npos if it does not.
size_t skip_quoted_string(std::string_view s, size_t i);

// ---- hosts: uri-host [ ":" port ] (RFC 3986 §3.2.2, §3.2.3) ----------------

// IPv4address (RFC 3986 §3.2.2): four dec-octets 0-255, no leading zeros.
bool is_ipv4(std::string_view s);
// IPv6address (RFC 3986 §3.2.2): eight h16 pieces, one "::", an IPv4 tail.
bool is_ipv6(std::string_view s);
// IP-literal = "[" ( IPv6address / IPvFuture ) "]" (RFC 3986 §3.2.2).
bool is_ip_literal(std::string_view s);
// reg-name = *( unreserved / pct-encoded / sub-delims ) (RFC 3986 §3.2.2): may be empty.
bool is_reg_name(std::string_view s);
// uri-host [ ":" port ] (RFC 3986 §3.2.2, §3.2.3): split and both checked;
// `port` is empty when there is none.
bool split_host_port(std::string_view s, std::string_view& host, std::string_view& port);
// Host = uri-host [ ":" port ] (RFC 9110 §7.2); empty is valid.
bool is_host_field(std::string_view value);

// ---- field lines (RFC 9112 §5) ----------------------------------------------

// Whether `s` holds a byte no field-value may hold (RFC 9110 §5.5).
bool has_control(std::string_view s);
// field-line = field-name ":" OWS field-value OWS (RFC 9112 §5), for the
// head's headers and chunked trailers alike. `line` is not empty and has no
// line ending.
Problem parse_field_line(std::string_view line, Header& out);

}  // namespace grammar
}  // namespace smooth::http
