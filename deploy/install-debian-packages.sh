#!/usr/bin/env bash
# Install the Debian packages listed in FILE (one per line, '#' comments) that are missing.
# As root it installs them; otherwise it names them and exits 2.
set -euo pipefail
list=${1:?usage: install-debian-packages.sh FILE}
command -v dpkg-query >/dev/null || { echo "not a Debian system: install by hand: $(grep -v '^#' "$list" | xargs)" >&2; exit 0; }
missing=()
while read -r pkg _; do
  [ -z "$pkg" ] || [ "${pkg#\#}" != "$pkg" ] && continue
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done < "$list"
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "missing Debian packages for the test fixtures: ${missing[*]}" >&2
  echo "install them with: sudo apt-get install ${missing[*]}" >&2
  exit 2
fi
echo "installing Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
