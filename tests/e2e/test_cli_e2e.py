"""The `glassbreak` command as a user runs it: rules check, env, ca, refusing a bad rule file."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.processes import GLASSBREAK, REPO

pytestmark = pytest.mark.e2e


def glassbreak(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(GLASSBREAK), *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_rules_check_accepts_every_shipped_rule_file() -> None:
    files = [REPO / "rules" / "default.yaml", *sorted((REPO / "rules" / "examples").glob("*.yaml"))]
    assert len(files) >= 3
    for path in files:
        result = glassbreak("rules", "check", str(path))
        assert result.returncode == 0, result.stderr
        assert "ok" in result.stdout


def test_rules_check_reports_file_line_message_and_fix(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "version: 1\n"
        "destinations:\n"
        "  - host: '*github.com'\n"
        "  - host: example.com\n"
        "    port: [443]\n",
        encoding="utf-8",
    )
    result = glassbreak("rules", "check", str(bad))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert any(line.startswith(f"{bad}:3:") and "*.github.com" in line for line in lines), lines
    assert any(line.startswith(f"{bad}:5:") and "ports" in line for line in lines), lines


def test_run_refuses_a_broken_rule_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\ndestinations:\n  - host: '*'\n", encoding="utf-8")
    result = glassbreak("run", "--rules", str(bad), "--listen", "127.0.0.1:1",
                        "--state-dir", str(tmp_path / "state"), timeout=30)
    assert result.returncode == 2
    assert f"{bad}:3:" in result.stderr


@pytest.mark.parametrize("workers", ["-1", "65", "many"])
def test_run_refuses_a_bad_number_of_inspection_workers(tmp_path: Path, workers: str) -> None:
    result = glassbreak("run", "--listen", "127.0.0.1:1", "--inspection-workers", workers,
                        "--state-dir", str(tmp_path / "state"), timeout=30)
    assert result.returncode == 2
    assert "--inspection-workers" in result.stderr


def test_ca_is_created_on_first_use_and_stable(tmp_path: Path) -> None:
    first = glassbreak("ca", "--state-dir", str(tmp_path))
    assert first.returncode == 0
    path = Path(first.stdout.strip())
    assert path.is_file() and "BEGIN CERTIFICATE" in path.read_text()
    before = path.read_bytes()
    assert glassbreak("ca", "--state-dir", str(tmp_path)).stdout.strip() == str(path)
    assert path.read_bytes() == before


def test_env_prints_what_a_sandbox_needs(tmp_path: Path) -> None:
    result = glassbreak("env", "--state-dir", str(tmp_path), "--proxy", "http://10.9.9.9:3128")
    assert result.returncode == 0
    exports = dict(
        line.removeprefix("export ").split("=", 1) for line in result.stdout.splitlines()
    )
    ca = glassbreak("ca", "--state-dir", str(tmp_path)).stdout.strip()
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
        assert exports[name] == "http://10.9.9.9:3128"
    assert exports["NO_PROXY"] == "''" and exports["no_proxy"] == "''"
    for name in ("SSL_CERT_FILE", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "PIP_CERT",
                 "NODE_EXTRA_CA_CERTS", "GIT_SSL_CAINFO"):
        assert exports[name] == ca
    check = subprocess.run(["bash", "-c", result.stdout + '\necho "$HTTPS_PROXY|$NO_PROXY|"'],
                           capture_output=True, text=True, check=True)
    assert check.stdout.strip() == "http://10.9.9.9:3128||"


def test_run_refuses_a_port_in_use(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = glassbreak("run", "--listen", f"127.0.0.1:{port}", "--state-dir",
                            str(tmp_path), timeout=30)
    assert result.returncode == 2
    assert "cannot start" in result.stderr and "in use" in result.stderr


@pytest.mark.parametrize("command", ["run", "dns"])
def test_a_second_process_on_one_state_directory_is_refused(tmp_path: Path,
                                                            command: str) -> None:
    """Two writers would interleave one audit chain: the second refuses to start."""
    from tests.e2e.processes import free_port, start_proxy, stop

    second = (["run", "--listen", f"127.0.0.1:{free_port()}", "--dns", "off", "--admin", "off"]
              if command == "run" else ["dns", "--dns", f"127.0.0.1:{free_port()}"])

    rules = tmp_path / "rules.yaml"
    rules.write_text("version: 1\ndestinations: []\n")
    state = tmp_path / "state"
    proxy = start_proxy(rules, state, upstream_ca=None)
    try:
        result = glassbreak(*second, "--rules", str(rules), "--state-dir", str(state), timeout=30)
        assert result.returncode == 2
        assert "another Glassbreak process uses the state directory" in result.stderr
        assert proxy.process.poll() is None  # the first one is untouched
    finally:
        stop(proxy.process)
    # Once the first has stopped, the directory is free again.
    again = start_proxy(rules, state, upstream_ca=None)
    stop(again.process)
