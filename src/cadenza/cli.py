"""The ``cadenza`` command: run the server or a worker, administer keys, credits and prices,
and (``generate``, ``tasks``, ``fetch``) use any server as a client."""

from __future__ import annotations

import importlib
import os
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from cadenza.domain.errors import DomainError
from cadenza.services.ports import UnitOfWorkFactory
from cadenza.settings import Settings

app = typer.Typer(
    name="cadenza",
    help="Cadenza: a self-hostable, Suno-compatible music generation API.",
    no_args_is_help=True,
    add_completion=False,
)
keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
credits_app = typer.Typer(help="Grant or remove credits.", no_args_is_help=True)
prices_app = typer.Typer(help="Show and change the price of each action.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(credits_app, name="credits")
app.add_typer(prices_app, name="prices")
channels_app = typer.Typer(
    help="Upstream channels: other services that take tasks on this server's behalf.",
    no_args_is_help=True,
)
app.add_typer(channels_app, name="channels")

console = Console()
err_console = Console(stderr=True)

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Data directory (SQLite database and media); default $CADENZA_DATA_DIR or ./data.",
    ),
]


def load_settings(data_dir: Path | None = None, **overrides: object) -> Settings:
    """Settings from the environment, with command-line options written back into it
    so that worker processes spawned later see the same configuration."""
    if data_dir is not None:
        os.environ["CADENZA_DATA_DIR"] = str(data_dir.resolve())
    for name, value in overrides.items():
        if value is not None:
            os.environ[f"CADENZA_{name.upper()}"] = str(value)
    return Settings()


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=1)


def _admin_uow(settings: Settings) -> UnitOfWorkFactory:
    """A unit-of-work factory on a migrated, price-seeded database."""
    from cadenza.bootstrap import build_uow, migrate
    from cadenza.services import billing

    migrate(settings)
    uow = build_uow(settings)
    billing.seed_prices(uow)
    return uow


def _show(value: Decimal) -> str:
    """Amounts as people write them: ``10.5``, not ``10.5000``."""
    text = format(value.normalize(), "f")
    return text


def _amount(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise _fail(f"'{text}' is not a number") from None
    if not value.is_finite():
        raise _fail(f"'{text}' is not a number")
    return value


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    data_dir: DataDir = None,
    workers: Annotated[
        int | None,
        typer.Option(help="Tasks run at once (default: half the CPU cores, at least 2)."),
    ] = None,
) -> None:
    """Run the API server with its worker pool (embedded default: SQLite, local media)."""
    import uvicorn

    from cadenza.api.app import create_app
    from cadenza.api.observability import configure_logging
    from cadenza.bootstrap import build_container, builtin_engine_available, prepare

    settings = load_settings(data_dir, host=host, port=port, workers=workers)
    configure_logging(settings.log_level, json=settings.log_json)
    container = build_container(settings)
    admin_secret = prepare(container)
    if admin_secret:
        console.print(
            Panel(
                f"[bold]{admin_secret}[/]\n\nThis admin API key is shown ONCE. Store it now.",
                title="Cadenza admin key created",
                border_style="green",
            )
        )
    if not builtin_engine_available():
        err_console.print("[yellow]warning:[/] the built-in engine is not installed")
    console.print(
        f"Cadenza listening on [bold]http://{settings.host}:{settings.port}[/] "
        f"(data: {settings.data_dir.resolve()}, workers: {settings.resolved_workers()})",
        soft_wrap=True,
    )
    uvicorn.run(
        create_app(container, freeze_heap=True),
        host=settings.host,
        port=settings.port,
        access_log=False,
        log_level="warning",
        # Forwarded headers are read by the app itself, from CADENZA_FORWARDED_ALLOW_IPS.
        proxy_headers=False,
        timeout_graceful_shutdown=10,
    )


