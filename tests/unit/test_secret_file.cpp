// test_secret_file: the link secret's file (config/secret_file.h) on a real
// disk: a good file read (and its one line end dropped); each refusal with
// its file and its fix (a link, a group or others' permission bit, too few
// bytes, another owner, a directory); link_secret_file through
// load_config_file(), with the config's file, line and key; the instance's
// own secret made once (0600, O_EXCL) and read back after.
#include "config/config.h"
#include "config/secret_file.h"

#include "check.h"

#include <cstdio>
#include <fcntl.h>
#include <optional>
#include <fstream>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

using namespace smooth;

namespace {

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

// The functions, as optionals: the tables compare "a secret or not".
std::optional<std::string> read(const std::string& path, std::string& error) {
    std::string secret;
    error = read_secret_file(path, secret);
    if (!error.empty()) return std::nullopt;
    return secret;
}

std::optional<std::string> make_or_read(const std::string& path, bool& made, std::string& error) {
    std::string secret;
    error = make_or_read_secret_file(path, made, secret);
    if (!error.empty()) return std::nullopt;
    return secret;
}

std::string make_dir() {
    char dir_template[] = "/tmp/test_secret_file.XXXXXX";
    const char* dir = mkdtemp(dir_template);
    EXPECT(dir != nullptr);
    return dir ? dir : "";
}

void write_file(const std::string& path, const std::string& bytes, mode_t mode) {
    std::remove(path.c_str());
    std::ofstream(path, std::ios::binary) << bytes;
    EXPECT_EQ_AT(chmod(path.c_str(), mode), 0, path);
}

void test_read() {
    const std::string dir = make_dir();
    const std::string path = dir + "/link.secret";
    const std::string secret = "0123456789abcdef0123456789abcdef";
    std::string error;

    write_file(path, secret, 0600);
    EXPECT_EQ(read(path, error).value_or("nullopt"), secret);
    write_file(path, secret + "\n", 0400);  // `openssl rand -hex 16 > FILE`: the newline is not the secret
    EXPECT_EQ(read(path, error).value_or("nullopt"), secret);
    write_file(path, secret + "\r\n", 0600);
    EXPECT_EQ(read(path, error).value_or("nullopt"), secret);
    write_file(path, std::string("\0\n\xff", 3) + std::string(20, '\x01'), 0600);  // any bytes
    EXPECT_EQ(read(path, error).value_or("nullopt"), std::string("\0\n\xff", 3) + std::string(20, '\x01'));

    struct Bad {
        const char* name;
        std::string bytes;
        mode_t mode;
        std::vector<std::string> parts;
    };
    const Bad bad[] = {
        {"group can read", secret, 0640, {"can be read by its group (mode 0640)", "chmod 600 " + path}},
        {"others can read", secret, 0604, {"can be read by others (mode 0604)"}},
        {"group can write", secret, 0620, {"can be written by its group"}},
        {"everyone", secret, 0666, {"can be read and written by others"}},
        {"group can execute", secret, 0610, {"can be opened by its group"}},
        {"15 bytes", std::string(15, 's'), 0600, {"holds 15 bytes of secret", "16 to 4096"}},
        {"15 bytes and a newline", std::string(15, 's') + "\n", 0600, {"holds 15 bytes"}},
        {"empty", "", 0600, {"holds 0 bytes"}},
        {"too long", std::string(5000, 's'), 0600, {"more than 4096 bytes"}},
    };
    for (const Bad& b : bad) {
        write_file(path, b.bytes, b.mode);
        error.clear();
        EXPECT_EQ_AT(read(path, error).has_value(), false, b.name);
        for (const std::string& part : b.parts) EXPECT_EQ_AT(contains(error, part), true, std::string(b.name) + ": " + error);
    }

    // A symbolic link, even to a good file: refused, not followed.
    write_file(path, secret, 0600);
    const std::string link = dir + "/link.to.secret";
    EXPECT_EQ(symlink(path.c_str(), link.c_str()), 0);
    EXPECT_EQ(read(link, error).has_value(), false);
    EXPECT_EQ_AT(contains(error, link + " is a symbolic link"), true, error);

    // Another owner (only root can make one to test with).
    if (geteuid() == 0) {
        EXPECT_EQ(chown(path.c_str(), 65534, 65534), 0);
        EXPECT_EQ(read(path, error).has_value(), false);
        EXPECT_EQ_AT(contains(error, "is owned by uid 65534") && contains(error, "not by the user this server runs as"),
                     true, error);
        EXPECT_EQ(chown(path.c_str(), 0, 0), 0);
    }

    EXPECT_EQ(read(dir, error).has_value(), false);  // a directory
    EXPECT_EQ_AT(contains(error, "not a regular file"), true, error);
    EXPECT_EQ(read(dir + "/missing", error).has_value(), false);
    EXPECT_EQ_AT(contains(error, "cannot open " + dir + "/missing: No such file"), true, error);

    std::remove(link.c_str());
    std::remove(path.c_str());
    rmdir(dir.c_str());
}

// link_secret_file in a config: read with it, its errors in the config's shape.
void test_through_the_config() {
    const std::string dir = make_dir();
    const std::string conf = dir + "/server.conf";
    const std::string secret_path = dir + "/secret";
    std::ofstream(conf) << "[server]\nlink_secret_file = secret\n"
                           "[group biz]\nrole = business\nmodule = m.so\nlisten = tcp://10.1.2.3:9000\n";
    std::string error;
    write_file(secret_path, "a secret of some length\n", 0600);
    Config c;
    error = load_config_file(conf, c);
    EXPECT_EQ(error, "");
    EXPECT_EQ(c.server.link_secret_file, secret_path);
    EXPECT_EQ(c.server.link_secret, "a secret of some length");
    write_file(secret_path, "a secret of some length\n", 0644);
    error = load_config_file(conf, c);
    EXPECT_EQ_AT(contains(error, conf + ":2: [server] link_secret_file: " + secret_path + " can be read by"), true, error);
    std::remove(secret_path.c_str());
    error = load_config_file(conf, c);
    EXPECT_EQ_AT(contains(error, conf + ":2: [server] link_secret_file: cannot open"), true, error);

    std::remove(conf.c_str());
    rmdir(dir.c_str());
}

void test_instance_secret() {
    const std::string dir = make_dir();
    const std::string path = dir + "/link.secret";
    std::string error;
    bool made = false;
    std::optional<std::string> first = make_or_read(path, made, error);
    EXPECT_EQ(error, "");
    EXPECT(made);
    EXPECT_EQ(first.value_or("").size(), 2 * kInstanceSecretBytes);  // in hex
    EXPECT_EQ(first.value_or("").find_first_not_of("0123456789abcdef"), std::string::npos);
    struct stat st;
    EXPECT_EQ(lstat(path.c_str(), &st), 0);
    EXPECT_EQ(int(st.st_mode & 07777), 0600);
    EXPECT_EQ(size_t(st.st_size), 2 * kInstanceSecretBytes);

    // The next start (an upgrade's new master, a restart) reads the same.
    std::optional<std::string> again = make_or_read(path, made, error);
    EXPECT(!made);
    EXPECT_EQ(again.value_or("nullopt"), first.value_or(""));

    // Reused only if it still passes the rules.
    EXPECT_EQ(chmod(path.c_str(), 0644), 0);
    EXPECT_EQ(make_or_read(path, made, error).has_value(), false);
    EXPECT_EQ_AT(contains(error, "can be read by others"), true, error);
    EXPECT_EQ(std::remove(path.c_str()), 0);

    // A link planted at the name is neither followed nor written through.
    const std::string target = dir + "/target";
    write_file(target, "", 0600);
    EXPECT_EQ(symlink(target.c_str(), path.c_str()), 0);
    EXPECT_EQ(make_or_read(path, made, error).has_value(), false);
    EXPECT(!made);
    EXPECT_EQ_AT(contains(error, "symbolic link"), true, error);
    EXPECT_EQ(lstat(target.c_str(), &st), 0);
    EXPECT_EQ(int(st.st_size), 0);

    std::remove(path.c_str());
    std::remove(target.c_str());
    rmdir(dir.c_str());
}

}  // namespace

int main() {
    test_read();
    test_through_the_config();
    test_instance_secret();
    return check::summary("secret_file");
}
