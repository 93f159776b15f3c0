// check.h: the whole unit-test "framework": expectations that record a failure
// with file, line and both values, and a summary that becomes the exit status.
// Each tests/unit/test_*.cpp is its own program; CTest runs it and reads the
// exit status. An expectation never returns from the caller: a test goes on
// after a failure so one run shows every difference.
#pragma once

#include <cstdio>
#include <sstream>
#include <string>
#include <string_view>

namespace check {

inline int failures = 0;
inline int passes = 0;

template <typename T>
std::string show(const T& v) {
    std::ostringstream out;
    if constexpr (std::is_convertible_v<T, std::string_view>) {
        out << '"';
        for (char c : std::string_view(v)) {
            if (c == '\r') out << "\\r";
            else if (c == '\n') out << "\\n";
            else if (static_cast<unsigned char>(c) < 0x20) out << "\\x" << std::hex << int(c) << std::dec;
            else out << c;
        }
        out << '"';
    } else if constexpr (std::is_enum_v<T>) {
        out << static_cast<long long>(v);
    } else {
        out << v;
    }
    return out.str();
}

inline void record(bool ok, const char* file, int line, const std::string& what) {
    if (ok) {
        ++passes;
        return;
    }
    ++failures;
    std::fprintf(stderr, "%s:%d: FAILED: %s\n", file, line, what.c_str());
}

template <typename A, typename B>
void expect_eq(const A& a, const B& b, const char* as, const char* bs, const char* file, int line,
               const std::string& context = {}) {
    bool ok = (a == b);
    record(ok, file, line,
           ok ? std::string() : std::string(as) + " == " + bs + ": got " + show(a) + ", want " + show(b) +
                                    (context.empty() ? "" : " [" + context + "]"));
}

// Prints "N passed, M failed" (a line CI reads) and returns the exit status.
inline int summary(const char* name) {
    std::printf("%s: %d passed, %d failed\n", name, passes, failures);
    return failures == 0 ? 0 : 1;
}

}  // namespace check

#define EXPECT(cond) check::record((cond), __FILE__, __LINE__, "expected " #cond)
#define EXPECT_EQ(a, b) check::expect_eq((a), (b), #a, #b, __FILE__, __LINE__)
// Same, with a note (e.g. which table row or split point) shown on failure.
#define EXPECT_EQ_AT(a, b, ctx) check::expect_eq((a), (b), #a, #b, __FILE__, __LINE__, (ctx))
