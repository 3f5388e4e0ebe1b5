-- SPDX-License-Identifier: BSD-2-Clause
-- 30_users.sql: users, their tokens and their limits.
--
-- Names and token hashes are checked by the table's constraints (23514
-- check_violation, 23505 unique_violation for a taken name).

CREATE OR REPLACE FUNCTION batchup.user_add(p_name text, p_token_hash text, p_limit integer) RETURNS integer
LANGUAGE sql VOLATILE
BEGIN ATOMIC
    INSERT INTO batchup.users (name, token_hash, slot_limit)
    VALUES (p_name, lower(p_token_hash), coalesce(p_limit, 0))
    RETURNING id;
END;

COMMENT ON FUNCTION batchup.user_add(text, text, integer) IS
    'Creates a user with the hex SHA-256 of its API token and its slot limit (0 or NULL = server default); returns its id. 23505 when the name is taken.';

CREATE OR REPLACE FUNCTION batchup.user_set_token(p_name text, p_token_hash text) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    UPDATE batchup.users u SET token_hash = lower(p_token_hash) WHERE u.name = p_name;
    RETURN FOUND;
END;
$$;

COMMENT ON FUNCTION batchup.user_set_token(text, text) IS
    'Replaces the token hash of user p_name (the old token stops working at once); false when there is no such user.';

CREATE OR REPLACE FUNCTION batchup.set_user_limit(p_name text, n integer) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF n IS NULL OR n < 0 THEN
        RAISE EXCEPTION 'a slot limit is a number >= 0 (0 = server default), not %', coalesce(n::text, 'NULL')
            USING ERRCODE = 'BU400';
    END IF;
    UPDATE batchup.users u SET slot_limit = n WHERE u.name = p_name;
    RETURN FOUND;
END;
$$;

COMMENT ON FUNCTION batchup.set_user_limit(text, integer) IS
    'For administrators: sets how many files user p_name may upload at once (0 = server default). Slots already held are kept; new ones obey the new limit. False when there is no such user.';

-- Every authenticated request runs this, so it is PL/pgSQL, not SQL: a SQL
-- function is inlined into its caller's query and planned again at every
-- call, while PL/pgSQL keeps its plan for the session.  Measured with
-- pgbench on one connection: 0.12 to 0.13 ms a call, against 0.15 to 0.16
-- as SQL (SELECT 1 takes 0.09 to 0.10).
CREATE OR REPLACE FUNCTION batchup.authenticate(p_token_hash text) RETURNS TABLE (user_id integer, user_name text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY SELECT u.id, u.name FROM batchup.users u WHERE u.token_hash = lower(p_token_hash);
END;
$$;

COMMENT ON FUNCTION batchup.authenticate(text) IS
    'The user whose API token hashes to p_token_hash (hex SHA-256), or no row.';

-- p_create arrived with remote_user_create (sql/006_security.sql's time):
-- the one-argument form created every name it saw.
DROP FUNCTION IF EXISTS batchup.user_for_remote(text);

CREATE OR REPLACE FUNCTION batchup.user_for_remote(p_name text, p_create boolean) RETURNS integer
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_id integer;
BEGIN
    SELECT u.id INTO v_id FROM batchup.users u WHERE u.name = p_name;
    IF FOUND OR NOT coalesce(p_create, false) THEN
        RETURN v_id;
    END IF;
    -- Two workers may see the same new name at once: the loser of the
    -- insert waits for the winner's commit, inserts nothing, and reads it.
    INSERT INTO batchup.users (name) VALUES (p_name) ON CONFLICT (name) DO NOTHING RETURNING id INTO v_id;
    IF v_id IS NULL THEN
        SELECT u.id INTO v_id FROM batchup.users u WHERE u.name = p_name;
    END IF;
    RETURN v_id;
END;
$$;

COMMENT ON FUNCTION batchup.user_for_remote(text, boolean) IS
    'The id of the user named p_name (the web server''s REMOTE_USER); NULL when there is none, unless p_create, which creates it with the server default limit and no token. Safe when several workers see a new name at once.';
