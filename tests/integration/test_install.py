"""`cmake --install`: the binary, the man page, the commented examples and the systemd unit land
where a package expects them, and each of them works."""

import os
import re
import shutil
import signal
import socket
import subprocess

import pytest

from support import STALEGUARD_BIN, free_port, wait_until

BUILD_DIR = STALEGUARD_BIN.parent

EXPECTED_FILES = [
    "bin/staleguard",
    "share/man/man1/staleguard.1",
    "share/doc/staleguard/examples/rules.yaml",
    "share/doc/staleguard/examples/staleguard.yaml",
    "lib/systemd/system/staleguard.service",
]


@pytest.fixture(scope="module")
def prefix(tmp_path_factory):
    if not (BUILD_DIR / "cmake_install.cmake").exists():
        pytest.fail(f"{BUILD_DIR} is not a CMake build directory (STALEGUARD_BIN={STALEGUARD_BIN})")
    root = tmp_path_factory.mktemp("install")
    result = subprocess.run(["cmake", "--install", str(BUILD_DIR), "--prefix", str(root)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return root


def run(*args, **kwargs):
    return subprocess.run([*map(str, args)], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, **kwargs)


def test_every_file_is_installed(prefix):
    for relative in EXPECTED_FILES:
        path = prefix / relative
        assert path.is_file(), f"{relative} was not installed"
        assert path.stat().st_size > 0, f"{relative} is empty"
    assert os.access(prefix / "bin/staleguard", os.X_OK)


def test_installed_binary_reports_its_versions(prefix):
    result = run(prefix / "bin/staleguard", "--version")
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"staleguard \d+\.\d+\.\d+ \(SQL parser: libpg_query for PostgreSQL \d+\.\d+\)\n",
                        result.stdout), result.stdout


def test_installed_example_rule_file_is_valid(prefix):
    example = prefix / "share/doc/staleguard/examples/rules.yaml"
    text = example.read_text()
    assert text.count("#") >= 10, "the example rule file should explain itself in comments"
    result = run(prefix / "bin/staleguard", "--check-rules", example)
    assert result.returncode == 0, result.stdout + result.stderr


def test_example_config_documents_real_keys(prefix, pg, tmp_path):
    """Uncommenting every setting of the example gives a valid config that staleguard starts with."""
    example = (prefix / "share/doc/staleguard/examples/staleguard.yaml").read_text()
    assert run(prefix / "bin/staleguard", "--config", prefix / "share/doc/staleguard/examples/staleguard.yaml",
               "--check-rules", prefix / "share/doc/staleguard/examples/rules.yaml").returncode == 0
    uncommented = "\n".join(re.sub(r"^# ?(?=\s*[a-z_]+:)", "", line) for line in example.splitlines())
    uncommented = re.sub(r"^(rules|listen|upstream):.*$", "", uncommented, flags=re.M)  # set below
    # A system directory staleguard may not write to here; test_unix_listen.py runs the key.
    assert re.search(r"^unix_socket_dir: /", uncommented, flags=re.M), uncommented
    uncommented = re.sub(r"^unix_socket_dir:.*$", "", uncommented, flags=re.M)
    # The TLS blocks name certificate files that only a real installation has; test_tls.py runs them.
    assert re.search(r"^tls:.*\n(  .*\n)*  cert: ", uncommented + "\n", flags=re.M), uncommented
    uncommented = re.sub(r"^(tls|upstream_tls):.*\n(  .*\n?)*", "", uncommented + "\n", flags=re.M)
    port = free_port()
    config = tmp_path / "staleguard.yaml"
    config.write_text(uncommented)
    assert "max_message_bytes: 1073741823" in uncommented and "format: text" in uncommented, uncommented
    process = subprocess.Popen([str(prefix / "bin/staleguard"), "--config", str(config), "--listen",
                                f"127.0.0.1:{port}", "--upstream", pg.address], stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def listening():
            assert process.poll() is None, f"exited {process.returncode}: {process.stdout.read()}"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                return False
        wait_until(listening, 15, what="the installed staleguard to listen")
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=40)
    assert process.returncode == 0, output


def unit_keys(text):
    """{section: {key: [values]}} of a systemd unit file."""
    sections, current = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def test_systemd_unit(prefix, tmp_path):
    unit_path = prefix / "lib/systemd/system/staleguard.service"
    unit = unit_keys(unit_path.read_text())
    service = unit["Service"]
    assert service["Type"] == ["simple"]
    assert service["ExecStart"] == ["/usr/bin/staleguard --config /etc/staleguard/staleguard.yaml"]
    assert service["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    for hardening in ("NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "DynamicUser"):
        assert hardening in service, f"{hardening} missing"
    assert unit["Install"]["WantedBy"] == ["multi-user.target"]
    assert "Description" in unit["Unit"]

    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        return  # the keys above are all that can be checked here
    # verify wants ExecStart to exist and man:staleguard(1) to be found: point both at the install.
    copy = tmp_path / "staleguard.service"
    copy.write_text(unit_path.read_text().replace("/usr/bin/staleguard", str(prefix / "bin/staleguard")))
    result = run(analyze, "verify", copy, env=dict(os.environ, MANPATH=str(prefix / "share/man")))
    # verify exits 0 even for unknown keys and bad values; it only warns. Any output is a finding.
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), result.stdout + result.stderr


def test_man_page(prefix):
    page = prefix / "share/man/man1/staleguard.1"
    source = page.read_text()
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "SCHEMA SUBCOMMAND", "CONFIGURATION FILE",
                    "RULE FILE", "SIGNALS", "EXIT STATUS", "EXAMPLES"):
        assert re.search(rf'^\.SH "?{section}"?$', source, re.M), f"section {section} missing"
    # Every flag of --help (and of `schema --help`) is documented, and every rule-file key.
    flags = set()
    for args in (["--help"], ["schema", "--help"]):
        help_text = run(prefix / "bin/staleguard", *args).stdout
        flags |= set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*|-[a-zA-Z])\b", help_text))
    unescaped = source.replace("\\-", "-")
    missing = sorted(flag for flag in flags if flag not in unescaped)
    assert not missing, f"flags missing from the man page: {missing}"
    for key in ("sqlstate", "unanalysable", "max_tracked_rows", "tables", "name", "key", "version", "kind", "mode",
                "unread", "delete", "watch", "ignore", "bypass_roles", "bumped_by"):
        assert re.search(rf"^\.(B|BR) {key}\b", unescaped, re.M), f"rule-file key {key} not documented"

    groff = shutil.which("groff")
    if groff:
        checked = run(groff, "-man", "-Tutf8", "-ww", "-z", page)
        assert checked.returncode == 0 and not checked.stderr.strip(), checked.stderr
    if shutil.which("man"):
        rendered = run("man", "-l", page, env=dict(os.environ, MANWIDTH="80"))
        assert rendered.returncode == 0, rendered.stderr
        # Not a terminal: bold comes as overstrike (c\bc); justification pads with spaces.
        plain = re.sub(r".\x08", "", rendered.stdout).replace("\u2010", "-")
        words = " ".join(plain.split())
        assert "staleguard - PostgreSQL proxy that adds optimistic locking to UPDATE and DELETE" in words, words[:400]
        assert "--shutdown-timeout SECONDS" in words
