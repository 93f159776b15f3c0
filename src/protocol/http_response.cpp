#include "protocol/http_response.h"

#include <charconv>
#include <cstring>
#include <ctime>

#include "protocol/http_parser.h"

namespace smooth::http {

const char* http_date() {
    // One process, one thread: a static cache needs no lock.
    static time_t cached_second = 0;
    static char cached[40];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME_COARSE, &now);
    if (now.tv_sec != cached_second) {
        struct tm tm;
        gmtime_r(&now.tv_sec, &tm);
        std::strftime(cached, sizeof cached, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        cached_second = now.tv_sec;
    }
    return cached;
}

namespace {

char* put(char* p, const char* s) {
    size_t n = std::strlen(s);
    std::memcpy(p, s, n);
    return p + n;
}

char* put_number(char* p, size_t value) { return std::to_chars(p, p + 24, value).ptr; }

}  // namespace

size_t format_response_head(const ResponseHead& head, char* out) {
    char* p = out;
    p = put(p, "HTTP/1.1 ");
    p = put_number(p, size_t(head.status));
    *p++ = ' ';
    p = put(p, reason_phrase(head.status));
    p = put(p, "\r\nServer: smooth\r\nDate: ");
    p = put(p, http_date());
    if (head.content_type) {
        p = put(p, "\r\nContent-Type: ");
        p = put(p, head.content_type);
    }
    if (status_has_length(head.status)) {
        p = put(p, "\r\nContent-Length: ");
        p = put_number(p, head.content_length);
    }
    if (head.close)
        p = put(p, "\r\nConnection: close");
    else if (head.minor_version == 0)
        p = put(p, "\r\nConnection: keep-alive");
    p = put(p, "\r\n\r\n");
    return size_t(p - out);
}

}  // namespace smooth::http