@app.command()
def worker(
    data_dir: DataDir = None,
    concurrency: Annotated[
        int | None, typer.Option(help="Worker processes (default: CPU cores).")
    ] = None,
    queues: Annotated[
        str | None, typer.Option(help="Comma-separated queues (default from settings).")
    ] = None,
) -> None:
    """Run a scale-out Celery worker consuming the queues named by the settings."""
    from cadenza.queue.celery_app import run_worker, worker_queue

    settings = load_settings(data_dir)
    names = [q.strip() for q in queues.split(",") if q.strip()] if queues else []
    if not names:
        names = settings.worker_queues or [
            settings.queue_name,
            worker_queue(settings.worker_name, settings.queue_name),
        ]
    console.print(f"worker {settings.worker_name} consuming {', '.join(names)}")
    run_worker(
        names,
        concurrency=concurrency or settings.resolved_workers(),
        hostname=f"{settings.worker_name}@%h",
        loglevel=settings.log_level,
    )


@app.command("migrate")
def migrate_command(data_dir: DataDir = None) -> None:
    """Apply database migrations (idempotent)."""
    from cadenza.bootstrap import migrate

    settings = load_settings(data_dir)
    migrate(settings)
    console.print("database is up to date")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option(help="A label for the key.")] = "default",
    credits: Annotated[str, typer.Option(help="Starting credits.")] = "0",
    rpm: Annotated[int, typer.Option(help="Requests per minute.")] = 60,
    concurrency: Annotated[int, typer.Option(help="Queued + running tasks at once.")] = 4,
    admin: Annotated[bool, typer.Option("--admin", help="May manage keys and credits.")] = False,
    data_dir: DataDir = None,
) -> None:
    """Create a key; its secret is printed once, as the last word of the last line."""
    from cadenza.services import keys

    amount = _amount(credits)
    if rpm < 1 or concurrency < 1:
        raise _fail("--rpm and --concurrency must be at least 1")
    uow = _admin_uow(load_settings(data_dir))
    try:
        key, secret = keys.create_key(
            uow,
            name=name,
            credits=amount,
            rate_limit_per_minute=rpm,
            concurrency_limit=concurrency,
            is_admin=admin,
        )
    except DomainError as exc:
        raise _fail(exc.message) from None
    console.print(
        f"created key [bold]{key.id}[/] ({key.name}), credits {_show(key.credits_balance)}, "
        f"{key.rate_limit_per_minute} rpm, concurrency {key.concurrency_limit}"
        + (", admin" if key.is_admin else "")
    )
    console.print(f"callback signing secret: {key.callback_secret}", soft_wrap=True)
    print(f"API key (shown once): {secret}")


@keys_app.command("list")
def keys_list(data_dir: DataDir = None) -> None:
    """List keys (never their secrets)."""
    from cadenza.services import keys

    table = Table("id", "name", "prefix", "credits", "rpm", "concurrency", "admin", "revoked")
    for key in keys.list_keys(_admin_uow(load_settings(data_dir))):
        table.add_row(
            key.id,
            key.name,
            key.key_prefix,
            _show(key.credits_balance),
            str(key.rate_limit_per_minute),
            str(key.concurrency_limit),
            "yes" if key.is_admin else "",
            "yes" if key.revoked else "",
        )
    console.print(table)


@keys_app.command("secret")
def keys_secret(
    ref: Annotated[str, typer.Argument(help="Key id or key prefix.")],
    data_dir: DataDir = None,
) -> None:
    """Print the secret that signs a key's callbacks (receivers verify signatures with it)."""
    from cadenza.services import keys

    try:
        _, secret = keys.callback_secret(_admin_uow(load_settings(data_dir)), ref)
    except DomainError as exc:
        raise _fail(exc.message) from None
    print(secret)


@keys_app.command("revoke")
def keys_revoke(
    ref: Annotated[str, typer.Argument(help="Key id or key prefix.")],
    data_dir: DataDir = None,
) -> None:
    """Revoke a key; running servers stop accepting it within a second or two."""
    from cadenza.services import keys

    try:
        key = keys.revoke_key(_admin_uow(load_settings(data_dir)), ref)
    except DomainError as exc:
        raise _fail(exc.message) from None
    console.print(f"revoked key {key.id} ({key.key_prefix}…)")


