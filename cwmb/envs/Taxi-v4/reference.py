"""Reference code world model for Taxi-v4 (deterministic: no rain, no fickle passenger)."""

SIZE = 5
STANDS = [(0, 0), (0, 4), (4, 0), (4, 3)]  # R, G, Y, B
IN_TAXI = 4

# Interior walls that block east-west movement, as (row, column on the west side of the wall).
WALLS = {(0, 1), (1, 1), (3, 0), (4, 0), (3, 2), (4, 2)}

STEP_REWARD = -1.0
ILLEGAL_REWARD = -10.0
DELIVERY_REWARD = 20.0


def encode(row: int, col: int, passenger: int, destination: int) -> int:
    return ((row * SIZE + col) * 5 + passenger) * 4 + destination


def decode(state: int) -> tuple[int, int, int, int]:
    rest, destination = divmod(state, 4)
    rest, passenger = divmod(rest, 5)
    row, col = divmod(rest, SIZE)
    return row, col, passenger, destination


class Environment:
    def __init__(self) -> None:
        self.state = 0

    def set_state(self, state) -> None:
        self.state = int(state)

    def step(self, action):
        row, col, passenger, destination = decode(self.state)
        action = int(action)
        reward = STEP_REWARD
        done = False
        if action == 0:  # south
            row = min(row + 1, SIZE - 1)
        elif action == 1:  # north
            row = max(row - 1, 0)
        elif action == 2:  # east
            if col < SIZE - 1 and (row, col) not in WALLS:
                col += 1
        elif action == 3:  # west
            if col > 0 and (row, col - 1) not in WALLS:
                col -= 1
        elif action == 4:  # pick up
            if passenger < IN_TAXI and STANDS[passenger] == (row, col):
                passenger = IN_TAXI
            else:
                reward = ILLEGAL_REWARD
        elif action == 5:  # drop off
            if passenger == IN_TAXI and STANDS[destination] == (row, col):
                passenger = destination
                reward = DELIVERY_REWARD
                done = True
            elif passenger == IN_TAXI and (row, col) in STANDS:
                passenger = STANDS.index((row, col))  # the passenger waits at this stand
            else:
                reward = ILLEGAL_REWARD
        self.state = encode(row, col, passenger, destination)
        return self.state, reward, done
