// module_trial: see module_trial.h.
#include "master/module_trial.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/fd.h"
#include "core/fork.h"
#include "worker/module_loader.h"

namespace smooth {

namespace {

constexpr size_t kMaxReport = 4096;  // what the child may say; dlerror() text is far shorter

// In the child: load, say how it went on `report`, exit. Never returns.
[[noreturn]] void load_in_child(const std::string& spec, int report) {
    // Keep stdin, stdout, stderr and the report pipe; close what the parent
    // holds (listeners, channels, its self-pipe): a module's constructor
    // cannot touch them, and a child killed at the deadline holds nothing.
    // (stdio is open in both the CLI and the daemon, so `report` is 3 or above.)
    if ((report != 3 && dup2(report, 3) == -1) || close_range(4, ~0u, 0) == -1) _exit(2);
    LoadedModule m;
    std::string error = load_module(spec, m);
    std::string text = m.api ? std::string("ok ") + (m.api->name ? m.api->name : "?") + " version " +
                                   (m.api->version ? m.api->version : "?")
                             : error;
    text.resize(std::min(text.size(), kMaxReport));
    // The parent reads to EOF; a short write only shortens the reason.
    ssize_t n;
    do n = ::write(3, text.data(), text.size());
    while (n == -1 && errno == EINTR);
    _exit(m.api ? 0 : 1);
}

}  // namespace

std::string try_loading_module(const std::string& spec, int timeout_ms, std::string& loaded) {
    int ends[2];
    if (pipe2(ends, O_CLOEXEC) == -1) return "pipe2() failed: " + errno_text(errno);
    Fd from_child(ends[0]), to_parent(ends[1]);

    // Signals stay blocked in the child for good (core/fork.h): none can run
    // the parent's handlers there. A fault while loading (SIGBUS, SIGSEGV)
    // still kills it: the kernel does not let a blocked fault signal be.
    pid_t pid = 0;
    if (std::string err = fork_child(
            [&](const sigset_t&) {
                from_child.reset();
                load_in_child(spec, to_parent.release());
            },
            pid);
        !err.empty())
        return err;
    to_parent.reset();  // the child's copy is the only one: EOF when it exits

    // Its report, until EOF or the deadline.
    std::string text;
    bool overran = false;
    int64_t deadline = monotonic_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - monotonic_ms();
        pollfd p{from_child.get(), POLLIN, 0};
        int rc = left > 0 ? poll(&p, 1, int(left)) : 0;
        if (rc == -1 && errno == EINTR) continue;
        if (rc == 0) {
            overran = true;
            break;
        }
        char chunk[1024];
        ssize_t n = rc == -1 ? -1 : ::read(from_child.get(), chunk, sizeof chunk);
        if (n == -1 && errno == EINTR) continue;
        if (n <= 0) break;  // EOF: it has exited (or a read error: its status says enough)
        if (text.size() < kMaxReport) text.append(chunk, size_t(n));
    }
    if (overran && ::kill(pid, SIGKILL) == -1 && errno != ESRCH)
        return "kill(" + std::to_string(pid) + ", SIGKILL) failed: " + errno_text(errno);
    int status = 0;
    pid_t reaped;
    do reaped = waitpid(pid, &status, 0);
    while (reaped == -1 && errno == EINTR);
    if (reaped == -1) return "waitpid() failed: " + errno_text(errno);

    if (WIFSIGNALED(status)) {
        int sig = WTERMSIG(status);
        if (overran && sig == SIGKILL)
            return "the loader was still loading after " + std::to_string(timeout_ms) + " ms, and was killed";
        return "the loader died of signal " + std::to_string(sig) + " (" + strsignal(sig) + ")";
    }
    if (WEXITSTATUS(status) == 0 && text.rfind("ok ", 0) == 0) {
        loaded = text.substr(3);
        return "";
    }
    if (text.empty() || WEXITSTATUS(status) == 0) text = "the loader exited with status " + std::to_string(WEXITSTATUS(status));
    return text;
}

}  // namespace smooth
