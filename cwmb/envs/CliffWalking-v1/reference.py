"""Reference code world model for CliffWalking-v1 (deterministic, is_slippery=False)."""

ROWS = 4
COLS = 12
START = (ROWS - 1) * COLS  # bottom-left cell, index 36
GOAL = ROWS * COLS - 1  # bottom-right cell, index 47
STEP_REWARD = -1
CLIFF_REWARD = -100

# action -> (row change, column change)
MOVES = {0: (-1, 0), 1: (0, 1), 2: (1, 0), 3: (0, -1)}


def is_cliff(row: int, col: int) -> bool:
    return row == ROWS - 1 and 0 < col < COLS - 1


class Environment:
    def __init__(self) -> None:
        self.cell = START

    def set_state(self, state) -> None:
        self.cell = int(state)

    def step(self, action):
        row, col = divmod(self.cell, COLS)
        d_row, d_col = MOVES[int(action)]
        # Moves that would leave the grid are clamped: the agent stays on the edge.
        row = min(max(row + d_row, 0), ROWS - 1)
        col = min(max(col + d_col, 0), COLS - 1)
        if is_cliff(row, col):
            self.cell = START
            return self.cell, float(CLIFF_REWARD), False
        self.cell = row * COLS + col
        return self.cell, float(STEP_REWARD), self.cell == GOAL