@credits_app.command("grant")
def credits_grant(
    key: Annotated[str, typer.Argument(help="Key id or key prefix.")],
    amount: Annotated[str, typer.Argument(help="Credits to add (negative to remove).")],
    note: Annotated[str, typer.Option(help="Ledger note.")] = "",
    data_dir: DataDir = None,
) -> None:
    """Add credits to a key (a TOPUP ledger row; ADJUST when negative)."""
    from cadenza.services import keys

    value = _amount(amount)
    try:
        balance = keys.grant_credits(_admin_uow(load_settings(data_dir)), key, value, note)
    except DomainError as exc:
        raise _fail(exc.message) from None
    console.print(f"new balance: {_show(balance)}")


def _channel_uow(data_dir: Path | None) -> tuple[UnitOfWorkFactory, Settings]:
    settings = load_settings(data_dir)
    return _admin_uow(settings), settings


@channels_app.command("add")
def channels_add(
    name: Annotated[str, typer.Option(help="A unique name.")],
    kind: Annotated[str, typer.Option(help="The upstream's dialect: sunocore or acedata.")],
    base_url: Annotated[str, typer.Option(help="The upstream's base URL.")],
    key: Annotated[
        str,
        typer.Option(
            envvar="CADENZA_CHANNEL_KEY",
            help="The upstream's API key ('-' reads it from standard input). Sealed with "
            "CADENZA_CHANNEL_SECRET before it is stored; never shown again.",
        ),
    ],
    models: Annotated[
        list[str] | None,
        typer.Option(
            "--models",
            help="A model it serves (repeat, or comma-separate); * for all; "
            "ours=theirs sends ours under the upstream's name.",
        ),
    ] = None,
    actions: Annotated[
        list[str] | None,
        typer.Option(
            "--actions",
            help="An action it serves, MUSIC or LYRICS (repeat, or comma-separate; default MUSIC).",
        ),
    ] = None,
    weight: Annotated[int, typer.Option(help="Share of tasks among equals.")] = 1,
    priority: Annotated[int, typer.Option(help="Lower is tried first.")] = 0,
    max_in_flight: Annotated[int, typer.Option(help="Tasks relayed to it at once.")] = 16,
    submit_timeout: Annotated[float, typer.Option(help="Seconds for one submit.")] = 30.0,
    task_timeout: Annotated[float, typer.Option(help="Seconds a task may take there.")] = 900.0,
    cooldown: Annotated[float, typer.Option(help="Seconds its circuit stays open.")] = 30.0,
    data_dir: DataDir = None,
) -> None:
    """Add a channel; songs of the models it serves are relayed to it from then on."""
    import sys

    from cadenza.bootstrap import build_secret_box
    from cadenza.services import channels

    uow, settings = _channel_uow(data_dir)
    box = build_secret_box(settings)
    if box is None:
        raise _fail("set CADENZA_CHANNEL_SECRET first: channel keys are sealed with it")
    secret = sys.stdin.readline().strip() if key == "-" else key
    split = [m for item in models or ["*"] for m in item.split(",")]
    try:
        channel = channels.add_channel(
            uow,
            box,
            name=name,
            kind=kind,
            base_url=base_url,
            key=secret,
            models=split,
            actions=[a for item in actions or ["MUSIC"] for a in item.split(",")],
            weight=weight,
            priority=priority,
            max_in_flight=max_in_flight,
            submit_timeout_s=submit_timeout,
            task_timeout_s=task_timeout,
            cooldown_s=cooldown,
        )
    except DomainError as exc:
        raise _fail(exc.message) from None
    console.print(
        f"added channel [bold]{channel.name}[/] ({channel.kind.value}, {channel.base_url}) "
        f"for models {', '.join(channel.models)}"
    )


@channels_app.command("list")
def channels_list(data_dir: DataDir = None) -> None:
    """List channels (never their keys)."""
    from cadenza.services import channels

    table = Table(
        "name", "kind", "base URL", "models", "actions", "weight", "priority", "cap", "enabled"
    )
    for channel in channels.list_channels(_channel_uow(data_dir)[0]):
        table.add_row(
            channel.name,
            channel.kind.value,
            channel.base_url,
            ",".join(channel.models),
            ",".join(channel.actions),
            str(channel.weight),
            str(channel.priority),
            str(channel.max_in_flight),
            "yes" if channel.enabled else "no",
        )
    console.print(table)


