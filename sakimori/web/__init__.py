"""The admin screen (``sakimori serve``): the SOC's web view of hosts, findings, mail warnings
and the whitelist, served by the correlator. See docs/admin-screen.md.

Modules: :mod:`.app` (factory, auth guard, CSRF, security headers), :mod:`.views` (pages),
:mod:`.auth`, :mod:`.csrf`, :mod:`.data` (reads the consumer's reports),
:mod:`.killchain`, :mod:`.svgplot` (beacon interval plot), :mod:`.wledit` (whitelist editor).
"""
