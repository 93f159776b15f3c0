#include "master/module_versions.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/fd.h"
#include "master/run_dir.h"

namespace smooth {

namespace {

std::string read_all(const std::string& path, std::string& out) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return "cannot open module " + path + ": " + errno_text(errno);
    char chunk[65536];
    for (;;) {
        ssize_t n = ::read(fd.get(), chunk, sizeof chunk);
        if (n == -1 && errno == EINTR) continue;
        if (n == -1) return "cannot read module " + path + ": " + errno_text(errno);
        if (n == 0) return "";
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

std::string store_module_version(const std::string& module, const std::string& run_dir, std::string& stored) {
    if (module.rfind("builtin:", 0) == 0) {
        stored = module;
        return "";
    }

    std::string content;
    if (std::string err = read_all(module, content); !err.empty()) return err;

    // Workers dlopen() what is stored here, as whoever they run as: no one
    // else may be able to put a file (or a link) in this directory (run_dir.h).
    std::string dir = run_dir + "/modules";
    if (std::string err = prepare_private_dir(dir, "module directory"); !err.empty()) return err;
    char hash[17];
    std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(fnv1a(content)));
    std::string path = dir + "/" + stem(module) + "-" + hash + ".so";
    struct stat st;
    if (lstat(path.c_str(), &st) == 0) {
        if (!S_ISREG(st.st_mode)) return path + " exists and is not a regular file; fix: rm " + path;
        stored = path;  // this version is already there
        return "";
    }

    // Write a temporary file and rename it into place: a worker that opens
    // the path sees either nothing or the whole file, never half of it. The
    // temporary name is mkostemp()'s: random, and created with O_EXCL, so
    // nothing can be waiting at it (a link would be written through).
    std::string tmp = path + ".tmp.XXXXXX";
    Fd out(mkostemp(tmp.data(), O_CLOEXEC));
    if (!out) return "cannot create a temporary file like " + tmp + ": " + errno_text(errno);
    // mkostemp() creates it 0600; workers that drop privileges must read it.
    if (fchmod(out.get(), 0644) == -1 || !write_all(out.get(), content)) {
        std::string err = "cannot write " + tmp + ": " + errno_text(errno);
        unlink(tmp.c_str());
        return err;
    }
    out.reset();
    if (rename(tmp.c_str(), path.c_str()) == -1) {
        std::string err = "rename(" + tmp + ", " + path + ") failed: " + errno_text(errno);
        unlink(tmp.c_str());
        return err;
    }
    stored = path;
    return "";
}

}  // namespace smooth
