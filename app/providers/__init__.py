"""Cloud drivers behind one interface; see base.py. Drivers are looked up by provider name."""
