// test_access_log: the access log's line (its fields, nginx's escaping, the
// cut of a long request line) and its buffer (whole lines per write, a
// write when full, at flush and before a reopen; none lost, none split).
#include <fcntl.h>
#include <string>
#include <unistd.h>

#include "check.h"
#include "worker/access_log.h"

using namespace smooth;

namespace {

std::string line_of(const AccessEntry& e) {
    char out[AccessLog::kMaxLine];
    size_t n = format_access_line(e, "2026-11-21T14:00:00.123+0100", out);
    EXPECT(n <= AccessLog::kMaxLine);
    return std::string(out, n);
}

void test_line() {
    AccessEntry e{"127.0.0.1:51234", "GET /cart?id=7 HTTP/1.1", 200, 43, 3, 4133, "hello 2"};
    EXPECT_EQ(line_of(e), std::string("2026-11-21T14:00:00.123+0100 127.0.0.1:51234 \"GET /cart?id=7 HTTP/1.1\" 200 43 "
                                      "0.003 4133 \"hello 2\"\n"));
    AccessEntry s{"127.0.0.1:1", "TEXT", 0, 96, 9412, 7, "echo 1"};
    EXPECT_EQ(line_of(s), std::string("2026-11-21T14:00:00.123+0100 127.0.0.1:1 \"TEXT\" - 96 9.412 7 \"echo 1\"\n"));
    // Escaped as nginx does: the line stays one line, whatever came.
    AccessEntry bad{"p", std::string_view("GET /\"\\\x01\n\xff", 10), 400, 0, 0, 1, "v"};
    EXPECT_EQ(line_of(bad), std::string("2026-11-21T14:00:00.123+0100 p \"GET /\\\"\\\\\\x01\\x0A\\xFF\" 400 0 0.000 1 \"v\"\n"));
    // A request line past kMaxTarget is cut, and says so.
    std::string huge(20000, 'a');
    AccessEntry big{"p", huge, 414, 0, 0, 1, "v"};
    std::string l = line_of(big);
    EXPECT(l.size() < AccessLog::kMaxLine);
    EXPECT(l.find("aaa...\" 414 ") != std::string::npos);
    EXPECT_EQ(l.back(), '\n');
}

std::string read_all(const char* path) {
    std::string s;
    int fd = ::open(path, O_RDONLY);
    char buf[65536];
    for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) s.append(buf, size_t(n));
    ::close(fd);
    return s;
}

size_t lines_in(const std::string& s) {
    size_t n = 0;
    for (char c : s) n += c == '\n';
    return n;
}

void test_buffer() {
    char a_path[] = "/tmp/test_access_a_XXXXXX";
    char b_path[] = "/tmp/test_access_b_XXXXXX";
    int a = mkstemp(a_path), b = mkstemp(b_path);
    {
        AccessLog log{Fd(a)};
        AccessEntry e{"127.0.0.1:51234", "GET / HTTP/1.1", 200, 43, 0, 1, "hello 1"};
        log.add(e, 1000);
        EXPECT_EQ(read_all(a_path), std::string());  // buffered
        // Past the buffer's bound: written, whole lines only.
        size_t n = 1;
        while (read_all(a_path).empty()) {
            log.add(e, 1000);
            n++;
            EXPECT(log.buffered() <= AccessLog::kBufferBytes);
        }
        std::string written = read_all(a_path);
        EXPECT_EQ(written.back(), '\n');
        EXPECT(lines_in(written) + lines_in(std::string(log.buffered(), ' ')) >= 1);
        // Before a reopen, what is buffered goes to the old file.
        log.add(e, 1000);
        n++;
        log.reopen(Fd(b));
        log.add(e, 2000);
        log.flush();
        EXPECT_EQ(lines_in(read_all(a_path)), n);
        EXPECT_EQ(lines_in(read_all(b_path)), size_t(1));
    }
    unlink(a_path);
    unlink(b_path);
}

}  // namespace

int main() {
    test_line();
    test_buffer();
    return check::summary("test_access_log");
}