@channels_app.command("disable")
def channels_disable(
    ref: Annotated[str, typer.Argument(help="Channel name or id.")], data_dir: DataDir = None
) -> None:
    """Stop sending new tasks to a channel; those it holds are still followed there."""
    from cadenza.services import channels

    try:
        channel = channels.set_enabled(_channel_uow(data_dir)[0], ref, False)
    except DomainError as exc:
        raise _fail(exc.message) from None
    console.print(f"disabled channel {channel.name}")


@channels_app.command("enable")
def channels_enable(
    ref: Annotated[str, typer.Argument(help="Channel name or id.")], data_dir: DataDir = None
) -> None:
    """Send tasks to a disabled channel again."""
    from cadenza.services import channels

    try:
        channel = channels.set_enabled(_channel_uow(data_dir)[0], ref, True)
    except DomainError as exc:
        raise _fail(exc.message) from None
    console.print(f"enabled channel {channel.name}")


@channels_app.command("remove")
def channels_remove(
    ref: Annotated[str, typer.Argument(help="Channel name or id.")], data_dir: DataDir = None
) -> None:
    """Remove a channel (disable it first and let its tasks finish)."""
    from cadenza.services import channels

    try:
        channel = channels.remove_channel(_channel_uow(data_dir)[0], ref)
    except DomainError as exc:
        raise _fail(exc.message) from None
    console.print(f"removed channel {channel.name}")


@prices_app.command("list")
def prices_list(data_dir: DataDir = None) -> None:
    """Show the price table."""
    from cadenza.services import billing

    table = Table("action", "display name", "price", "enabled", "refund on failure")
    for price in billing.list_prices(_admin_uow(load_settings(data_dir))):
        table.add_row(
            str(price.action),
            price.display_name,
            _show(price.price),
            "yes" if price.enabled else "no",
            "yes" if price.refund_on_failure else "no",
        )
    console.print(table)


@prices_app.command("set")
def prices_set(
    action: Annotated[str, typer.Argument(help="Action code, e.g. MUSIC.")],
    price: Annotated[str, typer.Argument(help="Price per call in credits.")],
    enabled: Annotated[
        bool | None, typer.Option("--enable/--disable", help="Allow or refuse the action.")
    ] = None,
    refund: Annotated[
        bool | None, typer.Option("--refund/--no-refund", help="Refund failed tasks.")
    ] = None,
    display_name: Annotated[str | None, typer.Option(help="Name shown to clients.")] = None,
    data_dir: DataDir = None,
) -> None:
    """Change an action's price (and optionally enable/disable it or its refunds)."""
    from cadenza.services import billing

    value = _amount(price)
    if value < 0:
        raise _fail("price must not be negative")
    try:
        updated = billing.set_price(
            _admin_uow(load_settings(data_dir)),
            action.upper(),
            price=value,
            enabled=enabled,
            refund_on_failure=refund,
            display_name=display_name,
        )
    except DomainError as exc:
        raise _fail(exc.message) from None
    console.print(
        f"{updated.action}: {_show(updated.price)} credits, "
        f"{'enabled' if updated.enabled else 'disabled'}, "
        f"refund on failure {'yes' if updated.refund_on_failure else 'no'}"
    )


@app.command(
    context_settings={
        "allow_extra_args": True,
        "ignore_unknown_options": True,
        "help_option_names": [],
    },
    help="Render a song offline with the built-in engine (cadenza render --help).",
)
def render(ctx: typer.Context) -> None:
    # Imported on use: the engine's dependencies are heavy for every other command.
    try:
        module = importlib.import_module("cadenza.compose.cli")
    except ImportError as exc:
        raise _fail(f"the built-in engine is not installed ({exc})") from None
    sub = typer.Typer(add_completion=False)
    sub.command()(module.render_command)
    typer.main.get_command(sub).main(args=list(ctx.args), prog_name="cadenza render")


def _register_client_commands() -> None:
    from cadenza.client.cli import register

    register(app)


_register_client_commands()

if __name__ == "__main__":
    app()
