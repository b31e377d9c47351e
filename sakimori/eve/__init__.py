"""EVE JSON shared by learning and consuming: line batches, decoding, timestamps, one-pass file
reading (docs/architecture.md, shared core)."""
