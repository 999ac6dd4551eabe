"""Dedup and grouping: which incident each alert belongs to, and what changed."""
