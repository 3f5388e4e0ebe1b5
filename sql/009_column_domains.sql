-- SPDX-License-Identifier: BSD-2-Clause
-- 009_column_domains.sql: the rules on one text column become domains.
--
-- PostgreSQL checks every CHECK constraint of a table at every UPDATE of a
-- row, whether or not the columns it names changed, and reads each one
-- again from its stored form for every statement.  An upload's claim and
-- its completion each update its batchup.files row once, and so paid at
-- each for the regular expressions on the file's name, media type and
-- checksums, and the others, although neither changes them: about a tenth
-- of PostgreSQL's CPU for a small file.  A domain's constraint is checked
-- only where a value is given to a column of that domain: by an INSERT,
-- and by an UPDATE that sets the column.  The rules are the same, as
-- declarative as before; a value that breaks one is still refused with
-- SQLSTATE 23514 (check_violation).  Rules that tie columns together, and
-- the cheap ones on numbers and statuses, stay CHECK constraints of their
-- tables.  Clients see no change: PostgreSQL describes a column of a domain
-- by the domain's base type, text.
--
-- A column's type can change only when nothing depends on it: the views
-- and SQL-bodied functions of sql/functions/ that read these columns are
-- dropped here, and `batchup migrate` creates them again from
-- sql/functions/ in the same transaction (this migration forgets the
-- recorded definitions, so they are applied again whatever they are).
-- Anything else that depends on these columns (an administrator's own
-- view, say) makes the migration fail, naming it, and nothing changes.
--
-- Without rewriting the tables: each column first becomes a domain with no
-- constraint, a change PostgreSQL makes in the catalog alone; the domain
-- then gets its constraint, which PostgreSQL validates by reading the
-- table once.

CREATE DOMAIN batchup.file_name AS text;
CREATE DOMAIN batchup.media_type AS text;
CREATE DOMAIN batchup.sha256_hex AS text;
CREATE DOMAIN batchup.writer_name AS text;
CREATE DOMAIN batchup.release_request AS text;
CREATE DOMAIN batchup.link_token AS text;

