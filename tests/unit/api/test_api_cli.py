"""The administration commands, run in-process against a temporary data directory."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cadenza.bootstrap import build_uow
from cadenza.cli import app
from cadenza.services import billing, keys
from cadenza.services.views import UowViews
from cadenza.settings import Settings


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # The CLI writes its options into the environment for child processes; let the
    # monkeypatch restore it afterwards.
    monkeypatch.setenv("CADENZA_DATA_DIR", str(tmp_path))
    return tmp_path


def _run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_keys_create_prints_the_secret_last_and_list_hides_it(data_dir: Path) -> None:
    out = _run(
        "keys",
        "create",
        "--credits",
        "25",
        "--rpm",
        "30",
        "--concurrency",
        "2",
        "--name",
        "alice",
        "--data-dir",
        str(data_dir),
    )
    secret = out.strip().splitlines()[-1].split()[-1]
    assert secret.startswith("sk_")
    key = keys.authenticate(UowViews(build_uow(Settings(data_dir=data_dir))), secret)
    assert key.name == "alice" and key.rate_limit_per_minute == 30
    assert key.concurrency_limit == 2 and key.credits_balance == Decimal(25)
    listing = _run("keys", "list", "--data-dir", str(data_dir))
    assert "alice" in listing and secret not in listing


def test_credits_grant_and_revoke_by_prefix(data_dir: Path) -> None:
    out = _run("keys", "create", "--credits", "1", "--data-dir", str(data_dir))
    secret = out.strip().splitlines()[-1].split()[-1]
    prefix = secret[:10]
    granted = _run("credits", "grant", prefix, "9.5", "--data-dir", str(data_dir))
    assert "new balance: 10.5\n" in granted
    _run("keys", "revoke", prefix, "--data-dir", str(data_dir))
    from cadenza.domain.errors import Unauthorized

    with pytest.raises(Unauthorized):
        keys.authenticate(UowViews(build_uow(Settings(data_dir=data_dir))), secret)


def test_prices_set_and_list(data_dir: Path) -> None:
    _run("prices", "set", "music", "7", "--disable", "--no-refund", "--data-dir", str(data_dir))
    listing = _run("prices", "list", "--data-dir", str(data_dir))

    def cells(action: str) -> list[str]:
        line = next(ln for ln in listing.splitlines() if ln.startswith(f"│ {action} "))
        return [cell.strip() for cell in line.strip("│").split("│")]

    # action, display name, price, enabled, refund on failure
    assert [cells("MUSIC")[i] for i in (0, 2, 3, 4)] == ["MUSIC", "7", "no", "no"]
    assert [cells("CROP")[i] for i in (0, 2, 3, 4)] == ["CROP", "2", "yes", "yes"]  # untouched
    stored = {p.action: p for p in billing.list_prices(build_uow(Settings(data_dir=data_dir)))}
    music = stored["MUSIC"]
    assert (music.price, music.enabled, music.refund_on_failure) == (Decimal(7), False, False)


def test_errors_exit_non_zero(data_dir: Path) -> None:
    result = CliRunner().invoke(app, ["keys", "revoke", "sk_missing", "--data-dir", str(data_dir)])
    assert result.exit_code == 1
    bad = CliRunner().invoke(app, ["credits", "grant", "x", "lots", "--data-dir", str(data_dir)])
    assert bad.exit_code == 1


def test_keys_show_their_callback_secret(data_dir: Path) -> None:
    out = _run("keys", "create", "--name", "hooks", "--data-dir", str(data_dir))
    shown = next(ln for ln in out.splitlines() if ln.startswith("callback signing secret: "))
    created = shown.split()[-1]
    secret = out.strip().splitlines()[-1].split()[-1]
    key = keys.authenticate(UowViews(build_uow(Settings(data_dir=data_dir))), secret)
    assert key.callback_secret == created and len(created) >= 40
    assert _run("keys", "secret", key.id, "--data-dir", str(data_dir)).strip() == created
    assert _run("keys", "secret", secret[:10], "--data-dir", str(data_dir)).strip() == created
    missing = CliRunner().invoke(app, ["keys", "secret", "nope", "--data-dir", str(data_dir)])
    assert missing.exit_code == 1
