-- SPDX-License-Identifier: BSD-2-Clause
-- 016_store_hosts.sql: the hosts that share storage_dir, so that each can
-- check at start that it sees the same store as the others.
--
-- Several hosts on one database must share one storage_dir: a PATCH
-- resumes on whichever host gets it, from the bytes the last one stored.
-- A host whose storage_dir is a private disk (a mount that failed, a path
-- mistyped) would accept uploads the others cannot continue.  So each
-- `batchup serve` writes a fresh random nonce into
-- storage_dir/.batchup-hosts/<host> and, once it has read back the files
-- of the other hosts registered here and found their nonces, records its
-- own in this table; a host that finds another's nonce missing or
-- different in its storage_dir refuses to start (app/storecheck.c).  The
-- maintenance pass renews a running host's row (seen_at), and rows not
-- renewed for a day are forgotten: a host removed for good ages out.

CREATE TABLE batchup.store_hosts (
    host        text PRIMARY KEY CHECK (host ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$'),
    nonce       text NOT NULL CHECK (nonce ~ '^[0-9a-f]{32}$'),
    storage_dir text NOT NULL CHECK (char_length(storage_dir) BETWEEN 1 AND 4096),
    seen_at     timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE batchup.store_hosts IS
    'The hosts running batchup serve on this database (by host name), the nonce each wrote into storage_dir/.batchup-hosts/<host> at its start, its storage_dir path, and when it was last seen (start, then every maintenance pass). A starting host reads the other hosts'' nonce files back and refuses to start when one is missing or different: its storage_dir is not theirs.';
