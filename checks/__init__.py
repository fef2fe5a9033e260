"""Wardround's check library: measure one thing, judge it, return results.

Pure of transport: nothing here knows about HTTP, spools or collectors.
"""
