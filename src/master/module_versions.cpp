#include "master/module_versions.h"

#include <cerrno>
#include <cstdio>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fd.h"

namespace smooth {

namespace {

bool read_all(const std::string& path, std::string& out, std::string& error) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) {
        error = "cannot open module " + path + ": " + errno_text(errno);
        return false;
    }
    char chunk[65536];
    for (;;) {
        ssize_t n = ::read(fd.get(), chunk, sizeof chunk);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) {
            error = "cannot read module " + path + ": " + errno_text(errno);
            return false;
        }
        if (n == 0) return true;
        out.append(chunk, size_t(n));
    }
}

bool write_all(int fd, const std::string& data) {
    size_t done = 0;
    while (done < data.size()) {
        ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) return false;
        done += size_t(n);
    }
    return true;
}

// FNV-1a, 64 bits: not cryptographic, only a name that changes when the
// content does.
uint64_t fnv1a(const std::string& data) {
    uint64_t h = 1469598103934665603ull;
    for (unsigned char c : data) {
        h ^= c;
        h *= 1099511628211ull;
    }
    return h;
}

std::string stem(const std::string& path) {
    std::string base = path.substr(path.find_last_of('/') + 1);
    if (base.size() > 3 && base.compare(base.size() - 3, 3, ".so") == 0) base.resize(base.size() - 3);
    return base;
}

}  // namespace

std::string store_module_version(const std::string& module, const std::string& run_dir, std::string& error) {
    if (module.rfind("builtin:", 0) == 0) return module;

    std::string content;
    if (!read_all(module, content, error)) return "";

    std::string dir = run_dir + "/modules";
    if (mkdir(dir.c_str(), 0755) == -1 && errno != EEXIST) {
        error = "mkdir(" + dir + ") failed: " + errno_text(errno);
        return "";
    }
    char hash[17];
    std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(fnv1a(content)));
    std::string stored = dir + "/" + stem(module) + "-" + hash + ".so";
    if (access(stored.c_str(), R_OK) == 0) return stored;  // this version is already there

    // Write a temporary file and rename it into place: a worker that opens
    // `stored` sees either nothing or the whole file, never half of it.
    std::string tmp = stored + ".tmp." + std::to_string(getpid());
    Fd out(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!out) {
        error = "cannot create " + tmp + ": " + errno_text(errno);
        return "";
    }
    if (!write_all(out.get(), content)) {
        error = "cannot write " + tmp + ": " + errno_text(errno);
        unlink(tmp.c_str());
        return "";
    }
    out.reset();
    if (rename(tmp.c_str(), stored.c_str()) == -1) {
        error = "rename(" + tmp + ", " + stored + ") failed: " + errno_text(errno);
        unlink(tmp.c_str());
        return "";
    }
    return stored;
}

}  // namespace smooth
