"""Running untrusted programs: executor backends behind one interface (see base.py)."""
