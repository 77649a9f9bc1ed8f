-- How many times a revise reopened a run: the scope of finalize's idempotency (`@gen{N}`). An
-- amending finalize bumps the run's generation too, but a retry of it must replay, so the scope
-- counts only the reopens that start new work.
ALTER TABLE run_sessions ADD COLUMN revise_reopens BIGINT NOT NULL DEFAULT 0;

-- Image-output runs: the images a record keeps (a JSON array of {mimeType, blobKey}, every turn's,
-- in turn order), and the blobs a rewind or a delete dropped, for the cleanup worker to delete
-- once nothing refers to them.
ALTER TABLE records ADD COLUMN images TEXT NOT NULL DEFAULT '[]';

CREATE TABLE blob_cleanup_queue (
    blob_key TEXT PRIMARY KEY,
    enqueued_at BIGINT NOT NULL
);
