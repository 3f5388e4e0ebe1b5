-- 004_crc32.sql: each completed file's CRC-32, recorded at upload.
--
-- The batch ZIP needs every entry's CRC-32.  Computing it while the upload
-- streams costs little (the SHA-256 is computed there already); computing
-- it at download time costs a pass over every byte of every download, and
-- keeps the worker from handing file bytes to the socket with sendfile(2).
-- Files completed before this migration have no CRC (NULL): the ZIP then
-- computes it as it streams, as before.

ALTER TABLE batchup.files
    ADD COLUMN crc32 bigint CHECK (crc32 BETWEEN 0 AND 4294967295),
    ADD CONSTRAINT files_crc32_completed CHECK (crc32 IS NULL OR status = 'completed');

COMMENT ON COLUMN batchup.files.crc32 IS
    'CRC-32 (ZIP''s) of the stored bytes, recorded with the completion; NULL for files completed before it was recorded. The ZIP stream uses it instead of reading the bytes to compute it.';

-- complete_file, also recording the CRC-32: one round trip, one transaction.
CREATE FUNCTION batchup.complete_file(p_file uuid, p_sha256 text, p_crc32 bigint,
                                      p_link_ttl_seconds integer)
RETURNS TABLE (batch_id uuid, batch_complete boolean, download_token text, file_status text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    r record;
BEGIN
    IF p_crc32 IS NULL OR p_crc32 < 0 OR p_crc32 > 4294967295 THEN
        RAISE EXCEPTION 'crc32 must be between 0 and 4294967295' USING ERRCODE = 'BU400';
    END IF;
    SELECT * INTO r FROM batchup.complete_file(p_file, p_sha256, p_link_ttl_seconds) c;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    -- Only the transition made here records the CRC; a retried completion
    -- of a completed file keeps the one it has.
    IF r.file_status = 'completed' THEN
        UPDATE batchup.files f SET crc32 = p_crc32 WHERE f.id = p_file AND f.crc32 IS NULL;
    END IF;
    RETURN QUERY SELECT r.batch_id, r.batch_complete, r.download_token, r.file_status;
END;
$$;

COMMENT ON FUNCTION batchup.complete_file(uuid, text, bigint, integer) IS
    'complete_file(p_file, p_sha256, p_link_ttl_seconds), also recording the file''s CRC-32 (BU400 when out of range). Same result.';
