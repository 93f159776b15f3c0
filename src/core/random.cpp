// random: see random.h.
#include "core/random.h"

#include <cerrno>
#include <sys/random.h>

#include "core/error.h"

namespace smooth {

std::string random_bytes(size_t n, std::string& out) {
    std::string bytes(n, '\0');
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(bytes.data() + got, n - got, 0);
        if (r == -1 && errno == EINTR) continue;
        if (r == -1) return "getrandom() failed: " + errno_text(errno);
        got += size_t(r);
    }
    out = std::move(bytes);
    return "";
}

}  // namespace smooth
