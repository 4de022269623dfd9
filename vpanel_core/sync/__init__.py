"""Local-first sync between the desktop (master copy) and the portal (public edge).

Desktop → portal: signed publications (snapshot pages, then deltas keyed by the
desktop's change counter). Portal → desktop: signed pages of the portal's append-only
event log, pulled with a cursor. See docs/sync.md for the rules both sides follow.
"""
