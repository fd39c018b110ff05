"""The staleguard command line: --help, --version, --check-rules, bad flags, a busy port."""

import socket
import subprocess

from support import SOURCE_DIR, STALEGUARD_BIN


def run(*args, timeout=20):
    return subprocess.run([str(STALEGUARD_BIN), *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def test_help_lists_every_flag():
    result = run("--help")
    assert result.returncode == 0, result.stderr
    for flag in ("--listen", "--upstream", "--rules", "--log-level", "--max-connections",
                 "--startup-timeout", "--max-message-bytes", "--shutdown-timeout", "--version",
                 "--check-rules"):
        assert flag in result.stdout, f"{flag} missing from --help:\n{result.stdout}"


def test_version():
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("staleguard "), result.stdout


def test_check_rules_accepts_the_example():
    result = run("--check-rules", str(SOURCE_DIR / "examples" / "rules.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_rules_rejects_a_broken_file(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("tables:\n  - name: accounts\n    key: [id\n")
    result = run("--check-rules", str(broken))
    assert result.returncode != 0
    assert "broken.yaml" in result.stdout + result.stderr


def test_check_rules_missing_file(tmp_path):
    result = run("--check-rules", str(tmp_path / "nope.yaml"))
    assert result.returncode != 0


def test_bad_flags_exit_nonzero():
    for args in (["--listen", "not-an-address"], ["--upstream", "127.0.0.1:notaport"],
                 ["--log-level", "loud"], ["--max-connections", "0"], ["--no-such-flag"],
                 ["--max-message-bytes", "1"]):
        result = run(*args)
        assert result.returncode != 0, f"{args} was accepted"
        assert result.stdout + result.stderr, f"{args} failed without saying why"


def test_listen_port_in_use_exits_nonzero(pg):
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        result = run("--listen", f"127.0.0.1:{port}", "--upstream", pg.address)
    assert result.returncode != 0
    assert str(port) in result.stdout + result.stderr
