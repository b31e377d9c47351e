"""Static Suricata rules and the offline sensor configuration shipped with sakimori.

Files here are data: ``static.rules`` (hand-written rules, SIDs 9300000-9300999),
``classification.config`` and ``offline.yaml.j2`` (the project-owned minimal Suricata
configuration used by ``learn --pcap`` and ``analyze``). See README.md in this folder.
"""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
STATIC_RULES = DATA_DIR / "static.rules"
CLASSIFICATION = DATA_DIR / "classification.config"
OFFLINE_YAML_TEMPLATE = DATA_DIR / "offline.yaml.j2"
