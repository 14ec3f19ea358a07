"""Pieces every API area shares: errors, envelope, database helpers, crypto, time, paging."""
