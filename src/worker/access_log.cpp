// access_log: see access_log.h.
#include "worker/access_log.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <unistd.h>

#include "core/log.h"

namespace smooth {

namespace {

// As nginx escapes a logged request line: the quote and backslash, and every
// byte outside printable ASCII, so a line is always one line of text.
size_t escape_into(std::string_view in, char* out, size_t room) {
    static const char kHex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (size_t i = 0; i < in.size(); i++) {
        unsigned char c = static_cast<unsigned char>(in[i]);
        size_t need = (c == '"' || c == '\\') ? 2 : (c < 0x20 || c >= 0x7f) ? 4 : 1;
        if (n + need > room) {
            std::memcpy(out + n, "...", 3);  // room keeps 3 for this
            return n + 3;
        }
        if (need == 1) {
            out[n++] = char(c);
        } else if (need == 2) {
            out[n++] = '\\';
            out[n++] = char(c);
        } else {
            out[n++] = '\\';
            out[n++] = 'x';
            out[n++] = kHex[c >> 4];
            out[n++] = kHex[c & 15];
        }
    }
    return n;
}

}  // namespace

size_t format_access_line(const AccessEntry& e, std::string_view time, char* out) {
    size_t n = 0;
    auto put = [&](std::string_view s) {
        s = s.substr(0, AccessLog::kMaxLine - 400 - n);  // (the fields around the request are short)
        std::memcpy(out + n, s.data(), s.size());
        n += s.size();
    };
    put(time);
    put(" ");
    put(e.peer.substr(0, 64));
    put(" \"");
    n += escape_into(e.request, out + n, AccessLog::kMaxTarget - 3);
    char tail[320];
    char status[8] = "-";
    if (e.status > 0) std::snprintf(status, sizeof status, "%d", e.status % 1000);
    int t = std::snprintf(tail, sizeof tail, "\" %s %llu %lld.%03lld %d \"", status,
                          static_cast<unsigned long long>(e.bytes), static_cast<long long>(e.duration_ms / 1000),
                          static_cast<long long>(e.duration_ms % 1000), int(e.pid));
    put(std::string_view(tail, size_t(t)));
    n += escape_into(e.version.substr(0, 64), out + n, 200);
    put("\"\n");
    return n;
}

std::string_view AccessLog::time_text(int64_t wall_ms) {
    const int64_t second = wall_ms / 1000;
    if (second != second_) {  // strftime once a second, as the Date header
        second_ = second;
        time_t t = time_t(second);
        struct tm tm;
        localtime_r(&t, &tm);
        stamp_len_ = std::strftime(stamp_, sizeof stamp_, "%Y-%m-%dT%H:%M:%S", &tm);
        std::strftime(zone_, sizeof zone_, "%z", &tm);
    }
    static thread_local char text[64];
    int n = std::snprintf(text, sizeof text, "%.*s.%03d%s", int(stamp_len_), stamp_, int(wall_ms % 1000), zone_);
    return std::string_view(text, size_t(n));
}

void AccessLog::add(const AccessEntry& e, int64_t wall_ms) {
    char line[kMaxLine];
    size_t n = format_access_line(e, time_text(wall_ms), line);
    if (buf_.size() + n > kBufferBytes) flush();
    if (buf_.capacity() < kBufferBytes) buf_.reserve(kBufferBytes);  // once: no growth while serving
    buf_.append(line, n);
}

void AccessLog::flush() {
    size_t done = 0;
    while (done < buf_.size() && fd_) {
        ssize_t n = ::write(fd_.get(), buf_.data() + done, buf_.size() - done);
        if (n == -1 && errno == EINTR) continue;
        if (n <= 0) {
            // Disk full, a file system gone read-only: the lines are dropped
            // (a worker must not hold them forever), and the log says so.
            size_t lost = 0;
            for (size_t i = done; i < buf_.size(); i++) lost += buf_[i] == '\n';
            dropped_ += lost;
            log::error("access log: write() failed: %s; %zu lines dropped (%llu so far)",
                       errno_text(n == -1 ? errno : EIO).c_str(), lost, static_cast<unsigned long long>(dropped_));
            break;
        }
        done += size_t(n);  // a short write (a signal, a full disk): the rest follows at once
    }
    buf_.clear();
}

void AccessLog::reopen(Fd fd) {
    flush();
    fd_ = std::move(fd);
}

}  // namespace smooth
