// test_http_response: the response head. A table of heads compared byte for
// byte (the Date value, which changes every second, replaced by "<date>"),
// the Date format itself, and the longest head fitting kMaxResponseHead.
#include "protocol/http_response.h"

#include "check.h"

#include <cstdint>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

using namespace smooth::http;

namespace {

constexpr size_t kDateLength = 29;  // "Sat, 21 Nov 2026 14:00:00 GMT"

// The head as a string, its Date value replaced by "<date>" (left alone, and
// so caught by the comparison, if it is not where it belongs).
std::string format_masked(const ResponseHead& head) {
    std::vector<char> out(kMaxResponseHead);
    const size_t n = format_response_head(head, out.data());
    std::string s(out.data(), n < out.size() ? n : out.size());
    const size_t at = s.find("\r\nDate: ");
    if (at != std::string::npos && at + 8 + kDateLength <= s.size()) s.replace(at + 8, kDateLength, "<date>");
    return s;
}

ResponseHead make(int status, const char* type, size_t length, bool close, int minor) {
    ResponseHead h;
    h.status = status;
    h.content_type = type;
    h.content_length = length;
    h.close = close;
    h.minor_version = minor;
    return h;
}

struct Case {
    const char* name;
    ResponseHead head;
    std::string want;
};

const std::vector<Case> kCases = {
    {"200 keep-alive HTTP/1.1: no Connection header", make(200, "text/plain", 42, false, 1),
     "HTTP/1.1 200 OK\r\nServer: smooth\r\nDate: <date>\r\nContent-Type: text/plain\r\n"
     "Content-Length: 42\r\n\r\n"},
    {"close", make(200, "text/plain", 42, true, 1),
     "HTTP/1.1 200 OK\r\nServer: smooth\r\nDate: <date>\r\nContent-Type: text/plain\r\n"
     "Content-Length: 42\r\nConnection: close\r\n\r\n"},
    {"HTTP/1.0 keep-alive is said explicitly", make(200, "text/plain", 42, false, 0),
     "HTTP/1.1 200 OK\r\nServer: smooth\r\nDate: <date>\r\nContent-Type: text/plain\r\n"
     "Content-Length: 42\r\nConnection: keep-alive\r\n\r\n"},
    {"HTTP/1.0 close: close only", make(200, "text/plain", 42, true, 0),
     "HTTP/1.1 200 OK\r\nServer: smooth\r\nDate: <date>\r\nContent-Type: text/plain\r\n"
     "Content-Length: 42\r\nConnection: close\r\n\r\n"},
    {"no content type", make(200, nullptr, 5, false, 1),
     "HTTP/1.1 200 OK\r\nServer: smooth\r\nDate: <date>\r\nContent-Length: 5\r\n\r\n"},
    {"404 reason phrase", make(404, "text/html; charset=utf-8", 9, false, 1),
     "HTTP/1.1 404 Not Found\r\nServer: smooth\r\nDate: <date>\r\nContent-Type: text/html; charset=utf-8\r\n"
     "Content-Length: 9\r\n\r\n"},
    {"content length 0", make(200, nullptr, 0, false, 1),
     "HTTP/1.1 200 OK\r\nServer: smooth\r\nDate: <date>\r\nContent-Length: 0\r\n\r\n"},
    // RFC 9110 §8.6: never a Content-Length on 204; none on 304 either (the
    // server cannot know the length a 200 would have had).
    {"204: no Content-Length", make(204, nullptr, 7, false, 1),
     "HTTP/1.1 204 No Content\r\nServer: smooth\r\nDate: <date>\r\n\r\n"},
    {"304: no Content-Length", make(304, "text/plain", 7, false, 1),
     "HTTP/1.1 304 Not Modified\r\nServer: smooth\r\nDate: <date>\r\nContent-Type: text/plain\r\n\r\n"},
    {"content length 10 GB", make(200, "application/octet-stream", 10000000000ull, false, 1),
     "HTTP/1.1 200 OK\r\nServer: smooth\r\nDate: <date>\r\nContent-Type: application/octet-stream\r\n"
     "Content-Length: 10000000000\r\n\r\n"},
    {"content length SIZE_MAX", make(200, nullptr, SIZE_MAX, true, 1),
     "HTTP/1.1 200 OK\r\nServer: smooth\r\nDate: <date>\r\nContent-Length: 18446744073709551615\r\n"
     "Connection: close\r\n\r\n"},
    {"400 on close", make(400, "text/plain", 12, true, 1),
     "HTTP/1.1 400 Bad Request\r\nServer: smooth\r\nDate: <date>\r\nContent-Type: text/plain\r\n"
     "Content-Length: 12\r\nConnection: close\r\n\r\n"},
    {"unknown status", make(599, nullptr, 0, false, 1),
     "HTTP/1.1 599 Unknown\r\nServer: smooth\r\nDate: <date>\r\nContent-Length: 0\r\n\r\n"},
};

void test_heads() {
    for (const Case& c : kCases) EXPECT_EQ_AT(format_masked(c.head), c.want, c.name);
}

void test_defaults() {
    // A default ResponseHead is a 200, kept alive, HTTP/1.1, empty.
    EXPECT_EQ(format_masked(ResponseHead{}),
              "HTTP/1.1 200 OK\r\nServer: smooth\r\nDate: <date>\r\nContent-Length: 0\r\n\r\n");
}

void test_returned_length() {
    // The length returned is the whole head and nothing more: bytes after it
    // are left as they were.
    std::vector<char> out(kMaxResponseHead, '#');
    const size_t n = format_response_head(make(200, "text/plain", 1, false, 1), out.data());
    EXPECT(n > 4 && n < kMaxResponseHead);
    if (n <= 4 || n >= kMaxResponseHead) return;
    EXPECT_EQ(std::string(out.data() + n - 4, 4), "\r\n\r\n");
    EXPECT_EQ(out[n], '#');
    // One CRLF CRLF only, at the end.
    EXPECT_EQ(std::string(out.data(), n).find("\r\n\r\n"), n - 4);
}

void test_longest_head_fits() {
    // The largest head the contract allows: a 255-byte content type, the
    // longest reason phrase, SIZE_MAX, and an explicit keep-alive. Written
    // into exactly kMaxResponseHead bytes so AddressSanitizer sees an overrun.
    const std::string type(255, 't');
    std::vector<char> out(kMaxResponseHead);
    const size_t n = format_response_head(make(431, type.c_str(), SIZE_MAX, false, 0), out.data());
    EXPECT(n <= kMaxResponseHead);
    const std::string head(out.data(), n <= kMaxResponseHead ? n : kMaxResponseHead);
    EXPECT(head.find("431 Request Header Fields Too Large\r\n") != std::string::npos);
    EXPECT(head.find("Content-Type: " + type + "\r\n") != std::string::npos);
    EXPECT(head.find("Connection: keep-alive\r\n\r\n") != std::string::npos);
}

void test_date_format() {
    const char* date = http_date();
    const std::string d = date;
    EXPECT_EQ(d.size(), kDateLength);
    EXPECT(d.size() >= 4 && d.compare(d.size() - 4, 4, " GMT") == 0);

    // RFC 7231 IMF-fixdate: it parses back field by field, and formatting the
    // parsed time again gives the same text (so the weekday fits the date).
    struct tm tm{};
    const char* end = strptime(date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    EXPECT(end != nullptr && *end == '\0');
    if (end == nullptr) return;
    const time_t parsed = timegm(&tm);
    struct tm again{};
    gmtime_r(&parsed, &again);
    char reformatted[40];
    std::strftime(reformatted, sizeof reformatted, "%a, %d %b %Y %H:%M:%S GMT", &again);
    EXPECT_EQ(std::string(reformatted), d);

    // English names and fixed positions, whatever the day: "Www, DD Mmm YYYY".
    static const char* const kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    EXPECT_EQ(d.substr(0, 3), std::string(kDays[again.tm_wday]));
    EXPECT_EQ(d[3], ',');
    EXPECT_EQ(d[4], ' ');
    EXPECT_EQ(d[7], ' ');
    EXPECT_EQ(d[11], ' ');
    EXPECT_EQ(d[16], ' ');
    EXPECT_EQ(d[19], ':');
    EXPECT_EQ(d[22], ':');

    // It is now (the cache is per second; allow for a second turning over).
    const time_t now = time(nullptr);
    EXPECT(parsed <= now && now - parsed <= 2);

    // The same buffer every call: the head copies from it, nothing allocates.
    EXPECT(http_date() == date);
}

void test_head_date_is_http_date() {
    const std::string before = http_date();
    std::vector<char> out(kMaxResponseHead);
    const size_t n = format_response_head(ResponseHead{}, out.data());
    const std::string head(out.data(), n);
    const std::string after = http_date();
    const size_t at = head.find("\r\nDate: ");
    EXPECT(at != std::string::npos);
    if (at == std::string::npos) return;
    const std::string in_head = head.substr(at + 8, kDateLength);
    EXPECT(in_head == before || in_head == after);
    EXPECT_EQ(head.substr(at + 8 + kDateLength, 2), "\r\n");
}

}  // namespace

int main() {
    test_heads();
    test_defaults();
    test_returned_length();
    test_longest_head_fits();
    test_date_format();
    test_head_date_is_http_date();
    return check::summary("http_response");
}
