"""The store's schema (SQLAlchemy 2 ORM), engines, URL resolution and the schema version check.

Tables: ``schema_version``, ``studies``, ``runs``, ``evaluations``, ``run_states``. The
interface used by the rest of the package is ``bnnbo.storage.Store``.
"""

from __future__ import annotations

import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    inspect,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column
from sqlalchemy.pool import NullPool

from bnnbo.errors import ConfigError
from bnnbo.records import jsonable  # noqa: F401 - importable from here as before

SCHEMA_VERSION = 1
DEFAULT_URL = "sqlite:///bnnbo.db"
#: seconds a SQLite connection waits for another process's lock before giving up
SQLITE_TIMEOUT = 30.0
#: the stored run states (``bnnbo.records.RunStatus``'s values; kept as text in the store)
RUN_STATES = ("pending", "running", "finished", "failed", "interrupted", "superseded")


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


_now = utc_now  # the column defaults below; older code imported this name


class Base(DeclarativeBase):
    pass


class SchemaVersion(Base):
    __tablename__ = "schema_version"
    version: Mapped[int] = mapped_column(Integer, primary_key=True)


class StudyRow(Base):
    __tablename__ = "studies"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(Text, default="")  # the study file's text
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class RunRow(Base):
    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"))
    problem: Mapped[str] = mapped_column(String(200))  # label
    surrogate: Mapped[str] = mapped_column(String(200))  # label
    seed: Mapped[int] = mapped_column(Integer)
    problem_name: Mapped[str] = mapped_column(String(200))
    surrogate_name: Mapped[str] = mapped_column(String(200))
    settings: Mapped[dict] = mapped_column(JSON)  # resolved surrogate settings
    spec: Mapped[dict] = mapped_column(JSON)  # the whole RunSpec
    budget: Mapped[int] = mapped_column(Integer)
    n_evaluations: Mapped[int] = mapped_column(Integer, default=0)
    best: Mapped[float | None] = mapped_column(Float, nullable=True)  # best value / hypervolume
    status: Mapped[str] = mapped_column(String(20), default="pending")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    traceback: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    # the driver advancing the run writes it every step and every few seconds during long fits;
    # a "running" run whose heartbeat is old was left by a driver that died (shown "interrupted")
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    __table_args__ = (Index("ix_runs_cell", "study_id", "problem", "surrogate", "seed"),)


class EvaluationRow(Base):
    __tablename__ = "evaluations"
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), index=True)
    index: Mapped[int] = mapped_column(Integer)  # 0-based position in the run
    batch: Mapped[int] = mapped_column(Integer)  # the ask that proposed it
    x: Mapped[list] = mapped_column(JSON)  # d, original units
    y: Mapped[list] = mapped_column(JSON)  # m, maximisation convention
    initial: Mapped[bool] = mapped_column(Boolean)
    fit_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    acq_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    diagnostics: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    # "every evaluation exactly once" is enforced by the schema, not only by the runner
    __table_args__ = (UniqueConstraint("run_id", "index", name="uq_evaluation_index"),)


class RunStateRow(Base):
    """The surrogate state after the run's last committed step (bnnbo.statefile bytes; None for stateless)."""

    __tablename__ = "run_states"
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    n_evaluations: Mapped[int] = mapped_column(Integer)
    blob: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


def resolve_url(url: str | os.PathLike | None) -> str:
    """``None`` -> ``$BNNBO_DB`` or ``sqlite:///bnnbo.db``; a plain path -> a SQLite URL.

    An empty ``$BNNBO_DB`` counts as unset (the shell convention); an empty ``url`` given
    explicitly is refused: it is almost always an unset variable in ``--db "$DB"``.
    """
    if url is None:
        url = os.environ.get("BNNBO_DB", "").strip() or DEFAULT_URL
    url = os.fspath(url)
    if not url.strip():
        raise ConfigError(
            "the store URL is empty; expected a SQLite file path or a SQLAlchemy URL "
            "(leave out --db for the default: $BNNBO_DB, else ./bnnbo.db)"
        )
    return url if "://" in url else f"sqlite:///{url}"


