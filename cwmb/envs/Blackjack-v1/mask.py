"""Scoring mask of Blackjack-v1: which parts of a transition the observation determines.

The observation (player sum, dealer's face-up card, usable ace) hides the dealer's face-down card
and the cards still to come, so most outcomes are random. A component is scored only when every
hand and every card sequence consistent with the observation gives it the same value:

- stick (0): the episode always ends and the observation is unchanged -> state and done scored;
  the reward depends on the dealer's hidden card and draws -> not scored.
- hit (1) with a usable ace, or a hard total of 11 or less: no card can bust the hand -> reward 0
  and done False scored; the new total depends on the card -> state not scored.
- hit with a hard total of 21: every card busts -> reward -1 and done True scored.
- hit with a hard total of 12 to 20: bust or not depends on the card -> nothing scored (the
  transition is left out of the metric).

The decision uses the observation and action only, never the simulator's hidden state."""

from typing import Any

Scored = tuple[bool, bool, bool]  # (next state, reward, done)

STICK = 0


def scored_components(obs: Any, action: int) -> Scored:
    player_sum, _dealer_card, usable_ace = (int(v) for v in obs)
    if int(action) == STICK:
        return True, False, True
    if usable_ace or player_sum <= 11 or player_sum >= 21:
        return False, True, True
    return False, False, False


class ScoringMask:
    def __init__(self) -> None:
        self._scored: Scored = (True, True, True)

    # The rule needs nothing but the observation, so recorded buffers get it too (`paper` split).
    scored_from_observation = staticmethod(scored_components)

    def before_step(self, env: Any, obs: Any, action: Any) -> None:
        self._scored = scored_components(obs, int(action))

    def after_step(self, env: Any, next_obs: Any) -> Scored:
        return self._scored
