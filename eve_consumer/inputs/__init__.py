"""Input stage: where EVE lines come from (files one-shot or followed; more by name)."""
