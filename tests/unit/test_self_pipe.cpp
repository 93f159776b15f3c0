// test_self_pipe: signals as bytes in a pipe. raise() runs the handler before
// it returns (one thread), so each test raises, then reads and compares. The
// handler must never block and never change errno; a forked child must get its
// default actions back. alarm() is the watchdog: a handler that blocked would
// hang, and SIGALRM's default action ends the test with a failure instead.
#include "core/self_pipe.h"

#include "check.h"

#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

using namespace smooth;

namespace {

std::string show(const std::vector<int>& v) {
    std::string s = "{";
    for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
    return s + "}";
}

// What the process does now for sig.
struct sigaction current_action(int sig) {
    struct sigaction old{};
    sigaction(sig, nullptr, &old);
    return old;
}

bool is_default(int sig) { return current_action(sig).sa_handler == SIG_DFL; }

// Writes into the pipe until it is full; returns how many bytes that took.
size_t fill(int fd) {
    static const char block[4096] = {};
    size_t total = 0;
    for (;;) {
        ssize_t n = ::write(fd, block, sizeof block);
        if (n > 0) {
            total += size_t(n);
            continue;
        }
        if (n == -1 && errno == EAGAIN) {
            // A pipe takes whole pages when it can: top up byte by byte.
            while (::write(fd, block, 1) == 1) ++total;
            return total;
        }
        return total;  // anything else: the checks that follow will say so
    }
}

void test_open() {
    SelfPipe pipe;
    EXPECT_EQ(pipe.open({SIGUSR1, SIGUSR2}), "");
    EXPECT(pipe.read_fd() >= 0);
    EXPECT(pipe.write_fd() >= 0);
    // Both ends non-blocking (the handler never blocks, the loop reads until
    // EAGAIN) and close-on-exec.
    for (int fd : {pipe.read_fd(), pipe.write_fd()}) {
        const std::string at = "fd " + std::to_string(fd);
        EXPECT_EQ_AT((fcntl(fd, F_GETFL) & O_NONBLOCK) != 0, true, at);
        EXPECT_EQ_AT((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0, true, at);
    }
    // The handler is installed with every signal blocked while it runs, and
    // interrupted calls restart.
    for (int sig : {SIGUSR1, SIGUSR2}) {
        const struct sigaction a = current_action(sig);
        const std::string at = signal_name(sig);
        EXPECT_EQ_AT(a.sa_handler != SIG_DFL && a.sa_handler != SIG_IGN, true, at);
        EXPECT_EQ_AT((a.sa_flags & SA_RESTART) != 0, true, at);
        EXPECT_EQ_AT(sigismember(&a.sa_mask, SIGTERM), 1, at);
        EXPECT_EQ_AT(sigismember(&a.sa_mask, sig == SIGUSR1 ? SIGUSR2 : SIGUSR1), 1, at);
    }
}

void test_raise_and_read_in_order() {
    SelfPipe pipe;
    EXPECT_EQ(pipe.open({SIGUSR1, SIGUSR2}), "");
    EXPECT_EQ(raise(SIGUSR1), 0);
    EXPECT_EQ(raise(SIGUSR2), 0);
    EXPECT_EQ(raise(SIGUSR1), 0);
    const std::vector<int> got = pipe.read_signals();
    const std::vector<int> want = {SIGUSR1, SIGUSR2, SIGUSR1};
    EXPECT_EQ_AT(got == want, true, "got " + show(got) + ", want " + show(want));
    // Read: the next read has nothing.
    EXPECT(pipe.read_signals().empty());
}

void test_reading_empty_does_not_block() {
    SelfPipe pipe;
    EXPECT_EQ(pipe.open({SIGUSR1}), "");
    alarm(5);
    EXPECT(pipe.read_signals().empty());
    EXPECT(pipe.read_signals().empty());
    alarm(0);
}

void test_errno_preserved() {
    SelfPipe pipe;
    EXPECT_EQ(pipe.open({SIGUSR1, SIGUSR2}), "");

    // The handler's write succeeds.
    errno = EDOM;
    raise(SIGUSR1);
    EXPECT_EQ(errno, EDOM);

    // The handler's write fails (EAGAIN, the pipe is full): this is where a
    // handler that did not save errno would hand EAGAIN to the code it
    // interrupted.
    const size_t filled = fill(pipe.write_fd());
    EXPECT(filled > 0);
    alarm(5);
    errno = ERANGE;
    raise(SIGUSR2);
    EXPECT_EQ(errno, ERANGE);
    alarm(0);

    // The pipe holds the first signal's byte and the filler; the second
    // signal's byte had no room and is dropped (the pipe is a wake-up, not a
    // count).
    const std::vector<int> got = pipe.read_signals();
    EXPECT_EQ(got.size(), filled + 1);
    if (!got.empty()) EXPECT_EQ(got.front(), SIGUSR1);
}

void test_many_signals() {
    SelfPipe pipe;
    EXPECT_EQ(pipe.open({SIGUSR1, SIGUSR2}), "");
    alarm(5);
    std::vector<int> want;
    for (int i = 0; i < 100; ++i) {
        const int sig = i % 3 == 0 ? SIGUSR2 : SIGUSR1;
        raise(sig);
        want.push_back(sig);
    }
    const std::vector<int> got = pipe.read_signals();
    EXPECT_EQ(got.size(), size_t(100));
    EXPECT(got == want);

    // 100 more into a full pipe: every handler returns at once.
    const size_t filled = fill(pipe.write_fd());
    for (int i = 0; i < 100; ++i) raise(SIGUSR1);
    alarm(0);
    EXPECT_EQ(pipe.read_signals().size(), filled);
}

void test_close_in_child() {
    SelfPipe pipe;
    EXPECT_EQ(pipe.open({SIGUSR1, SIGUSR2}), "");

    // The child reports what it finds as bits of its exit status.
    pid_t pid = fork();
    EXPECT(pid != -1);
    if (pid == 0) {
        pipe.close_in_child();
        int bad = 0;
        if (!is_default(SIGUSR1)) bad |= 1;
        if (!is_default(SIGUSR2)) bad |= 2;
        if (pipe.read_fd() != -1 || pipe.write_fd() != -1) bad |= 4;
        _exit(bad);
    }
    int status = 0;
    EXPECT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT(WIFEXITED(status));
    EXPECT_EQ_AT(WEXITSTATUS(status), 0, "bits: 1 SIGUSR1 not SIG_DFL, 2 SIGUSR2 not SIG_DFL, 4 ends still open");

    // The parent keeps its handlers.
    EXPECT(!is_default(SIGUSR1));
    EXPECT(!is_default(SIGUSR2));

    // A child's signal after close_in_child takes the default action (SIGUSR1
    // terminates) and writes nothing into the parent's pipe.
    pid = fork();
    EXPECT(pid != -1);
    if (pid == 0) {
        pipe.close_in_child();
        raise(SIGUSR1);
        _exit(0);  // not reached when the default action is in place
    }
    EXPECT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT(WIFSIGNALED(status));
    if (WIFSIGNALED(status)) EXPECT_EQ(WTERMSIG(status), SIGUSR1);
    EXPECT(pipe.read_signals().empty());

    // Without close_in_child, the child's signal lands in the shared pipe:
    // the leak close_in_child exists to stop.
    pid = fork();
    EXPECT(pid != -1);
    if (pid == 0) {
        raise(SIGUSR2);
        _exit(0);
    }
    EXPECT_EQ(waitpid(pid, &status, 0), pid);
    EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    const std::vector<int> leaked = pipe.read_signals();
    EXPECT_EQ_AT(leaked == std::vector<int>{SIGUSR2}, true, "got " + show(leaked));
}

void test_destructor_restores_defaults() {
    {
        SelfPipe pipe;
        EXPECT_EQ(pipe.open({SIGUSR1}), "");
        EXPECT(!is_default(SIGUSR1));
    }
    EXPECT(is_default(SIGUSR1));
}

void test_sigchld_stops_not_reported() {
    SelfPipe pipe;
    EXPECT_EQ(pipe.open({SIGCHLD}), "");
    // Exits only: a stopped child is not a reason to wake the master.
    EXPECT((current_action(SIGCHLD).sa_flags & SA_NOCLDSTOP) != 0);
    pid_t pid = fork();
    EXPECT(pid != -1);
    if (pid == 0) _exit(0);
    int status = 0;
    EXPECT_EQ(waitpid(pid, &status, 0), pid);
    const std::vector<int> got = pipe.read_signals();
    EXPECT_EQ_AT(got == std::vector<int>{SIGCHLD}, true, "got " + show(got));
}

void test_signal_name() {
    struct Case {
        int sig;
        const char* want;
    };
    const Case cases[] = {
        {SIGQUIT, "SIGQUIT"}, {SIGTERM, "SIGTERM"}, {SIGCHLD, "SIGCHLD"},
        {SIGUSR1, "SIGUSR1"}, {SIGHUP, "SIGHUP"},   {200, "signal 200"},
    };
    for (const Case& c : cases) EXPECT_EQ_AT(signal_name(c.sig), c.want, std::to_string(c.sig));
}

}  // namespace

int main() {
    test_open();
    test_raise_and_read_in_order();
    test_reading_empty_does_not_block();
    test_errno_preserved();
    test_many_signals();
    test_close_in_child();
    test_destructor_restores_defaults();
    test_sigchld_stops_not_reported();
    test_signal_name();
    return check::summary("self_pipe");
}
