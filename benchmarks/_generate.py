"""A deterministic orders table of 25 mixed columns, written by DuckDB straight to Parquet.

Every value is drawn from a hash of the row number and SEED rather than from random(), whose
sequence depends on how DuckDB splits the work between threads: the same SEED and row count give
the same file on every run. A few rows are deliberately broken (a negative price, an unknown
country, a malformed e-mail, a parcel shipped before it was ordered) so a contract has failures
to find.
"""

from __future__ import annotations

import time
from pathlib import Path

import duckdb

SEED = 20260101
# Bump when the columns or their values change, so a cached file of the old shape is not reused.
VERSION = 1
COLUMNS = 25

STATUSES = ("pending", "paid", "shipped", "delivered", "cancelled")
COUNTRIES = (
    "AT", "AU", "BE", "BR", "CA", "CH", "CN", "CZ", "DE", "DK", "ES", "FI", "FR", "GB", "GR",
    "IE", "IN", "IT", "JP", "KR", "MX", "NL", "NO", "NZ", "PL", "PT", "SE", "SG", "US", "ZA",
)  # fmt: skip
CHANNELS = ("web", "store", "phone", "partner")
CURRENCIES = ("EUR", "USD", "GBP")
DOMAINS = ("example.com", "mail.example.org", "shop.example.net", "example.co.uk")
COMMENTS = ("leave at the door", "gift wrap please", "call before delivery", "fragile", "urgent order")


def parquet_path(folder: Path, rows: int) -> Path:
    """Where the file of this many rows is cached; its name changes with SEED and VERSION."""
    return folder / f"orders-{rows}-s{SEED}-v{VERSION}.parquet"


def ensure(folder: Path, rows: int) -> tuple[Path, float | None]:
    """The cached file, written first if absent; the seconds spent writing it, or None when reused."""
    path = parquet_path(folder, rows)
    if path.exists():
        return path, None
    folder.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    started = time.perf_counter()
    with duckdb.connect() as con:
        con.execute("SET enable_progress_bar = false")
        con.execute(f"COPY ({orders_sql(rows)}) TO '{_quoted(partial)}' (FORMAT parquet)")
    partial.rename(path)  # a run stopped half-way leaves no file that looks complete
    return path, time.perf_counter() - started


def orders_sql(rows: int) -> str:
    """The SELECT that draws the table: in layers, so derived amounts reuse their drawn inputs."""

    def u(k: int) -> str:
        # Uniform on [0, 1) with a resolution of 10⁻⁶, the k-th independent draw of the row.
        return f"(hash(i, {SEED}, {k}) % 1000000)::DOUBLE / 1000000"

    def pick(options: tuple[str, ...], k: int) -> str:
        return f"{_list(options)}[1 + (hash(i, {SEED}, {k}) % {len(options)})::INTEGER]"

    def digits(k: int, width: int) -> str:
        return f"lpad((hash(i, {SEED}, {k}) % {10**width})::VARCHAR, {width}, '0')"

    def letter(k: int) -> str:
        return f"chr(65 + (hash(i, {SEED}, {k}) % 26)::INTEGER)"

    drawn = f"""
        SELECT
            i + 1 AS order_id,
            1 + (hash(i, {SEED}, 1) % 1000000)::BIGINT AS customer_id,
            1 + (hash(i, {SEED}, 2) % 100)::INTEGER AS quantity,
            CASE WHEN {u(3)} < 0.01 THEN NULL
                 WHEN {u(4)} < 0.00002 THEN -round(0.5 + 999.5 * pow({u(5)}, 2), 2)
                 ELSE round(0.5 + 999.5 * pow({u(5)}, 2), 2) END AS unit_price,
            CASE WHEN {u(6)} < 0.08 THEN NULL ELSE round(0.5 * pow({u(7)}, 3), 3) END AS discount,
            CASE WHEN {u(8)} < 0.2 THEN NULL ELSE 1 + floor({u(9)} * 5) END AS rating,
            CASE WHEN {u(10)} < 0.005 THEN NULL
                 ELSE round(({u(11)} + {u(12)} + {u(13)} - 1.5) * 6, 4) END AS score,
            {pick(STATUSES, 14)} AS status,
            CASE WHEN {u(15)} < 0.00005 THEN 'XX' ELSE {pick(COUNTRIES, 16)} END AS country,
            CASE WHEN {u(17)} < 0.02 THEN NULL ELSE {pick(CHANNELS, 18)} END AS channel,
            {pick(CURRENCIES, 19)} AS currency,
            {u(20)} AS email_draw,
            {pick(DOMAINS, 21)} AS domain,
            'INV-' || lpad((i + 1)::VARCHAR, 8, '0') AS invoice_no,
            'SKU-' || {letter(22)} || {letter(23)} || {letter(24)} || '-' || {digits(25, 4)} AS sku,
            '+44 20 ' || {digits(26, 4)} || ' ' || {digits(27, 4)} AS phone,
            CASE WHEN {u(28)} < 0.75 THEN NULL ELSE {pick(COMMENTS, 29)} END AS comment,
            TIMESTAMP '2025-01-01' + to_seconds(i * 3 + (hash(i, {SEED}, 30) % 3)::BIGINT) AS created_at,
            {u(31)} AS shipped_draw,
            to_seconds((3600 + hash(i, {SEED}, 32) % (10 * 86400))::BIGINT) AS ship_delay,
            {u(33)} < 0.1 AS is_gift,
            CASE WHEN {u(34)} < 0.05 THEN NULL ELSE {u(35)} < 0.03 END AS is_returned,
            {letter(36)} || {letter(37)} || (hash(i, {SEED}, 38) % 10)::VARCHAR || ' '
                || (hash(i, {SEED}, 39) % 10)::VARCHAR || {letter(40)} || {letter(41)} AS postcode
        FROM range({rows}) AS t(i)
    """
    return f"""
        SELECT
            order_id, customer_id, quantity, unit_price, discount,
            net_amount, round(net_amount * 0.2, 2) AS tax_amount, round(net_amount * 1.2, 2) AS total_amount,
            rating, score, status, country, channel, currency,
            CASE WHEN email_draw < 0.03 THEN NULL
                 WHEN email_draw < 0.0301 THEN 'customer' || customer_id || '.' || domain
                 ELSE 'customer' || customer_id || '@' || domain END AS email,
            invoice_no, sku, phone, comment, created_at,
            CASE WHEN shipped_draw < 0.3 THEN NULL
                 WHEN shipped_draw < 0.3001 THEN created_at - INTERVAL 1 HOUR
                 ELSE created_at + ship_delay END AS shipped_at,
            created_at::DATE AS order_date,
            is_gift, is_returned, postcode
        FROM (
            SELECT *, round(quantity * abs(unit_price) * (1 - coalesce(discount, 0)), 2) AS net_amount
            FROM ({drawn})
        )
    """


def _list(options: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{option}'" for option in options) + "]"


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")
