-- SPDX-License-Identifier: BSD-2-Clause
-- The floor: the smallest write transaction, one round trip (the "\;"
-- sends both statements in one query, which runs as one transaction):
-- insert one row into a scratch table and delete it again.
INSERT INTO bench_scratch (client) VALUES (:client_id) \; DELETE FROM bench_scratch WHERE client = :client_id;