def is_memory_url(url: str) -> bool:
    """A SQLite URL without a file (``sqlite://``, ``sqlite:///:memory:``): gone when closed."""
    return url.startswith("sqlite") and (_sqlite_path(url) is None or "mode=memory" in url)


def _sqlite_path(url: str) -> Path | None:
    if not url.startswith("sqlite"):
        return None
    path = url.split(":///", 1)[1] if ":///" in url else ""
    path, _, query = path.partition("?")
    if "uri=true" in query and path.startswith("file:"):  # sqlite:///file:x.db?mode=ro&uri=true
        path = path[len("file:") :]
    return None if path in ("", ":memory:") else Path(path)


def make_engine(url: str, readonly: bool = False) -> Engine:
    sqlite = url.startswith("sqlite")
    path = _sqlite_path(url)
    if readonly and sqlite and path is not None:
        return _readonly_sqlite(path)
    kwargs: dict[str, Any] = {"connect_args": {"timeout": SQLITE_TIMEOUT}} if sqlite else {"pool_pre_ping": True}
    if readonly and url.startswith("postgresql"):
        # libpq option: every transaction of these connections is read-only, the server refuses writes
        kwargs["connect_args"] = {"options": "-c default_transaction_read_only=on"}
    try:
        # a reader (bnnbo status) must never block the writer for long: WAL + busy timeout
        engine = create_engine(url, **kwargs)
    except ModuleNotFoundError as exc:
        raise ConfigError(
            f"store URL {_safe(url)} needs the database driver {exc.name!r}; "
            "for PostgreSQL: pip install 'bnnbo[postgres]'"
        ) from None
    except (ArgumentError, NoSuchModuleError) as exc:
        raise ConfigError(
            f"store URL {_safe(url)}: {exc}; expected a SQLite file path or a SQLAlchemy "
            "URL such as postgresql+psycopg://user@host/db"
        ) from None
    if sqlite:

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):
            # journal_mode=WAL is set once the file is known to be a bnnbo store (open_engine):
            # it rewrites the file's header, and another application's file must stay untouched
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

    return engine


def _readonly_sqlite(path: Path) -> Engine:
    """SQLite opened with ``mode=ro``: it cannot write, and (WAL) never blocks the writer.

    No pool: each checkout is a fresh connection, so no read transaction outlives a request.
    """
    uri = path.resolve().as_uri() + "?mode=ro"
    return create_engine(
        "sqlite://",
        poolclass=NullPool,
        creator=lambda: sqlite3.connect(uri, uri=True, timeout=SQLITE_TIMEOUT, check_same_thread=False),
    )


def open_engine(url: str | os.PathLike | None = None, create: bool = True, readonly: bool = False) -> Engine:
    """An engine on a checked store; ``create=False`` refuses to create a missing one;
    ``readonly`` (implies ``create=False``) connects read-only (SQLite ``mode=ro``; PostgreSQL
    read-only transactions)."""
    url = resolve_url(url)
    path = _sqlite_path(url)
    create = create and not readonly
    if not create and path is not None and not path.exists():
        raise ConfigError(f"no bnnbo store at {str(path)!r} (run a study first, or pass --db URL)")
    engine = make_engine(url, readonly)
    try:
        tables = inspect(engine).get_table_names()
        has_schema = "schema_version" in tables
        if not has_schema and tables and path is not None:
            # another application's SQLite file: bnnbo never adds its tables to it (a database
            # server's database may be shared, as other tools' stores do)
            shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
            raise ConfigError(
                f"{_safe(url)} is not a bnnbo store: it holds other tables ({shown}) and no "
                "schema_version table; bnnbo writes only to its own stores, so give another "
                "--db (a new file is created)"
            )
        if not has_schema and not create:
            raise ConfigError(f"{_safe(url)} is not a bnnbo store (no schema_version table)")
        if not has_schema:
            Base.metadata.create_all(engine)
            with Session(engine) as s, s.begin():
                s.add(SchemaVersion(version=SCHEMA_VERSION))
        _check_version(engine, url)
        _add_missing_columns(engine, url, readonly)
        if create and path is not None:
            _check_writable(engine)
            with engine.connect() as conn:  # persistent in the file; lets `status` read while a run writes
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
    except DBAPIError as exc:  # cannot connect: wrong password, no server, no such folder, ...
        engine.dispose()
        raise ConfigError(explain_db_error(exc, url)) from None
    except ConfigError:
        engine.dispose()
        raise
    return engine


