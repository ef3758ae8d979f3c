"""Attack: never finish loading (an endless loop at import time)."""

while True:
    pass


class Environment:
    pass
