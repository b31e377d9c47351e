"""Real-data regression: the real captures of ../shared/data/real/ through learn → analyze.

Each capture (ground truth: tests/real_truth.yaml, from ../shared/data/real/README.md) goes
through the real CLI and real Suricata 7 in both modes of tests/realdata.py — ``first-day``
(``analyze`` with no baselines: nothing learned, fallbacks only) and ``learned-on-capture``
(``learn --pcap`` on the capture itself, the infection already present while learning, then
``analyze``) — and hosts.csv, read by column name, must match the truth:

- every label the capture supports is reported for its host;
- no host gets a label the capture does not support: quiet hosts (the sandbox gateway, the
  router, the domain controller) and the DCRat host (3 connections, no label supported) have
  no row; Meterpreter's TLS on 8080 is ``non_http_on_http_port`` and not ``beacon``;
- no host outside the truth is reported.

The sandbox gateways (192.168.100.2) and the domain controller (192.168.1.4) start no flow of
their own in these captures: their "quiet" guards attribution (an alert or a failed
connection must be charged to the host that made it); the Hide'n'Seek router (192.168.2.1:
DHCP, SSH to the Pi, ICMP, unanswered UDP) is the quiet host with traffic of its own.

Labels whose detector is still being built elsewhere are strict xfails (``PENDING``), removed
when that work lands. The data dir is located by realdata.real_data_dir(); when it is missing
the tests skip, except in CI (``CI=true``), where that is a failure. One learn/analyze per
capture and mode is shared by the module (about 1 s each).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from engines import missing, require_binary
from realdata import MODES, Outcome, data_problem, load_truth, real_data_dir, run_capture

TRUTH = load_truth()
BY_FILE = {c.file: c for c in TRUTH}
QUASAR = "anyrun_quasarrat_09ffabf7.pcap"
# (capture, host, label) → why it cannot pass yet. Strict: an unexpected pass fails the run.
PENDING: dict[tuple[str, str, str], str] = {}

pytestmark = [pytest.mark.suricata]


def require_real_data() -> Path:
    """The data dir with every capture of the truth; skip without it, fail in CI."""
    where = real_data_dir()
    why = data_problem(TRUTH, where)
    if why is None:
        return where
    missing(why)
    return where  # unreachable: missing() always raises


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str], Outcome]:
    """(capture file, mode) → its Outcome, run once per module."""
    data = require_real_data()
    require_binary("suricata")
    cache: dict[tuple[str, str], Outcome] = {}

    def get(file: str, mode: str) -> Outcome:
        if (file, mode) not in cache:
            work = tmp_path_factory.mktemp(f"{Path(file).stem}-{mode}")
            cache[file, mode] = run_capture(BY_FILE[file], mode, data, work)
        return cache[file, mode]
    return get


def _label_cases() -> list:
    cases = []
    for mode in MODES:
        for c in TRUTH:
            for h in c.hosts:
                for label in sorted(h.labels):
                    why = PENDING.get((c.file, h.host, label))
                    marks = [pytest.mark.xfail(strict=True, reason=why)] if why else []
                    cases.append(pytest.param(mode, c.file, h.host, label, marks=marks,
                                              id=f"{mode}-{Path(c.file).stem}-{h.host}-{label}"))
    return cases


def _host_cases() -> list:
    return [pytest.param(mode, c.file, h.host, id=f"{mode}-{Path(c.file).stem}-{h.host}")
            for mode in MODES for c in TRUTH for h in c.hosts]


def _capture_cases() -> list:
    return [pytest.param(mode, c.file, id=f"{mode}-{Path(c.file).stem}")
            for mode in MODES for c in TRUTH]


def _truth(file: str, host: str) -> frozenset[str]:
    return next(h.labels for h in BY_FILE[file].hosts if h.host == host)


@pytest.mark.parametrize(("mode", "file", "host", "label"), _label_cases())
def test_supported_label_is_reported(outcome: Callable[[str, str], Outcome], mode: str,
                                     file: str, host: str, label: str) -> None:
    got = outcome(file, mode).hosts
    assert label in got.get(host, frozenset()), \
        f"{file} ({mode}): {host} should carry {label}; hosts.csv has {dict(got)}"


@pytest.mark.parametrize(("mode", "file", "host"), _host_cases())
def test_no_label_the_capture_does_not_support(outcome: Callable[[str, str], Outcome],
                                               mode: str, file: str, host: str) -> None:
    got = outcome(file, mode).hosts
    expected = _truth(file, host)
    if not expected:
        assert host not in got, f"{file} ({mode}): {host} must stay quiet, got {sorted(got[host])}"
    else:
        extra = got.get(host, frozenset()) - expected
        assert not extra, f"{file} ({mode}): {host} has unsupported label(s) {sorted(extra)}"


@pytest.mark.parametrize(("mode", "file"), _capture_cases())
def test_no_host_outside_the_truth_is_reported(outcome: Callable[[str, str], Outcome],
                                               mode: str, file: str) -> None:
    got = outcome(file, mode).hosts
    listed = {h.host for h in BY_FILE[file].hosts}
    assert set(got) <= listed, \
        f"{file} ({mode}): unlisted hosts reported: { {h: sorted(got[h]) for h in got} }"


@pytest.mark.parametrize("file", [c.file for c in TRUTH], ids=lambda f: Path(f).stem)
def test_modes_are_what_they_claim(outcome: Callable[[str, str], Outcome], file: str) -> None:
    """first-day learned nothing; learned-on-capture learned exactly that capture."""
    first = outcome(file, "first-day")
    assert not (first.out.parent / "baselines.json").exists()
    stats = json.loads((first.out / "stats.json").read_text())
    assert stats["thresholds"]["url_length"] == "512 (fallback)"
    learned = outcome(file, "learned-on-capture")
    doc = json.loads((learned.out.parent / "baselines.json").read_text())
    assert [i["path"] for i in doc["provenance"]["inputs"]] == [str(real_data_dir() / file)]
    assert doc["traffic"]["n_internal_hosts"] >= 1


def test_missing_data_fails_in_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    monkeypatch.setenv("SAKIMORI_SHARED_DATA", str(tmp_path / "nowhere"))
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match=r"real captures: directory .* not found"):
        require_real_data()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match=r"real captures: directory .* not found"):
        require_real_data()


def test_truth_is_well_formed(tmp_path: Path) -> None:
    """Every label is one a handler can report; a broken entry is an error naming it."""
    from eve_consumer.handlers import HANDLERS, _load_builtin

    _load_builtin()
    known = {d for cls in HANDLERS.values() for d in (cls.name, *cls.detections)}
    labels = {label for c in TRUTH for h in c.hosts for label in h.labels}
    assert labels and labels <= known, labels - known
    bad = tmp_path / "truth.yaml"
    for text in ("captures:\n  - file: x.pcap\n    home: [10.0.0.0/8]\n",
                 "captures:\n  - {file: x.pcap, what: w, home: [10.0.0.0/8], hosts: "
                 "[{host: 10.0.0.1, role: r, labels: beacon}]}\n"):
        bad.write_text(text)
        with pytest.raises(ValueError, match=r"captures\[0\]"):
            load_truth(bad)
