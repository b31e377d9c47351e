#!/usr/bin/env bash
# Idempotent set-up for Debian 12 (run as root): Suricata 7 from bookworm-backports, Rspamd 3.4,
# Redis and ClamAV (clamav-daemon: the malware verdicts of the mail classes) from bookworm, tools used by the tests (tshark; Chromium and ChromeDriver for the
# admin screen's browser test), and the Python virtualenv .venv/ with sakimori installed in
# editable mode.
set -euo pipefail
cd "$(dirname "$0")/.."

need_root() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup: must run as root to install Debian packages (try: sudo make setup)" >&2
        exit 1
    fi
}

stamp_dir=.venv/.stamps
apt_pkgs="suricata rspamd redis-server python3-venv python3-dev gcc tshark chromium chromium-driver
    fonts-ipafont-gothic clamav-daemon logrotate"

missing=""
for p in $apt_pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    need_root
    export DEBIAN_FRONTEND=noninteractive
    src=/etc/apt/sources.list.d/bookworm-backports.sources
    if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
        cat > "$src" <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    fi
    # Another job may run apt on a shared machine: wait for its lock instead of failing.
    apt="apt-get -o DPkg::Lock::Timeout=600"
    $apt update -qq
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
    $apt install -y -qq -t bookworm-backports suricata >/dev/null
    # chromium + chromium-driver: the admin screen's browser test (headless, system browser);
    # a Japanese font so its screenshots show Japanese subjects and names
    # clamav-daemon: scan-mail and the tests start their own clamd (no service, no download);
    # logrotate: the follow-mode test rotates with the real copytruncate
    $apt install -y -qq rspamd redis-server python3-venv python3-dev gcc tshark \
        chromium chromium-driver fonts-ipafont-gothic clamav-daemon logrotate >/dev/null
fi

py=/usr/bin/python3
[ -x "$py" ] || py=$(command -v python3)
if [ ! -x .venv/bin/python ]; then
    "$py" -m venv .venv
fi
mkdir -p "$stamp_dir"
# pyproject.toml, setup.py and the Cython sources: a changed accelerator is rebuilt (editable
# installs compile extensions in place, once)
hash=$(cat pyproject.toml setup.py $(find eve_consumer sakimori generator -name '*.pyx' -o -name '*.pxd' | sort) \
    | sha256sum | cut -c1-16)
if [ ! -f "$stamp_dir/pip-$hash" ]; then
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q -e '.[dev,demo]'
    rm -f "$stamp_dir"/pip-*
    touch "$stamp_dir/pip-$hash"
fi
.venv/bin/sakimori --version >/dev/null
echo "setup: ok ($(suricata -V 2>/dev/null | head -1))"
