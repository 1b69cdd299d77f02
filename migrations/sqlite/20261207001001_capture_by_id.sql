-- Captured rows by service in id order: trimming a service to its cap ("all but the newest
-- `max_rows`"), the newest-first listing and export/replay pages walk this index instead of
-- sorting every row of the service by id (a trim sorted up to the whole service's rows).
CREATE INDEX capture_rows_by_id ON capture_rows (service, id);

-- No query looks captured rows up by request id alone; the unique (service, request_id)
-- index serves the request-id lookups (and the feedback join). One index less to maintain
-- per captured row.
DROP INDEX capture_rows_by_request;