def _check_writable(engine: Engine) -> None:
    """Take SQLite's write lock once and let go: a read-only or locked store fails here, with
    one message, instead of at the first commit of a run."""
    with engine.connect() as conn:  # a no-op update, rolled back: read-only files refuse even that
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            conn.exec_driver_sql("UPDATE schema_version SET version = version")
        finally:
            conn.exec_driver_sql("ROLLBACK")


def explain_db_error(exc: DBAPIError, url: str | None = None) -> str:
    """One line for a database error: what is wrong with the store and what to do."""
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc).splitlines()[0]
    where = f"the store {_safe(url)}" if url else "the store"
    low = reason.lower()
    if "locked" in low or "busy" in low:
        return (
            f"{where} is locked by another process (waited {SQLITE_TIMEOUT:g} s): {reason}; "
            "wait for it to finish, or use another --db"
        )
    if "readonly" in low or "read-only" in low or "read only" in low:
        return (
            f"{where} is read-only: {reason}; bnnbo needs to write it (check the file's and its folder's permissions)"
        )
    if "not a database" in low or "malformed" in low or "corrupt" in low:
        return f"{where} is damaged or not a SQLite database: {reason}; restore it from a copy, or give another --db"
    return f"cannot open {where}: {reason}"


#: columns added after schema version 1 was released: stores made before them get them on opening
_ADDED_COLUMNS = {"runs": ("heartbeat_at",)}


def _add_missing_columns(engine: Engine, url: str, readonly: bool = False) -> None:
    for table, names in _ADDED_COLUMNS.items():
        have = {c["name"] for c in inspect(engine).get_columns(table)}
        for name in names:
            if name in have:
                continue
            if readonly:
                raise ConfigError(
                    f"store {_safe(url)} was made by an older bnnbo and needs the column "
                    f"{table}.{name}, which a read-only connection cannot add; open it once "
                    "with write access (e.g. `bnnbo status --db ...`)"
                )
            column = Base.metadata.tables[table].c[name]
            ddl = f"ALTER TABLE {table} ADD COLUMN {name} {column.type.compile(dialect=engine.dialect)}"
            try:
                with engine.begin() as conn:
                    conn.exec_driver_sql(ddl)
            except DBAPIError as exc:
                if name in {c["name"] for c in inspect(engine).get_columns(table)}:
                    continue  # another process added it meanwhile
                reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
                raise ConfigError(
                    f"store {_safe(url)} was made by an older bnnbo and needs the column "
                    f"{table}.{name} added, which failed ({reason}); open it once with write "
                    "access (e.g. `bnnbo status --db ...` as its owner)"
                ) from None


def _check_version(engine: Engine, url: str) -> None:
    with Session(engine) as s:
        version = s.scalar(select(SchemaVersion.version))
    if version != SCHEMA_VERSION:
        raise ConfigError(
            f"store {_safe(url)} has schema version {version}; this bnnbo reads version "
            f"{SCHEMA_VERSION} (newer stores need a newer bnnbo)"
        )


def _safe(url: str) -> str:
    """The URL without a password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for a message
        return "the store URL"
