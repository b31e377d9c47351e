"""The demo, apart from the product: the office-network and mail simulators (:mod:`.officesim`,
:mod:`.mailsim`), the ``sakimori demo`` pipeline (:mod:`.command`, :mod:`.mail`) and its loopback
SMTP sink (:mod:`.smtpsink`). Installed with the ``demo`` extra (scapy, cryptography, aiosmtpd);
the product never imports it — ``sakimori demo`` loads it lazily (docs/architecture.md)."""
