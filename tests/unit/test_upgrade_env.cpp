// test_upgrade_env: the environment an upgrade's new master is exec'd with
// (master/upgrade.h): ours, minus any LISTEN_* or SMOOTH_UPGRADE_FD we were
// given, plus the sd_listen_fds(3) variables naming the listeners at fds 3..
// and the channel right after them, and a LISTEN_PID slot the child fills in.
#include "master/upgrade.h"

#include "check.h"
#include "core/build_id.h"

#include <cstdio>
#include <string>
#include <vector>

using namespace smooth;

namespace {

int count_prefix(const std::vector<std::string>& env, const std::string& prefix) {
    int n = 0;
    for (const std::string& e : env) n += e.rfind(prefix, 0) == 0;
    return n;
}

std::string value_of(const std::vector<std::string>& env, const std::string& key) {
    for (const std::string& e : env)
        if (e.rfind(key + "=", 0) == 0) return e.substr(key.size() + 1);
    return "<unset>";
}

void test_environment() {
    // As systemd would have started us: its own LISTEN_* are ours no more.
    const char* ours[] = {"PATH=/usr/bin:/bin", "LISTEN_PID=1", "LISTEN_FDS=1", "LISTEN_FDNAMES=old",
                          "NOTIFY_SOCKET=/run/systemd/notify", "SMOOTH_UPGRADE_FD=9", "LISTEN_FDS_EXTRA=kept",
                          "HOME=/root", nullptr};
    size_t pid_at = 0;
    std::vector<std::string> env = new_master_environment(ours, {"web", "chat#0", "chat#1"}, 6, &pid_at);

    EXPECT_EQ(value_of(env, "PATH"), "/usr/bin:/bin");
    EXPECT_EQ(value_of(env, "HOME"), "/root");
    EXPECT_EQ(value_of(env, "NOTIFY_SOCKET"), "/run/systemd/notify");  // the new master tells systemd too
    EXPECT_EQ(value_of(env, "LISTEN_FDS_EXTRA"), "kept");               // a prefix is not the variable
    EXPECT_EQ(value_of(env, "LISTEN_FDS"), "3");
    EXPECT_EQ(value_of(env, "LISTEN_FDNAMES"), "web:chat#0:chat#1");
    EXPECT_EQ(value_of(env, "SMOOTH_UPGRADE_FD"), "6");
    EXPECT_EQ(value_of(env, "SMOOTH_HANDOVER_FORMAT"), std::to_string(handover_format()));  // what ours write
    for (const char* key : {"LISTEN_PID=", "LISTEN_FDS=", "LISTEN_FDNAMES=", "SMOOTH_UPGRADE_FD=", "SMOOTH_HANDOVER_FORMAT="})
        EXPECT_EQ_AT(count_prefix(env, key), 1, key);  // never two of them

    // The slot the child writes its pid into, after fork: room for any pid.
    EXPECT(pid_at < env.size());
    EXPECT_EQ(env[pid_at].rfind("LISTEN_PID=", 0), size_t(0));
    std::string& slot = env[pid_at];
    std::snprintf(slot.data(), slot.size() + 1, "LISTEN_PID=%d", 2147483647);
    EXPECT_EQ(std::string(slot.c_str()), "LISTEN_PID=2147483647");
}

void test_empty_environment() {
    size_t pid_at = 0;
    std::vector<std::string> env = new_master_environment(nullptr, {"web"}, 4, &pid_at);
    EXPECT_EQ(env.size(), size_t(5));
    EXPECT_EQ(value_of(env, "LISTEN_FDNAMES"), "web");
    EXPECT_EQ(pid_at, size_t(4));
}

}  // namespace

int main() {
    test_environment();
    test_empty_environment();
    return check::summary("upgrade_env");
}
