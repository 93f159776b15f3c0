#include "core/log.h"

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <sys/time.h>
#include <unistd.h>

#include "core/fd.h"  // errno_text

namespace smooth::log {
namespace {

std::string g_role = "smooth";
int g_fd = 2;

void vline(const char* level, const char* fmt, va_list args) {
    char message[2048];
    std::vsnprintf(message, sizeof message, fmt, args);
    write_line(level, message);
}

}  // namespace

void set_role(const std::string& role) { g_role = role; }
void set_output(int fd) { g_fd = fd; }

void write_line(const char* level, const char* message) {
    // The errno of the caller survives logging: log lines sit between a failed
    // call and the code that reports its errno.
    int saved_errno = errno;
    struct timeval tv;
    gettimeofday(&tv, nullptr);
    struct tm tm;
    localtime_r(&tv.tv_sec, &tm);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);

    char line[2304];
    int n = std::snprintf(line, sizeof line, "%s.%03ld [%s %d] %s%s\n", stamp, long(tv.tv_usec / 1000),
                          g_role.c_str(), int(getpid()), level, message);
    if (n < 0) n = 0;
    if (size_t(n) >= sizeof line) {  // cut, but keep the newline
        n = sizeof line - 1;
        line[n - 1] = '\n';
    }
    ssize_t r;
    do r = ::write(g_fd, line, size_t(n));
    while (r == -1 && errno == EINTR);
    errno = saved_errno;
}

void info(const char* fmt, ...) {
    va_list args;
    va_start(args, fmt);
    vline("", fmt, args);
    va_end(args);
}

void warn(const char* fmt, ...) {
    va_list args;
    va_start(args, fmt);
    vline("warning: ", fmt, args);
    va_end(args);
}

void error(const char* fmt, ...) {
    va_list args;
    va_start(args, fmt);
    vline("error: ", fmt, args);
    va_end(args);
}

}  // namespace smooth::log
