"""PostgreSQL: a submit's admission (the key's lock, its concurrency check, the debit and
the charge's ledger row) as one function, so the API sends it together with the COMMIT in
one flight and the key's row is locked only while the server runs it, never while the
API process is busy elsewhere. A refusal raises one of three SQLSTATEs the adapter
translates: CZ401 (no such key or revoked), CZ429 (concurrency limit; the message is the
limit), CZ402 (balance too low). SQLite runs the same steps as separate statements.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE OR REPLACE FUNCTION cadenza_admit(
            p_key text, p_entry text, p_amount numeric, p_action text, p_task text,
            p_now timestamptz, p_check_concurrency boolean
        ) RETURNS numeric AS $$
        DECLARE
            k_revoked boolean;
            k_limit integer;
            active integer;
            balance numeric;
            refusal text;
            detail text;
        BEGIN
            -- The inner block is a subtransaction: a refusal rolls it back, which lets go
            -- of the key's lock at once, before the error aborts the caller's transaction.
            BEGIN
                SELECT revoked, concurrency_limit INTO k_revoked, k_limit
                FROM api_keys WHERE id = p_key FOR NO KEY UPDATE;
                IF NOT FOUND OR k_revoked THEN
                    RAISE EXCEPTION USING ERRCODE = 'CZ401', MESSAGE = 'key';
                END IF;
                IF p_check_concurrency THEN
                    -- A statement of its own, after the lock: it sees every task committed
                    -- by the submits that held the lock before.
                    SELECT count(*) INTO active FROM (
                        SELECT 1 FROM tasks
                        WHERE key_id = p_key AND status NOT IN ('SUCCESS', 'FAILURE')
                        LIMIT k_limit + 1
                    ) AS unfinished;
                    IF active > k_limit THEN
                        RAISE EXCEPTION USING ERRCODE = 'CZ429', MESSAGE = k_limit::text;
                    END IF;
                END IF;
                UPDATE api_keys SET credits_balance = credits_balance - p_amount
                WHERE id = p_key AND credits_balance >= p_amount
                RETURNING credits_balance INTO balance;
                IF NOT FOUND THEN
                    RAISE EXCEPTION USING ERRCODE = 'CZ402', MESSAGE = 'balance';
                END IF;
            EXCEPTION WHEN SQLSTATE 'CZ401' OR SQLSTATE 'CZ429' OR SQLSTATE 'CZ402' THEN
                GET STACKED DIAGNOSTICS refusal = RETURNED_SQLSTATE, detail = MESSAGE_TEXT;
            END;
            IF refusal IS NOT NULL THEN
                RAISE EXCEPTION USING ERRCODE = refusal, MESSAGE = detail;
            END IF;
            INSERT INTO ledger_entries (
                id, key_id, entry_type, change_amount, balance_after, action, task_id,
                note, created_at
            ) VALUES (
                p_entry, p_key, 'CONSUME', -p_amount, balance, p_action, p_task, '', p_now
            );
            RETURN balance;
        END
        $$ LANGUAGE plpgsql
        """
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "DROP FUNCTION IF EXISTS cadenza_admit("
        "text, text, numeric, text, text, timestamptz, boolean)"
    )
