// Unit tests for what http_parser makes of the request-target and Host:
// the four target forms and which methods may use them (RFC 9112 §3.2), the
// Host rules (RFC 9112 §3.2, RFC 9110 §7.2) with the RFC 3986 host grammar,
// and 414 for a long target (RFC 9112 §3). Tables of good heads, each also
// fed cut at every byte, and tables of bad ones with their status.
#include "check.h"
#include "protocol/http_parser.h"

#include <string>
#include <vector>

using namespace smooth::http;

namespace {

struct Good {
    const char* name;
    std::string head;
    std::string path, query, host;
    TargetForm form;
};

const std::vector<Good> kGood = {
    // origin-form: the host is the Host header's
    {"origin-form", "GET /a/b?c=d HTTP/1.1\r\nHost: example.com\r\n\r\n", "/a/b", "c=d", "example.com", TargetForm::Origin},
    // "//h/x" starts with '/': an absolute-path (two segments, the first empty), not an authority
    {"origin-form that looks scheme-relative", "GET //h/x HTTP/1.1\r\nHost: a\r\n\r\n", "//h/x", "", "a", TargetForm::Origin},
    {"origin-form, empty query", "GET /a? HTTP/1.1\r\nHost: a\r\n\r\n", "/a", "", "a", TargetForm::Origin},
    {"Host with a port", "GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n", "/", "", "example.com:8080", TargetForm::Origin},
    {"Host as an IPv4 address", "GET / HTTP/1.1\r\nHost: 127.0.0.1:80\r\n\r\n", "/", "", "127.0.0.1:80", TargetForm::Origin},
    {"Host as an IPv6 literal", "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", "/", "", "[::1]:8080", TargetForm::Origin},
    {"Host as a full IPv6 literal", "GET / HTTP/1.1\r\nHost: [2001:db8:0:0:0:0:2:1]\r\n\r\n", "/", "",
     "[2001:db8:0:0:0:0:2:1]", TargetForm::Origin},
    {"Host as IPv6 with IPv4 tail", "GET / HTTP/1.1\r\nHost: [::ffff:192.0.2.1]\r\n\r\n", "/", "", "[::ffff:192.0.2.1]",
     TargetForm::Origin},
    {"Host as IPvFuture", "GET / HTTP/1.1\r\nHost: [v1.fe80::a+en1]\r\n\r\n", "/", "", "[v1.fe80::a+en1]", TargetForm::Origin},
    {"Host with pct-encoding and sub-delims", "GET / HTTP/1.1\r\nHost: a%2Db-c_d~e!$&'()*+,;=\r\n\r\n", "/", "",
     "a%2Db-c_d~e!$&'()*+,;=", TargetForm::Origin},
    // RFC 9110 §7.2: a client sends an empty Host when the URI has no authority.
    {"empty Host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", "/", "", "", TargetForm::Origin},
    // RFC 3986 §3.2.3: port = *DIGIT, so an empty port is well formed.
    {"Host with an empty port", "GET / HTTP/1.1\r\nHost: a:\r\n\r\n", "/", "", "a:", TargetForm::Origin},
    {"Host trimmed of whitespace", "GET / HTTP/1.1\r\nHost: \t a.b \r\n\r\n", "/", "", "a.b", TargetForm::Origin},
    {"a reg-name that looks like a bad IPv4 address", "GET / HTTP/1.1\r\nHost: 1.2.3.999\r\n\r\n", "/", "", "1.2.3.999",
     TargetForm::Origin},
    {"HTTP/1.0 without Host", "GET /x HTTP/1.0\r\n\r\n", "/x", "", "", TargetForm::Origin},
    {"HTTP/1.0 with Host", "GET /x HTTP/1.0\r\nHost: h\r\n\r\n", "/x", "", "h", TargetForm::Origin},
    // absolute-form: the target's authority wins over Host (RFC 9112 §3.2.2)
    {"absolute-form", "GET http://example.com/x?y HTTP/1.1\r\nHost: example.com\r\n\r\n", "/x", "y", "example.com",
     TargetForm::Absolute},
    {"absolute-form wins over Host", "GET http://example.com/x HTTP/1.1\r\nHost: other.example\r\n\r\n", "/x", "",
     "example.com", TargetForm::Absolute},
    {"absolute-form, empty path is /", "GET http://example.com HTTP/1.1\r\nHost: example.com\r\n\r\n", "/", "",
     "example.com", TargetForm::Absolute},
    {"absolute-form, empty path with a query", "GET http://example.com?q HTTP/1.1\r\nHost: example.com\r\n\r\n", "/", "q",
     "example.com", TargetForm::Absolute},
    {"absolute-form, https, port", "GET https://example.com:8443/a/b HTTP/1.1\r\nHost: example.com:8443\r\n\r\n", "/a/b",
     "", "example.com:8443", TargetForm::Absolute},
    {"absolute-form, scheme in capitals", "GET HTTP://h/ HTTP/1.1\r\nHost: h\r\n\r\n", "/", "", "h", TargetForm::Absolute},
    {"absolute-form, IPv6", "GET http://[::1]:80/x HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", "/x", "", "[::1]:80",
     TargetForm::Absolute},
    {"absolute-form in HTTP/1.0 without Host", "GET http://h/x HTTP/1.0\r\n\r\n", "/x", "", "h", TargetForm::Absolute},
    {"absolute-form with OPTIONS", "OPTIONS http://h HTTP/1.1\r\nHost: h\r\n\r\n", "/", "", "h", TargetForm::Absolute},
    // authority-form: CONNECT only, and its target is the host
    {"CONNECT host:port", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", "", "",
     "example.com:443", TargetForm::Authority},
    {"CONNECT [IPv6]:port", "CONNECT [2001:db8::1]:443 HTTP/1.1\r\nHost: [2001:db8::1]:443\r\n\r\n", "", "",
     "[2001:db8::1]:443", TargetForm::Authority},
    // asterisk-form: OPTIONS only
    {"OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", "*", "", "h", TargetForm::Asterisk},
};

void test_good() {
    for (const Good& g : kGood) {
        Request r;
        Result res = parse_head(g.head, Limits{}, r);
        EXPECT_EQ_AT(res.status, Parse::Complete, g.name);
        EXPECT_EQ_AT(res.consumed, g.head.size(), g.name);
        EXPECT_EQ_AT(r.path, g.path, g.name);
        EXPECT_EQ_AT(r.query, g.query, g.name);
        EXPECT_EQ_AT(r.host, g.host, g.name);
        EXPECT_EQ_AT(r.target_form, g.form, g.name);
        for (size_t k = 0; k < g.head.size(); ++k) {
            const std::string at = std::string(g.name) + ", first " + std::to_string(k) + " bytes";
            res = parse_head(std::string_view(g.head).substr(0, k), Limits{}, r);
            EXPECT_EQ_AT(res.status, Parse::Incomplete, at);
        }
    }
}

// A request parsed after an absolute-form one on the same Request object
// does not inherit its host or form.
void test_reuse() {
    Request r;
    EXPECT_EQ(parse_head("GET http://a/x HTTP/1.1\r\nHost: a\r\n\r\n", Limits{}, r).status, Parse::Complete);
    EXPECT_EQ(parse_head("GET /y HTTP/1.0\r\n\r\n", Limits{}, r).status, Parse::Complete);
    EXPECT_EQ(r.host, "");
    EXPECT_EQ(r.target_form, TargetForm::Origin);
    EXPECT_EQ(r.path, "/y");
}

struct Bad {
    const char* name;
    std::string head;
    int status;
};

// Host lines on an origin-form GET.
std::string with_host(const std::string& host_lines) { return "GET / HTTP/1.1\r\n" + host_lines + "\r\n"; }

const std::vector<Bad> kBad = {
    // Host (RFC 9112 §3.2)
    {"HTTP/1.1 without Host", with_host(""), 400},
    {"HTTP/1.1 without Host, absolute-form", "GET http://h/ HTTP/1.1\r\n\r\n", 400},
    {"two Host lines", with_host("Host: a\r\nHost: a\r\n"), 400},
    {"two Host lines apart", with_host("Host: a\r\nX: y\r\nhost: b\r\n"), 400},
    {"two Host lines in HTTP/1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 400},
    {"Host a b", with_host("Host: a b\r\n"), 400},
    {"Host list", with_host("Host: a, b\r\n"), 400},
    {"Host with a path", with_host("Host: a/b\r\n"), 400},
    {"Host with userinfo", with_host("Host: user@a\r\n"), 400},
    {"Host with a letter in the port", with_host("Host: a:8o\r\n"), 400},
    {"Host with two ports", with_host("Host: a:1:2\r\n"), 400},
    {"Host with a bad pct-encoding", with_host("Host: a%2\r\n"), 400},
    {"Host with a non-hex pct-encoding", with_host("Host: a%zz\r\n"), 400},
    {"Host with UTF-8", with_host("Host: \xc3\xa9.example\r\n"), 400},
    {"invalid Host in HTTP/1.0", "GET / HTTP/1.0\r\nHost: a b\r\n\r\n", 400},
    {"invalid Host with an absolute-form target", "GET http://h/ HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
    {"IPv6 without brackets", with_host("Host: ::1\r\n"), 400},
    {"IPv6 without the closing bracket", with_host("Host: [::1\r\n"), 400},
    {"IPv6 with junk after the bracket", with_host("Host: [::1]x\r\n"), 400},
    {"IPv6 with two ::", with_host("Host: [1::2::3]\r\n"), 400},
    {"IPv6 with nine pieces", with_host("Host: [1:2:3:4:5:6:7:8:9]\r\n"), 400},
    {"IPv6 with seven pieces and no ::", with_host("Host: [1:2:3:4:5:6:7]\r\n"), 400},
    {"IPv6 with a five-digit piece", with_host("Host: [12345::]\r\n"), 400},
    {"IPv6 ending in one colon", with_host("Host: [1:2:3:4:5:6:7:]\r\n"), 400},
    {"IPv6 with a bad IPv4 tail", with_host("Host: [::1.2.3.256]\r\n"), 400},
    {"IPv6 with a leading-zero IPv4 tail", with_host("Host: [::1.2.3.04]\r\n"), 400},
    {"IPv6 with IPv4 not at the end", with_host("Host: [::1.2.3.4:1]\r\n"), 400},
    {"empty brackets", with_host("Host: []\r\n"), 400},
    {"IPvFuture without a version", with_host("Host: [v.x]\r\n"), 400},
    // request-target forms (RFC 9112 §3.2)
    {"relative path", "GET foo/bar HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"asterisk with GET", "GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"asterisk with a query", "OPTIONS *?x HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"CONNECT with a path", "CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"CONNECT with an absolute URI", "CONNECT http://a:443/ HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"CONNECT without a port", "CONNECT example.com HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"CONNECT with an empty port", "CONNECT example.com: HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"CONNECT without a host", "CONNECT :443 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"authority-form with GET", "GET example.com:80 HTTP/1.1\r\nHost: a\r\n\r\n", 400},
    {"scheme other than http", "GET ftp://h/x HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"urn", "GET urn:isbn:0451450523 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"http without //", "GET http:/x HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"http with an empty host", "GET http:///x HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"http with only a port", "GET http://:80/x HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"http with userinfo", "GET http://user:pw@h/x HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"http with a bad port", "GET http://h:x/ HTTP/1.1\r\nHost: h\r\n\r\n", 400},
    {"http with a fragment in the host", "GET http://h#f HTTP/1.1\r\nHost: h\r\n\r\n", 400},
};

void test_bad() {
    for (const Bad& b : kBad) {
        Request r;
        const Result res = parse_head(b.head, Limits{}, r);
        EXPECT_EQ_AT(res.status, Parse::Error, b.name);
        EXPECT_EQ_AT(res.error_status, b.status, b.name);
    }
}

// 414 (RFC 9112 §3) for a target over Limits::max_target_bytes, decided as
// soon as the target's first limit + 1 bytes are in, without waiting for the
// end of the line; 431 stays for a head over Limits::max_head_bytes.
void test_uri_too_long() {
    const Limits limits;  // 8000 for the target, 8192 for the head
    Request r;
    const auto head_with_target = [](size_t n) {
        return "GET /" + std::string(n - 1, 'a') + " HTTP/1.1\r\nHost: h\r\n\r\n";
    };

    // Exactly the limit is fine; one more is 414.
    EXPECT_EQ(parse_head(head_with_target(limits.max_target_bytes), limits, r).status, Parse::Complete);
    Result res = parse_head(head_with_target(limits.max_target_bytes + 1), limits, r);
    EXPECT_EQ(res.status, Parse::Error);
    EXPECT_EQ(res.error_status, 414);

    // A 9,000-byte URI, whole: 414, not 431.
    const std::string big = head_with_target(9000);
    EXPECT_EQ(parse_head(big, limits, r).error_status, 414);
    // And cut anywhere: Incomplete while no more than the limit of target has
    // arrived, 414 from the first byte over it, though the line is not over.
    const size_t target_start = 4;  // after "GET "
    for (size_t k = 0; k < big.size(); ++k) {
        res = parse_head(std::string_view(big).substr(0, k), limits, r);
        const bool over = k > target_start + limits.max_target_bytes;
        EXPECT_EQ_AT(res.status, over ? Parse::Error : Parse::Incomplete, std::to_string(k));
        if (over) EXPECT_EQ_AT(res.error_status, 414, std::to_string(k));
    }

    // The same with the absolute-form and with leading empty lines.
    res = parse_head("GET http://h/" + std::string(8000, 'a'), limits, r);
    EXPECT_EQ(res.error_status, 414);
    res = parse_head("\r\n\r\nPOST /" + std::string(8000, 'a'), limits, r);
    EXPECT_EQ(res.error_status, 414);

    // A short target and a long head is still 431, complete or not.
    const std::string long_header = "GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(9000, 'b');
    EXPECT_EQ(parse_head(long_header, limits, r).error_status, 431);
    EXPECT_EQ(parse_head(long_header + "\r\n\r\n", limits, r).error_status, 431);
    // A request line that is long after its target is 431 too (the head is too big).
    const std::string long_version = "GET / HTTP/1.1" + std::string(9000, 'x');
    EXPECT_EQ(parse_head(long_version, limits, r).error_status, 431);
    // Garbage with no request line in it: 431 once over the head limit, as before.
    EXPECT_EQ(parse_head(std::string(9000, 'x'), limits, r).error_status, 431);

    // The limit is the caller's.
    Limits small;
    small.max_target_bytes = 10;
    EXPECT_EQ(parse_head("GET /123456789 HTTP/1.1\r\nHost: h\r\n\r\n", small, r).status, Parse::Complete);
    EXPECT_EQ(parse_head("GET /1234567890 HTTP/1.1\r\nHost: h\r\n\r\n", small, r).error_status, 414);
    EXPECT_EQ(parse_head("GET /1234567890", small, r).error_status, 414);
    EXPECT_EQ(parse_head("GET /123456789", small, r).status, Parse::Incomplete);
    EXPECT_EQ(parse_head("GET /123456789 ", small, r).status, Parse::Incomplete);
}

}  // namespace

int main() {
    test_good();
    test_reuse();
    test_bad();
    test_uri_too_long();
    return check::summary("http_target");
}