-- What depends on the columns, and what depends on that, deepest first:
-- views (through their rewrite rules) and functions, none outside schema
-- batchup.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN
        WITH RECURSIVE
        -- Who depends on what, as (kind, oid) pairs: a view through the
        -- rewrite rule that defines it, a function itself.
        dep AS (
            SELECT d.refclassid, d.refobjid, d.refobjsubid, x.kind, x.oid
              FROM pg_depend d
             CROSS JOIN LATERAL (
                   SELECT CASE d.classid WHEN 'pg_rewrite'::regclass THEN 'view' ELSE 'function' END AS kind,
                          CASE d.classid WHEN 'pg_rewrite'::regclass
                               THEN (SELECT w.ev_class FROM pg_rewrite w WHERE w.oid = d.objid)
                               ELSE d.objid END AS oid) x
             WHERE d.classid IN ('pg_rewrite'::regclass, 'pg_proc'::regclass) AND d.deptype = 'n'
        ),
        node(kind, oid, depth) AS (
            SELECT dep.kind, dep.oid, 1
              FROM dep
              JOIN pg_attribute a ON a.attrelid = dep.refobjid AND a.attnum = dep.refobjsubid
             WHERE dep.refclassid = 'pg_class'::regclass
               AND ((a.attrelid = 'batchup.files'::regclass
                     AND a.attname IN ('name', 'media_type', 'expected_sha256', 'sha256', 'writer',
                                       'release_requested'))
                    OR (a.attrelid = 'batchup.batches'::regclass AND a.attname = 'download_token'))
            UNION
            SELECT dep.kind, dep.oid, n.depth + 1
              FROM node n
              JOIN dep ON dep.refobjid = n.oid
                      AND dep.refclassid = CASE n.kind WHEN 'view' THEN 'pg_class'::regclass
                                                       ELSE 'pg_proc'::regclass END
             -- (a view's rule refers to the view itself)
             WHERE NOT (dep.kind = n.kind AND dep.oid = n.oid) AND n.depth < 50
        )
        SELECT n.kind,
               CASE n.kind WHEN 'view' THEN n.oid::regclass::text ELSE n.oid::regprocedure::text END AS what,
               CASE n.kind WHEN 'view' THEN (SELECT c.relnamespace FROM pg_class c WHERE c.oid = n.oid)
                    ELSE (SELECT p.pronamespace FROM pg_proc p WHERE p.oid = n.oid)
               END = 'batchup'::regnamespace AS ours
          FROM node n
         GROUP BY n.kind, n.oid
         ORDER BY max(n.depth) DESC, 2
    LOOP
        IF NOT r.ours THEN
            RAISE EXCEPTION 'migration 009 changes the types of columns of batchup.files and batchup.batches, and % % depends on them', r.kind, r.what
                USING HINT = 'Drop it, run batchup migrate, then create it again.';
        END IF;
        EXECUTE format('DROP %s %s', r.kind, r.what);
    END LOOP;
END;
$$;

ALTER TABLE batchup.files
    DROP CONSTRAINT files_name_check,
    DROP CONSTRAINT files_media_type_check,
    DROP CONSTRAINT files_expected_sha256_check,
    DROP CONSTRAINT files_sha256_check,
    DROP CONSTRAINT files_writer_check,
    DROP CONSTRAINT files_release_requested_check,
    ALTER COLUMN name TYPE batchup.file_name,
    ALTER COLUMN media_type TYPE batchup.media_type,
    ALTER COLUMN expected_sha256 TYPE batchup.sha256_hex,
    ALTER COLUMN sha256 TYPE batchup.sha256_hex,
    ALTER COLUMN writer TYPE batchup.writer_name,
    ALTER COLUMN release_requested TYPE batchup.release_request;
ALTER TABLE batchup.batches
    DROP CONSTRAINT batches_download_token_check,
    ALTER COLUMN download_token TYPE batchup.link_token;

ALTER DOMAIN batchup.file_name ADD CONSTRAINT file_name_check
    CHECK (char_length(VALUE) BETWEEN 1 AND 1024 AND VALUE !~ '[[:cntrl:]]');
ALTER DOMAIN batchup.media_type ADD CONSTRAINT media_type_check
    CHECK (char_length(VALUE) <= 255 AND VALUE !~ '[[:cntrl:]]');
ALTER DOMAIN batchup.sha256_hex ADD CONSTRAINT sha256_hex_check CHECK (VALUE ~ '^[0-9a-f]{64}$');
ALTER DOMAIN batchup.writer_name ADD CONSTRAINT writer_name_check CHECK (char_length(VALUE) BETWEEN 1 AND 200);
ALTER DOMAIN batchup.release_request ADD CONSTRAINT release_request_check
    CHECK (VALUE IN ('if_quiet', 'now'));
ALTER DOMAIN batchup.link_token ADD CONSTRAINT link_token_check CHECK (VALUE ~ '^[A-Za-z0-9_-]{22,}$');

COMMENT ON DOMAIN batchup.file_name IS
    'A file''s name: 1 to 1024 characters, no control characters.';
COMMENT ON DOMAIN batchup.media_type IS
    'A file''s media type as the client gave it: at most 255 characters, no control characters.';
COMMENT ON DOMAIN batchup.sha256_hex IS
    'A SHA-256 in lower-case hex (64 digits).';
COMMENT ON DOMAIN batchup.writer_name IS
    'The request that holds an upload''s writer lock (files.writer): 1 to 200 characters.';
COMMENT ON DOMAIN batchup.release_request IS
    'What a newer request asked an upload''s writer: if_quiet or now.';
COMMENT ON DOMAIN batchup.link_token IS
    'A download link''s capability: at least 22 characters of URL-safe base64.';

-- The definitions dropped above come back from sql/functions/.
DELETE FROM batchup.schema_functions;
