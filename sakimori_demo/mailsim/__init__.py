"""Deterministic example mail corpus with ground truth (``sakimori_demo.mailsim``).

Past mail of a Japanese company (``example.co.jp``) for learning — domestic and overseas
partners through their own relays, internal mail through our relay, newsletters, a few broken
files — as a Maildir and an mbox, and a test set of new mails (legitimate, one spoof per check
of docs/mail-checks.md, hostile input) with sidecar ground truth::

    from sakimori_demo.mailsim import generate_corpus
    truth = generate_corpus(Path("out"), seed=2026)

or ``python -m sakimori_demo.mailsim --out DIR``. Same arguments → byte-identical files.
"""

from sakimori_demo.mailsim.corpus import generate_corpus

__all__ = ["generate_corpus"]
