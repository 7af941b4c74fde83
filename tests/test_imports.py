"""Our packages have generic names (crypto, config, core...): they must resolve to this
repository, never to a PyPI namesake, from wherever the command runs."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ["core", "collectors", "detectors", "alerting", "backup", "crypto", "playbooks",
            "drills", "compliance", "storage", "api", "cli", "config"]


def test_packages_resolve_to_this_repository_from_any_directory(tmp_path):
    code = "import importlib\nfor name in %r:\n    print(importlib.import_module(name).__file__)" % PACKAGES
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    files = result.stdout.split()
    assert len(files) == len(PACKAGES)
    for name, file in zip(PACKAGES, files):
        assert Path(file).resolve() == ROOT / name / "__init__.py", (name, file)


def test_the_console_command_is_installed():
    shouwang = Path(sys.executable).parent / "shouwang"
    result = subprocess.run([str(shouwang), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for command in ("run", "check-config", "parse", "config"):
        assert command in result.stdout
