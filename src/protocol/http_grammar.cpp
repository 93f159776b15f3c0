// http_grammar: see http_grammar.h. What is here is longer than a loop:
// numbers, quoted strings, the host forms of RFC 3986 and the field line.
#include "protocol/http_grammar.h"

#include <cstdint>
#include <cstring>

namespace smooth::http::grammar {

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

// quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE (RFC 9110 §5.6.4).
size_t skip_quoted_string(std::string_view s, size_t i) {
    for (++i; i < s.size(); ++i) {
        if (s[i] == '"') return i + 1;
        // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ): a value character.
        if (s[i] == '\\' && ++i == s.size()) break;
        if (!is_value_char(s[i])) break;  // qdtext: a value character too
    }
    return std::string_view::npos;
}

// ---- hosts ----------------------------------------------------------------

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
    const std::string_view rest = s.substr(dot + 1);
    return std::all_of(rest.begin(), rest.end(),
                       [](char c) { return c == ':' || kRegName[static_cast<unsigned char>(c)]; });
}

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

// A reg-name cannot hold ':' and an IP-literal ends at ']', so the port's
// colon is never in doubt. port = *DIGIT: "host:" is well formed (RFC 3986
// §3.2.3 says it means the default port).
bool split_host_port(std::string_view s, std::string_view& host, std::string_view& port) {
    const size_t host_end = s.starts_with('[') ? std::min(s.find(']'), s.size() - 1) + 1 : std::min(s.find(':'), s.size());
    host = s.substr(0, host_end);
    port = host_end < s.size() ? s.substr(host_end + 1) : std::string_view();
    if (host_end < s.size() && s[host_end] != ':') return false;
    if (!std::all_of(port.begin(), port.end(), [](char c) { return is_digit(c); })) return false;
    return host.starts_with('[') ? is_ip_literal(host) : is_reg_name(host);
}

// Empty is a valid value: RFC 9110 §7.2 has a client send it when the
// target URI has no authority.
bool is_host_field(std::string_view value) {
    std::string_view host, port;
    return split_host_port(value, host, port);
}

// ---- field lines ----------------------------------------------------------

// This is the parser's hottest loop (User-Agent and Cookie are long), so it
// tests eight bytes at a time with the "has a byte less than n" trick from
// the Bit Twiddling Hacks: subtracting 0x20 from every byte borrows into the
// top bit of exactly those bytes below 0x20. Only a word that may hold one (a
// tab also does, and is allowed) is looked at byte by byte.
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

}  // namespace smooth::http::grammar
