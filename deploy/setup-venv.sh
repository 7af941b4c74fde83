#!/usr/bin/env bash
# Create the virtual environment and install Shouwang into it (editable, so `import core`,
# `import crypto`... are this repository's packages, not PyPI namesakes).
set -euo pipefail
python=${1:-python3}; venv=${2:-.venv}; project=${3:-.}

version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true)
if [ "$version" != "3.11" ]; then
  echo "shouwang needs Python 3.11 (found: ${version:-no $python}). On Debian 12: apt-get install python3" >&2
  exit 2
fi
if [ ! -x "$venv/bin/python" ]; then
  if ! "$python" -m venv "$venv" 2>/dev/null; then
    rm -rf "$venv"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "installing python3-venv (Debian's venv support)..."
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >/dev/null \
        || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-venv >/dev/null; }
      "$python" -m venv "$venv"
    else
      echo "cannot create $venv: install Debian's python3-venv (sudo apt-get install python3-venv)" >&2
      exit 2
    fi
  fi
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
echo "installing shouwang and its pinned dependencies into $venv ..."
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$project"
# Sigma -> Elasticsearch query conversion: the backend's metadata still asks for pySigma < 2,
# but it works with the pySigma 2.0.1 we pin (tests/detectors/test_sigma_elastic.py proves it),
# so it is installed without its declared dependencies.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
  pysigma-backend-elasticsearch==2.1.1
