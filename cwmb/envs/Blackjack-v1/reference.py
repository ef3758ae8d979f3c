"""Reference code world model for Blackjack-v1 (Sutton & Barto rules, infinite deck).

The observation hides the dealer's face-down card and the order of future cards, so the reference
draws them with numpy's random generator. Every outcome the observation does determine (see
mask.py) is computed exactly: sticking always ends the episode and leaves the observation
unchanged; hitting with a soft hand or a hard total of 11 or less never busts; hitting a hard 21
always busts."""

import numpy as np

# Ranks ace..king; every face card counts 10, so 10 is four times as likely as the other values.
CARD_VALUES = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10, 10, 10)


def hand_total(raw_sum: int, has_ace: bool) -> tuple[int, int]:
    """Best total of a hand and whether an ace counts as 11 in it (a "usable" ace)."""
    if has_ace and raw_sum + 10 <= 21:
        return raw_sum + 10, 1
    return raw_sum, 0


class Environment:
    def __init__(self) -> None:
        self.rng = np.random.default_rng(0)
        self.player_sum, self.dealer_card, self.usable_ace = 12, 10, 0

    def set_state(self, state) -> None:
        self.player_sum, self.dealer_card, self.usable_ace = (int(v) for v in state)

    def draw(self) -> int:
        return int(CARD_VALUES[int(self.rng.integers(len(CARD_VALUES)))])

    def observation(self) -> tuple[int, int, int]:
        return self.player_sum, self.dealer_card, self.usable_ace

    def step(self, action):
        if int(action) == 1:
            return self.hit()
        return self.stick()

    def hit(self):
        # With a usable ace the ace is counted as 11: the raw sum counts it as 1.
        raw = self.player_sum - 10 if self.usable_ace else self.player_sum
        card = self.draw()
        # A hand without a usable ace can only gain one through the new card: an ace it already
        # held is unusable and stays so once more cards are added.
        has_ace = bool(self.usable_ace) or card == 1
        self.player_sum, self.usable_ace = hand_total(raw + card, has_ace)
        if self.player_sum > 21:
            return self.observation(), -1.0, True
        return self.observation(), 0.0, False

    def stick(self):
        hidden = self.draw()
        raw, has_ace = self.dealer_card + hidden, 1 in (self.dealer_card, hidden)
        total, _ = hand_total(raw, has_ace)
        while total < 17:  # the dealer stands on any 17, soft or hard
            card = self.draw()
            raw, has_ace = raw + card, has_ace or card == 1
            total, _ = hand_total(raw, has_ace)
        dealer_score = 0 if total > 21 else total
        # Whether the player's hand is a natural (ace + ten on the first two cards) is not
        # observable; this model treats it as an ordinary hand (only the reward can differ).
        if self.player_sum > dealer_score:
            reward = 1.0
        elif self.player_sum < dealer_score:
            reward = -1.0
        else:
            reward = 0.0
        return self.observation(), reward, True
