"""Bridges to other tools; each module needs its tool installed (``pip install 'bnnbo[peers]'``)."""
