"""Reading the office simulator's pcaps in tests: frames, IP pairs, TCP fields, and a plain
offline Suricata run over a capture (shared by test_officesim.py and test_officesim_shapes.py)."""

from __future__ import annotations

import ipaddress
import json
import struct
import subprocess
from pathlib import Path


def read_pcap(path: Path) -> tuple[int, list[tuple[int, bytes]]]:
    """(linktype, [(ts_us, frame)]) of a classic little-endian microsecond pcap."""
    data = path.read_bytes()
    magic, _maj, _min, _tz, _sig, _snap, linktype = struct.unpack_from("<IHHiIII", data, 0)
    assert magic == 0xA1B2C3D4
    frames, off = [], 24
    while off < len(data):
        sec, usec, incl, orig = struct.unpack_from("<IIII", data, off)
        assert incl == orig
        frames.append((sec * 1_000_000 + usec, data[off + 16:off + 16 + incl]))
        off += 16 + incl
    return linktype, frames


def ip_pair(frame: bytes) -> tuple[str, str]:
    return str(ipaddress.ip_address(frame[26:30])), str(ipaddress.ip_address(frame[30:34]))


def tcp_fields(frame: bytes) -> tuple[tuple, int, int, int, int] | None:
    """((src, sport, dst, dport), seq, ack, flags, payload_len) or None if not TCP."""
    if frame[12:14] != b"\x08\x00" or frame[23] != 6:
        return None
    ihl = (frame[14] & 15) * 4
    t = 14 + ihl
    sport, dport, seq, ack = struct.unpack_from("!HHII", frame, t)
    off = (frame[t + 12] >> 4) * 4
    src, dst = ip_pair(frame)
    total = struct.unpack_from("!H", frame, 16)[0]
    return (src, sport, dst, dport), seq, ack, frame[t + 13], total - ihl - off


SURICATA_YAML = """%YAML 1.1
---
vars:
  address-groups:
    HOME_NET: "[10.1.0.0/16]"
    EXTERNAL_NET: "!$HOME_NET"
    HTTP_SERVERS: "$HOME_NET"
    SMTP_SERVERS: "$HOME_NET"
    SQL_SERVERS: "$HOME_NET"
    DNS_SERVERS: "$HOME_NET"
    TELNET_SERVERS: "$HOME_NET"
    AIM_SERVERS: "$EXTERNAL_NET"
    DC_SERVERS: "$HOME_NET"
    DNP3_SERVER: "$HOME_NET"
    DNP3_CLIENT: "$HOME_NET"
    MODBUS_CLIENT: "$HOME_NET"
    MODBUS_SERVER: "$HOME_NET"
    ENIP_CLIENT: "$HOME_NET"
    ENIP_SERVER: "$HOME_NET"
  port-groups:
    HTTP_PORTS: "80"
    SHELLCODE_PORTS: "!80"
    ORACLE_PORTS: 1521
    SSH_PORTS: 22
    DNP3_PORTS: 20000
    MODBUS_PORTS: 502
    FILE_DATA_PORTS: "[$HTTP_PORTS,110,143]"
    FTP_PORTS: 21
    GENEVE_PORTS: 6081
    VXLAN_PORTS: 4789
    TEREDO_PORTS: 3544
default-rule-path: {rules}
rule-files: []
logging:
  default-log-level: notice
  outputs:
    - console:
        enabled: yes
outputs:
  - eve-log:
      enabled: yes
      filetype: regular
      filename: eve.json
      types:
        - alert
        - http:
            extended: yes
        - tls:
            extended: yes
        - dns
        - flow
app-layer:
  protocols:
    http:
      enabled: yes
    tls:
      enabled: yes
      detection-ports:
        dp: 443
    dns:
      tcp:
        enabled: yes
        detection-ports:
          dp: 53
      udp:
        enabled: yes
        detection-ports:
          dp: 53
"""


def run_suricata(pcap: Path, workdir: Path) -> list[dict]:
    """Run Suricata offline over ``pcap``; return its EVE events."""
    conf = workdir / "suricata.yaml"
    conf.write_text(SURICATA_YAML.replace("{rules}", str(workdir)))
    proc = subprocess.run(["suricata", "-c", str(conf), "-r", str(pcap), "-l", str(workdir),
                           "-k", "none", "--runmode", "single"],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return [json.loads(ln) for ln in (workdir / "eve.json").read_text().splitlines()]
