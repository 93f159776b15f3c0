"""The socket fuzzer (tests/fuzz/socket_fuzz), a few seconds per protocol.

`make fuzz` runs it for FUZZ_SECONDS per protocol against the ASan build;
here it is the short version that `make test` and `make asan` run against
the server under test (SMOOTH_SERVER): a crashed worker, a sanitizer
report, a bystander lost or answered wrongly, a well-formed stream answered
wrongly or RSS past its bound fails the test, with the file that replays it.
SMOOTH_SOCKET_FUZZ_SECONDS sets the seconds (default 4)."""
import os
import subprocess
import sys

import pytest

from conftest import ROOT, SERVER

SECONDS = float(os.environ.get("SMOOTH_SOCKET_FUZZ_SECONDS", "4"))


@pytest.mark.parametrize("protocol", ["ws", "text", "frame", "link"])
def test_socket_fuzz(protocol, tmp_path):
    r = subprocess.run([sys.executable, str(ROOT / "tests" / "fuzz" / "socket_fuzz"), "--server", str(SERVER),
                        "--protocol", protocol, "--seconds", str(SECONDS), "--connections", "16",
                        "--out", str(ROOT / "build-fuzz" / "findings")],
                       capture_output=True, text=True, timeout=SECONDS + 120, cwd=ROOT)
    print(r.stdout)
    assert r.returncode == 0, f"socket_fuzz --protocol {protocol} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
    assert "no findings" in r.stdout and " 0 connections" not in r.stdout, r.stdout
