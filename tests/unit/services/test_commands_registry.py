"""Every priced action is one registered command: the registry says which."""

from __future__ import annotations

from cadenza.domain.actions import DEFAULT_PRICES, Action
from cadenza.services.commands import Commands


def test_every_priced_action_has_a_registered_command() -> None:
    covered = {action for actions in Commands.actions().values() for action in actions}
    priced = {Action(price.action) for price in DEFAULT_PRICES}
    assert priced == set(Action)
    assert sorted(priced - covered) == []


def test_every_registered_command_says_what_it_is_priced_as() -> None:
    declared = Commands.actions()
    assert set(declared) == Commands.registered()
    silent = sorted(kind.__name__ for kind, actions in declared.items() if not actions)
    assert silent == []
