"""The Rspamd 3.4 Lua plugin of sakimori (spoofed-mail checks, ``SAKIMORI_*`` symbols).

Files here are data copied by :func:`generator.render_rspamd.write_rspamd` into
``BUILD_DIR/rspamd/plugins/``: ``sakimori.lua`` (the plugin: settings, maps, symbols) and
``sakimori/*.lua`` (normalisation mirroring sakimori/mail/norm.py, the checks, look-alikes).
See docs/rspamd.md.
"""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
PLUGIN = DATA_DIR / "sakimori.lua"
LIB_DIR = DATA_DIR / "sakimori"
